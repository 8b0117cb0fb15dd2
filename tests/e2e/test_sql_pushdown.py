"""An SQL model's WHERE reaches the scan of its table (issue 10 §4's "filters pushed into the
scan", for SQL models): the conjuncts our filter reads the way DuckDB does skip row groups by
their statistics and rows exactly, and whatever is not certain to agree is left to DuckDB. The
answers are checked against pyarrow on the same data, pushed down or not."""

import datetime
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

ROWS = 1_600_000  # 13 row groups as the table is written (128 Ki rows each)
START = datetime.datetime(2024, 1, 1)


def events():
    rng = np.random.default_rng(3)
    minutes = np.sort(rng.integers(0, 60 * 24 * 31, ROWS))
    return pa.table(
        {
            "EventTime": pa.array(np.datetime64(START, "us") + minutes.astype("timedelta64[m]")),
            "Kind": pa.array(np.array(["a", "b", "c", "d"])[rng.integers(0, 4, ROWS)]),
            "amount": rng.random(ROWS) * 100,
            "ratio32": pa.array((rng.random(ROWS)).astype(np.float32)),
            "n": pa.array(rng.integers(0, 1000, ROWS)),
        }
    )


@pytest.fixture
def events_lake(sluice, tmp_path):
    sluice("checkout", "-b", "dev")
    path = tmp_path / "events.parquet"
    pq.write_table(events(), path)
    sluice.load("events", path)
    return sluice


def run_sql(lake, make_project, sql):
    project = make_project({"picked.sql": "-- bauplan: materialization_strategy=REPLACE\n" + sql})
    proc = lake("-O", "json", "run", "-p", project)
    (model,) = json.loads(proc.stdout)["models"]
    (scan,) = model["scans"]
    (row,) = lake.query("SELECT * FROM picked", "dev")
    return scan, row


def test_a_time_window_reads_only_its_row_groups(events_lake, make_project):
    scan, row = run_sql(
        events_lake,
        make_project,
        "SELECT count(*) AS n, sum(amount) AS s FROM events "
        "WHERE EventTime >= TIMESTAMP '2024-01-15' AND EventTime < TIMESTAMP '2024-01-16' "
        "AND Kind IN ('a', 'b')",
    )
    t = events()
    mask = pc.and_(
        pc.and_(
            pc.greater_equal(t["EventTime"], pa.scalar(datetime.datetime(2024, 1, 15), pa.timestamp("us"))),
            pc.less(t["EventTime"], pa.scalar(datetime.datetime(2024, 1, 16), pa.timestamp("us"))),
        ),
        pc.is_in(t["Kind"], pa.array(["a", "b"])),
    )
    picked = t.filter(mask)
    assert int(row["n"]) == picked.num_rows > 0
    assert float(row["s"]) == pytest.approx(pc.sum(picked["amount"]).as_py())
    # One day of 31, in time order: a row group or two of 13.
    assert scan["row_groups_total"] == 13
    assert scan["row_groups_read"] <= 2


@pytest.mark.parametrize(
    "where",
    [
        # The table is read again in a subquery: the scan must give it all.
        "n > 500 AND amount > (SELECT avg(amount) FROM events)",
        # OR, a function, a float32 column against a double literal: DuckDB alone decides.
        "n > 990 OR amount < 0.5",
        "lower(Kind) = 'a' AND abs(n - 500) < 3",
        "ratio32 > 0.1 AND ratio32 < 0.1000001",
    ],
)
def test_what_cannot_be_pushed_down_is_left_to_duckdb(events_lake, make_project, where):
    scan, row = run_sql(
        events_lake, make_project, f"SELECT count(*) AS n, sum(n) AS s FROM events WHERE {where}"
    )
    import duckdb

    con = duckdb.connect()
    con.register("events", events())
    n, s = con.sql(f"SELECT count(*), sum(n) FROM events WHERE {where}").fetchone()
    assert (int(row["n"]), int(row["s"] or 0)) == (n, s or 0)
    if "OR" in where or "lower" in where:
        assert scan["row_groups_read"] == scan["row_groups_total"]
