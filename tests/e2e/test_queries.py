"""`sluice query` over tables shaped by the other features: a partitioned table of more data
files than one message of descriptors holds, and a table whose later appends added a column.
DuckDB reads a local table's own files in place (the column cache stays empty), and the
answers equal what pyarrow computes from the source data."""

import datetime
import json

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def trips(days, zones):
    start = datetime.datetime(2024, 1, 1)
    rows = [
        (start + datetime.timedelta(days=d, hours=1), 100 + z, float(d + z))
        for d in range(days)
        for z in range(zones)
    ]
    return pa.table(
        {
            "tpep_pickup_datetime": pa.array([r[0] for r in rows], pa.timestamp("us")),
            "PULocationID": pa.array([r[1] for r in rows], pa.int64()),
            "fare_amount": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def test_a_table_of_hundreds_of_files_is_read_in_place(sluice, tmp_path):
    data = trips(days=30, zones=10)  # 300 partitions: more descriptors than one message holds
    path = tmp_path / "taxi.parquet"
    pq.write_table(data, path)
    sluice("checkout", "-b", "dev")
    sluice(
        "table",
        "create",
        "taxi",
        "--search-uri",
        path,
        "--partitioned-by",
        "day(tpep_pickup_datetime), PULocationID",
    )
    sluice("table", "import", "taxi", "--search-uri", path)
    assert sluice.json("table", "get", "taxi")["data_files"] == 300
    sql = "SELECT count(*) AS n, sum(fare_amount) AS total, count(DISTINCT PULocationID) AS zones FROM taxi"
    (row,) = sluice.json("query", sql, "--ref", "dev")
    assert row == {"n": 300, "total": pc.sum(data["fare_amount"]).as_py(), "zones": 10}
    # Read in place, not scanned into shared memory through the column cache.
    assert sluice.json("cache", "ls", "--columns")["entries"] == 0


def test_columns_older_files_lack_read_as_nulls(sluice, make_project, tmp_path):
    path = tmp_path / "taxi.parquet"
    pq.write_table(trips(days=2, zones=2), path)
    sluice("checkout", "-b", "dev")
    sluice("table", "create", "taxi", "--search-uri", path)
    sluice("table", "import", "taxi", "--search-uri", path)
    project = make_project(
        {
            "tips.py": "import bauplan\n\n"
            "@bauplan.model(name='taxi', materialization_strategy='APPEND')\n"
            "def tips():\n"
            "    import datetime\n"
            "    import pyarrow as pa\n"
            "    at = pa.array([datetime.datetime(2024, 2, 1)], pa.timestamp('us'))\n"
            "    return pa.table({'tpep_pickup_datetime': at,\n"
            "                     'PULocationID': [7], 'fare_amount': [1.0], 'tip_amount': [2.5]})\n"
        }
    )
    sluice("run", "-p", project)
    rows = sluice.json(
        "query", "SELECT PULocationID, tip_amount FROM taxi ORDER BY tip_amount NULLS FIRST", "--ref", "dev"
    )
    assert [r["tip_amount"] for r in rows] == [None, None, None, None, 2.5]
    (typed,) = sluice.json("query", "SELECT typeof(tip_amount) AS t FROM taxi LIMIT 1", "--ref", "dev")
    assert typed == {"t": "DOUBLE"}
    assert json.dumps(rows)  # plain JSON, as bauplan's --json prints it
