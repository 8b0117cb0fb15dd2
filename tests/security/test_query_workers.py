"""Hostile queries against the persistent query workers (issue 10 §4): a server runs each
principal's queries one after another in one warm worker and one DuckDB database, so what
one query tries to leave behind (settings, attached databases, tables, views, files, memory)
must be invisible to the next; one API key's query never runs in a worker that served another
key; a worker killed from outside mid-query gives that query one clear error, and the next
query runs in a new worker. Everything through the real binary."""

import subprocess
import time

import pytest
from cli_harness import SLUICE, Sluice, alive, wait_for

import bauplan


def value(client, sql, ref="dev"):
    return client.query(sql, ref=ref).column(0).to_pylist()[0]


def warm(client):
    """Once the server's DuckDB zygote serves (the first queries get a worker of their own
    while it warms), the client's queries go to its persistent worker: one database, whose
    transaction ids go on from one query to the next. The last id."""

    def ids():
        first = value(client, "SELECT txid_current()")
        second = value(client, "SELECT txid_current()")
        return second if second > first else None

    return wait_for(ids, timeout=60)


def test_a_query_leaves_nothing_for_the_next(lake):
    with lake.serving() as url:
        client = bauplan.Client(endpoint=url)
        # The checks below are about a database that really is kept.
        first = warm(client)
        settings = client.query(
            "SELECT name, value FROM duckdb_settings() WHERE name NOT IN ('profiling_output')",
            ref="dev",
        ).to_pylist()
        # Statements that would change the database are refused before anything runs.
        for sql in (
            "SET threads = 1",
            "SET GLOBAL memory_limit = '1MB'",
            "RESET enable_external_access",
            "ATTACH ':memory:' AS leak",
            "CREATE TABLE leak AS SELECT 1 AS x",
            "CREATE TEMP TABLE leak AS SELECT 1 AS x",
            "CREATE VIEW taxi_zones AS SELECT 1 AS x",
            "CREATE SCHEMA bauplan",
            "CREATE MACRO taxi_zones() AS TABLE SELECT 1 AS x",
            "CREATE SECRET s (TYPE s3, KEY_ID 'k', SECRET 's')",
            "SET VARIABLE leak = 1",
            "PREPARE leak AS SELECT 1",
            "LOAD httpfs",
            "SELECT 1; SET threads = 1",
        ):
            with pytest.raises(bauplan.exceptions.BauplanError):
                client.query(sql, ref="dev")
        # A query naming a table by namespace makes that schema for itself; it goes with it.
        assert value(client, "SELECT count(*) FROM bauplan.taxi_zones") == 12
        # A sort that holds a few hundred MB while it runs.
        sort = "SELECT max(i) FROM (SELECT i FROM range(20000000) r(i) ORDER BY random())"
        assert value(client, sort) == 19999999
        # Nothing of any of it is left.
        assert (
            client.query(
                "SELECT name, value FROM duckdb_settings() WHERE name NOT IN ('profiling_output')",
                ref="dev",
            ).to_pylist()
            == settings
        )
        assert value(client, "SELECT count(*) FROM duckdb_databases() WHERE NOT internal") == 1
        assert value(client, "SELECT count(*) FROM duckdb_schemas() WHERE NOT internal") == 0
        assert value(client, "SELECT count(*) FROM duckdb_tables()") == 0
        assert value(client, "SELECT count(*) FROM duckdb_views() WHERE NOT internal") == 0
        assert value(client, "SELECT count(*) FROM duckdb_functions() WHERE NOT internal") == 0
        assert value(client, "SELECT count(*) FROM duckdb_secrets()") == 0
        assert value(client, "SELECT count(*) FROM duckdb_temporary_files()") == 0
        with pytest.raises(bauplan.exceptions.BauplanError):
            client.query("SELECT count(*) FROM query('SELECT * FROM bauplan.taxi_zones')", ref="dev")
        with pytest.raises(bauplan.exceptions.BauplanError):
            client.query("SELECT count(*) FROM __sluice_input_0", ref="dev")
        # Memory the sort held is given back to the buffer pool.
        assert value(client, "SELECT sum(memory_usage_bytes) FROM duckdb_memory()") < 64 << 20
        # The files a query was handed are readable by that query only, though the worker
        # keeps them open for the next queries' caches: the one directory DuckDB may read
        # holds exactly the current query's files.
        links = value(client, "SELECT current_setting('allowed_directories')[1]")
        assert value(client, f"SELECT count(*) FROM taxi_zones, glob('{links}*')") == 12
        assert value(client, f"SELECT count(*) FROM glob('{links}*')") == 0
        assert value(client, "SELECT count(*) FROM taxi_zones") == 12
        assert value(client, "SELECT txid_current()") > first  # still the same database


@pytest.fixture
def two_keys(tmp_path, lake):
    keys = [lake("key", "create", "--user", user, "--role", "reader") for user in ("ann", "bob")]
    return lake, [key.stdout.strip() for key in keys]


def test_one_keys_query_never_runs_in_another_keys_worker(two_keys):
    lake, (ann_key, bob_key) = two_keys
    with lake.serving() as url:
        ann = bauplan.Client(endpoint=url, api_key=ann_key)
        bob = bauplan.Client(endpoint=url, api_key=bob_key)
        # Each database counts its own transactions: a query that ran in the other key's
        # database would see that one's count, past everything it has done.
        warm(ann)
        ann_ids = [value(ann, "SELECT txid_current()") for _ in range(6)]
        bob_ids = [value(bob, "SELECT txid_current()") for _ in range(3)]
        ann_ids += [value(ann, "SELECT txid_current()") for _ in range(2)]
        bob_ids += [value(bob, "SELECT txid_current()") for _ in range(2)]
        assert ann_ids == sorted(set(ann_ids)) and bob_ids == sorted(set(bob_ids))
        assert bob_ids[-1] < ann_ids[5] < ann_ids[6]
        # Each key reads its tables through its own worker.
        assert value(bob, "SELECT count(*) FROM taxi_zones") == 12
        links = value(ann, "SELECT current_setting('allowed_directories')[1]")
        assert value(ann, f"SELECT count(*) FROM glob('{links}*')") == 0


def query_workers(home):
    return home.server_status().get("query_workers", [])


def test_a_worker_killed_mid_query_fails_that_query_only(lake):
    # The background server: the first queries may get a worker of their own while the DuckDB
    # zygote warms; then the owner's persistent worker serves them.
    workers = wait_for(lambda: lake("query", "SELECT 1") and query_workers(lake), timeout=60)
    assert len(workers) == 1
    (worker,) = workers
    slow = subprocess.Popen(
        [str(SLUICE), "query", "SELECT sum(i) FROM range(1000000000000) r(i)", "--ref", "dev"],
        env=lake.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: lake.server_status()["queries_in_flight"] == 1)
        time.sleep(1)  # DuckDB is summing by now
        assert slow.poll() is None
        # The worker is busy: another query of the same owner runs in a worker of its own.
        assert "42" in lake("query", "SELECT 42 AS answer").stdout
        subprocess.run(["kill", "-KILL", str(worker)], check=True)
        out, err = slow.communicate(timeout=60)
    finally:
        if slow.poll() is None:
            slow.kill()
    assert slow.returncode != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2, err
    assert "query worker was killed by signal 9" in err, err
    wait_for(lambda: not alive(worker))
    # The next query works, in a new worker.
    assert "(12 rows)" in lake("query", "SELECT * FROM taxi_zones", "--all-rows").stdout
    (replacement,) = query_workers(lake)
    assert replacement != worker
    assert "(1 row)" in lake("query", "SELECT 1").stdout
    assert query_workers(lake) == [replacement]


def test_a_query_worker_dies_with_its_server(tmp_path):
    home = Sluice(tmp_path / "home")
    home("checkout", "-b", "dev")
    try:
        workers = wait_for(lambda: home("query", "SELECT 1") and query_workers(home), timeout=60)
        home.stop_server()
        wait_for(lambda: not any(alive(pid) for pid in workers))
    finally:
        home.stop_server()
        home.remove_shared_memory()
