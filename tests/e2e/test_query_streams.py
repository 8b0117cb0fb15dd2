"""Queries over tables DuckDB cannot read in place (an S3 warehouse, external tables) stream
(issue 10 §4): the engine scans them row group by row group and writes an Arrow IPC stream into
a socket that the query worker's DuckDB reads as the batches come, instead of scanning the
whole table into shared memory first. A table the SQL reads more than once (a self-join, a CTE
used twice, a subquery) cannot be a stream, which is read once: it is scanned whole, as before.
Results must equal those of a local warehouse (read in place), a query stopped by its time
limit mid-stream leaves no writer thread and no shared memory, and an S3 server that goes away
mid-query gives one clear error naming the table. Through the real binary; the S3 tests need
the test server (make test starts it)."""

import pathlib
import time
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
from cli_harness import wait_for
from s3_harness import s3_server, taxi_rows
from test_s3_warehouse import own_gateway_warehouse

ZONES = pa.table(
    {
        "LocationID": pa.array(range(1, 264), pa.int32()),
        "Borough": pa.array([["Bronx", "Brooklyn", "Manhattan", "Queens"][i % 4] for i in range(263)]),
    }
)

# Each is run on both warehouses; their answers must be equal (ORDER BY everywhere: a stream
# and a local read need not give rows in the same order otherwise).
QUERIES = {
    "filter": "SELECT trip_id, trip_miles FROM trips WHERE trip_miles >= 9.5 AND PULocationID < 20 "
    "ORDER BY trip_id",
    "aggregate": "SELECT count(*) AS n, sum(trip_miles) AS miles, min(tpep_pickup_datetime) AS first, "
    "max(trip_id) AS last FROM trips",
    "top_k": "SELECT trip_id, trip_miles FROM trips ORDER BY trip_miles DESC, trip_id LIMIT 7",
    # A user writes a mixed-case column as it comes: in another case, unquoted.
    "mixed_case": "SELECT pulocationid, count(*) AS n FROM trips GROUP BY pulocationid "
    "ORDER BY n DESC, 1 LIMIT 5",
    "join": "SELECT z.Borough, count(*) AS n, round(sum(t.trip_miles), 2) AS miles FROM trips t "
    "JOIN zones z ON t.PULocationID = z.LocationID GROUP BY ALL ORDER BY 1",
    # Read twice: scanned whole, never a stream read twice (which would see no rows).
    "self_join": "SELECT count(*) AS n FROM trips a JOIN trips b ON a.trip_id = b.trip_id + 1",
    "cte_twice": "WITH t AS (SELECT trip_id % 10 AS k, trip_miles FROM trips) "
    "SELECT a.k, count(*) AS n FROM t a JOIN (SELECT DISTINCT k FROM t) b USING (k) GROUP BY 1 ORDER BY 1",
    "subquery": "SELECT count(*) AS n FROM trips WHERE trip_miles > (SELECT avg(trip_miles) FROM trips)",
    "cte_once": "WITH far AS (SELECT * FROM trips WHERE trip_miles > 9) SELECT count(*) AS n FROM far",
}


def load(home, table, data, tmp_path):
    path = tmp_path / f"{table}-{uuid.uuid4().hex[:6]}.parquet"
    pq.write_table(data, path)
    home.load(table, path)


def server_threads(home, name="sluice-stream"):
    """The data home's background server's threads called `name` (the query stream writers)."""
    pid = home.server_status()["pid"]
    found = []
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            if (task / "comm").read_text().strip() == name:
                found.append(task.name)
        except FileNotFoundError:
            continue
    return found


def shared_objects(home):
    """Live objects under the data home's shared memory (not the zygotes' sockets nor the
    arena, where released objects are recycled)."""
    root = pathlib.Path(home.json("info")["shared_memory"])
    files = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
    return {str(p) for p in files if p.parts[0] not in ("zygotes", "arena")}


def test_s3_tables_stream_and_answer_as_a_local_warehouse(sluice, tmp_path):
    s3 = s3_server()
    local = sluice
    remote = type(sluice)(tmp_path / "s3-home")
    remote.env.update(s3.env(SLUICE_WAREHOUSE=f"s3://{s3.bucket}/stream-{uuid.uuid4().hex[:8]}"))
    try:
        compare_warehouses(local, remote, tmp_path)
    finally:
        remote.stop_server()
        remote.remove_shared_memory()


def compare_warehouses(local, remote, tmp_path):
    trips = taxi_rows(300_000)  # three row groups of the warehouse's files
    for home in (local, remote):
        home("checkout", "-b", "dev")
        load(home, "trips", trips, tmp_path)
        load(home, "zones", ZONES, tmp_path)
    for name, sql in QUERIES.items():
        expected = local.query(sql, "dev")
        assert expected, name
        # Twice: cold, then through the column cache and the warm query worker.
        for _ in range(2):
            assert remote.query(sql, "dev") == expected, name
    assert local.query(QUERIES["aggregate"], "dev")[0]["n"] == 300_000
    # A short answer stops reading the stream early; the next query is whole.
    out = remote("query", "SELECT trip_id FROM trips", "--ref", "dev", "--max-rows", "3").stdout
    assert "(showing 3 of 300000 rows)" in out, out
    assert remote.query("SELECT count(*) AS n FROM trips", "dev") == [{"n": 300_000}]
    assert server_threads(remote) == []


def slow_table(home, tmp_path, rows=2_000_000):
    """An external table over a local Parquet file: not ours, so scanned by the engine (never
    read in place), many row groups of it."""
    path = tmp_path / "slow.parquet"
    pq.write_table(taxi_rows(rows), path, row_group_size=64 * 1024)
    home("table", "create-external", "slow", "--search-pattern", path)


def slow_sql(bytes_a_row):
    """A query that costs DuckDB about `bytes_a_row` / 400 µs a row (here): it reads its stream far
    slower than the engine scans it, so the engine's writer waits on a full socket."""
    # Every column, so that the stream is much larger than what the socket and the scan's
    # read-ahead hold.
    return (
        f"SELECT sum(length(repeat('x', {bytes_a_row} + (trip_id % 7)::INT)) + trip_miles + VendorID "
        "+ PULocationID + epoch(tpep_pickup_datetime)) AS n FROM slow"
    )


def test_a_query_stopped_by_its_time_limit_mid_stream_leaves_nothing(sluice, tmp_path):
    sluice("checkout", "-b", "dev")
    slow_table(sluice, tmp_path)
    sluice.stop_server()
    sluice.env["SLUICE_QUERY_TIMEOUT_SECONDS"] = "4"
    assert "(1 row)" in sluice("query", "SELECT 1").stdout  # the server runs with the limit
    before = shared_objects(sluice)
    started = time.monotonic()
    proc = sluice.start_query(slow_sql(200_000), "--ref", "dev")
    try:
        # Streamed: a writer thread in the server while it runs, and nothing of the table in
        # shared memory.
        wait_for(lambda: server_threads(sluice), timeout=30)
        assert shared_objects(sluice) == before
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    took = time.monotonic() - started
    assert proc.returncode != 0, out
    assert "the query ran past its time limit of 4 s" in err, err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
    assert took < 60, took
    # The writer's thread is gone with the query, and so is everything it was given.
    assert server_threads(sluice) == []
    assert shared_objects(sluice) == before
    assert sluice.server_status()["queries_in_flight"] == 0
    # The server goes on serving the same table.
    assert sluice.query("SELECT count(*) AS n FROM slow", "dev") == [{"n": 2_000_000}]


def test_a_table_read_twice_is_scanned_whole_not_streamed(sluice, tmp_path):
    """The engine hands a stream only for a table the SQL reads once: a stream read twice
    would be empty the second time, and the answer silently wrong."""
    import duckdb

    sluice("checkout", "-b", "dev")
    path = tmp_path / "t.parquet"
    pq.write_table(taxi_rows(50_000), path, row_group_size=8 * 1024)
    sluice("table", "create-external", "trips", "--search-pattern", path)
    con = duckdb.connect()
    con.execute(f"CREATE VIEW trips AS SELECT * FROM read_parquet('{path}')")
    for name in ("self_join", "cte_twice", "subquery", "cte_once", "aggregate"):
        sql = QUERIES[name]
        rel = con.sql(sql)
        expected = [dict(zip(rel.columns, row)) for row in rel.fetchall()]
        got = sluice.query(sql, "dev")
        assert [{k: v for k, v in row.items()} for row in got] == [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()} for row in expected
        ], name
    # "T" and "t" are one view to DuckDB: one table read twice.
    both = "SELECT count(*) AS n FROM TRIPS a JOIN trips b USING (trip_id)"
    assert sluice.query(both, "dev") == [{"n": 50_000}]


def test_an_s3_server_gone_mid_query_gives_one_clear_error(sluice, tmp_path):
    with own_gateway_warehouse(sluice, tmp_path) as gw:
        path = tmp_path / "slow.parquet"
        pq.write_table(taxi_rows(3_000_000), path)
        sluice.load("slow", path)
        assert "(1 row)" in sluice("query", "SELECT 1").stdout  # the server is up
        proc = sluice.start_query(slow_sql(10_000), "--ref", "dev")
        try:
            # As soon as the stream is under way (footers read, DuckDB started): the scan's
            # next row groups cannot be fetched. The stream is far larger than what the scan
            # reads ahead and the socket holds, so there always are next ones.
            wait_for(lambda: server_threads(sluice), timeout=30, interval=0.01)
            gw.kill()
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 1, out
        # The engine's error, naming the table: not the worker's cut stream.
        assert "table 'bauplan.slow' at ref 'dev'" in err, err
        assert "Traceback" not in err and "terminate" not in err, err
        assert "Expected to" not in err and "truncated" not in err.lower(), err
        assert len(err.strip().splitlines()) <= 2, err
        assert server_threads(sluice) == []
        # Back again, the same query over a small part of the table works.
        gw.start()
        n = sluice.query("SELECT count(*) AS n FROM slow WHERE trip_id < 1000", "dev")
        assert n == [{"n": 1000}]


def test_a_query_naming_many_tables_gets_a_bounded_number_of_streams(sluice, tmp_path):
    """Hostile client: each streamed table is a thread, a socket and row groups read ahead in
    the server, so one query naming many tables would take that many. It gets 16 streams at
    most; the other tables are scanned into shared memory, under the memory budget, and the
    answer is the same."""
    sluice("checkout", "-b", "dev")
    path = tmp_path / "one.parquet"
    pq.write_table(taxi_rows(1), path)
    names = [f"t{i}" for i in range(20)]
    for name in names:
        sluice("table", "create-external", name, "--search-pattern", path)
    assert sluice.query(f"SELECT count(*) AS n FROM {', '.join(names)}", "dev") == [{"n": 1}]
    sluice.stop_server()
    sluice.env["SLUICE_QUERY_TIMEOUT_SECONDS"] = "6"
    assert "(1 row)" in sluice("query", "SELECT 1").stdout  # the server runs with the limit
    before = shared_objects(sluice)
    forever = f"SELECT count(*) FROM {', '.join(names)}, range(1000000000000) r(i) WHERE i % 7 = 0"
    proc = sluice.start_query(forever, "--ref", "dev")
    try:
        # While it runs: the 4 tables past the cap are in the server's shared memory.
        wait_for(lambda: len(shared_objects(sluice) - before) == 4, timeout=30)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "the query ran past its time limit of 6 s" in err, err
    assert server_threads(sluice) == []
    assert shared_objects(sluice) == before
