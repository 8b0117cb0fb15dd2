"""What the SQL analysis says a statement scans once (`read_once`): the engine hands only those
tables to a query as a stream, which DuckDB can read once; a table scanned twice from one
stream would look empty the second time (a wrong answer, not an error)."""

import duckdb
import pytest

from sluice import _sql_analysis


@pytest.fixture(scope="module")
def con():
    return duckdb.connect()


@pytest.mark.parametrize(
    "sql, once",
    [
        ("SELECT * FROM t", ["t"]),
        ("SELECT count(*) FROM t JOIN u USING (x)", ["t", "u"]),
        ("SELECT (SELECT max(x) FROM u) FROM t", ["t", "u"]),
        ("WITH c AS (SELECT * FROM t) SELECT * FROM c", ["t"]),
        ("WITH c AS (SELECT * FROM t), d AS (SELECT * FROM c) SELECT * FROM d, u", ["t", "u"]),
        # Two names of two different tables to the engine: each its own stream.
        ("SELECT * FROM t JOIN bauplan.t USING (x)", ["bauplan.t", "t"]),
        # Read twice.
        ("SELECT * FROM t a JOIN t b USING (x)", []),
        ("SELECT * FROM t WHERE x > (SELECT avg(x) FROM t)", []),
        ("SELECT * FROM T JOIN t USING (x)", []),  # one view to DuckDB
        ("WITH c AS (SELECT * FROM t) SELECT * FROM c a, c b", []),
        ("WITH c AS (SELECT * FROM t) SELECT * FROM c WHERE x IN (SELECT x FROM c)", []),
        ("WITH c AS (SELECT * FROM t), d AS (SELECT * FROM c) SELECT * FROM d x, d y", []),
        ("WITH c AS (SELECT * FROM t) SELECT * FROM c, u WHERE u.x IN (SELECT x FROM c)", ["u"]),
        (
            "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r, t WHERE n < 3) "
            "SELECT * FROM r",
            [],
        ),
        # A PIVOT without its IN list reads its source for the values first.
        ("PIVOT t ON a USING sum(b)", []),
    ],
)
def test_read_once(con, sql, once):
    analysis = _sql_analysis.analyze(con, sql)
    assert "error" not in analysis, analysis
    assert analysis["read_once"] == once
