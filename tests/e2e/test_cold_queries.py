"""The cold `sluice query` (issue 10 §4): the CLI starts the data home's background server,
whose first query is answered by a fresh worker (sluice._query_worker: DuckDB, no pyarrow
unless the answer needs it); the DuckDB zygote starts only once that answer is given, and the
queries after it go to the owner's warm persistent worker. A fresh worker prints what a warm
one prints, as a table or as JSON, for the types printed from DuckDB's own rows and for
those printed through Arrow."""

from cli_harness import Sluice, wait_for

QUERIES = [
    # A lake table (read in place), plain types.
    "SELECT * FROM taxi_zones ORDER BY zone_id",
    # Every type printed from DuckDB's rows, NULL too.
    "SELECT 1.5::DECIMAL(10, 2) AS d, 'x'::BLOB AS b, DATE '2024-01-02' AS day, TIME '01:02:03' AS t, "
    "TIMESTAMP '2024-01-02 03:04:05.5' AS ts, 1.1::FLOAT AS f, 2.5 AS x, NULL::INTEGER AS n, true AS yes, "
    "200::UTINYINT AS u, 'é' AS s",
    # Types printed through Arrow.
    "SELECT 1::HUGEINT AS h, INTERVAL 1 DAY AS i, TIMESTAMPTZ '2024-01-01 10:00:00+02' AS tz, "
    "[1, 2] AS l, {'a': 1} AS st, MAP {'k': 1} AS m",
    # Repeated names: every column printed (JSON keeps the last of a name).
    "SELECT 1 AS a, 2 AS a",
    # More rows past --max-rows than are counted from DuckDB's rows: through Arrow.
    "SELECT range AS i FROM range(25000)",
    "SELECT range AS i FROM range(3) WHERE range > 5",
]


def warm_workers(home):
    """The server's query workers, once its DuckDB zygote serves (the queries before get a
    fresh worker each)."""

    def ready():
        return home("query", "SELECT 1").stdout and home.server_status()["query_workers"]

    return wait_for(ready, timeout=90)


def printed(home, sql):
    tty = home("query", sql, "--ref", "dev").stdout
    as_json = home("-O", "json", "query", sql, "--ref", "dev", "--all-rows").stdout
    return tty, as_json


def test_the_first_query_of_a_new_server_answers_then_the_warm_worker_takes_over(lake):
    lake.stop_server()
    first = lake("query", "SELECT count(*) AS zones, max(zone_id) AS last FROM taxi_zones", "--ref", "dev")
    assert first.stdout.splitlines()[2].split() == ["12", "12"], first.stdout
    assert "(1 row)" in first.stdout and first.stderr == ""
    # The zygote started after that answer; once it serves, the owner's worker answers.
    workers = warm_workers(lake)
    assert len(workers) == 1
    assert "(1 row)" in lake("query", "SELECT 1").stdout
    assert lake.server_status()["query_workers"] == workers


def test_a_fresh_query_worker_prints_what_a_warm_one_prints(lake):
    # With zygotes off, the server answers every query with a fresh worker.
    fresh = Sluice(lake.home)
    fresh.env["SLUICE_ZYGOTES"] = "0"
    cold = [printed(fresh, sql) for sql in QUERIES]
    assert not fresh.server_status()["query_workers"]
    fresh.stop_server()
    warm_workers(lake)
    warm = [printed(lake, sql) for sql in QUERIES]
    for sql, a, b in zip(QUERIES, cold, warm):
        assert a == b, sql
    assert "(showing 10 of 25000 rows)" in cold[4][0]
    assert "(0 rows)" in cold[5][0] and cold[5][1].strip() == "[]"
    assert '"d": 1.5' in cold[1][1] and '"b": "78"' in cold[1][1]
    assert cold[3][0].splitlines()[:3] == ["a  a", "-  -", "1  2"]
