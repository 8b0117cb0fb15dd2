"""SQL models and `sluice query` are DuckDB SQL (issue 8 §1): everything DuckDB accepts
plans, input tables are found by DuckDB's own parser (a CTE name is not an input), and column
pushdown never drops a column the query needs.

Each model's result is compared with DuckDB itself running the same statement over the same
pyarrow tables (the oracle), so no expected value is written by hand."""

import datetime
import math

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TITANIC = pa.table(
    {
        "PassengerId": [1, 2, 3, 4, 5, 6, 7],
        "Age": [0.5, 22.0, None, 40.0, 3.0, 61.0, 35.0],
        "Fare": [7.25, 71.28, 8.05, 53.1, 21.07, 30.5, 26.0],
        "Survived": [1, 1, 0, 0, 1, 0, 1],
        "Name": ["Ann", "Bob", "Cy", "Di", "Ed", "Flo", "SELECT"],
    }
)
TAXI = pa.table(
    {
        "PULocationID": [132, 138, 138, 161, 132, 236, 161],
        "DOLocationID": [236, 161, 132, 230, 48, 132, 48],
        "trip_miles": [17.25, 9.5, 11.5, 0.75, 15.75, 2.25, 6.5],
        "tpep_pickup_datetime": [datetime.datetime(2023, 1, 1, h, tzinfo=datetime.UTC) for h in range(7)],
    }
)

PROJECT_YML = """\
project:
  id: 00000000-0000-4000-8000-000000000008
  name: duckdb_sql
parameters:
  min_fare: {type: float, default: 20.0}
"""

# name -> SQL body. Every one materializes, so its result can be read back.
MODELS = {
    "excluded": "SELECT * EXCLUDE (Name, Fare) FROM titanic",
    "replaced": "SELECT * REPLACE (round(Fare) AS Fare) FROM titanic",
    "best_fare": (
        "SELECT PassengerId, Survived FROM titanic\n"
        "QUALIFY row_number() OVER (PARTITION BY Survived ORDER BY Fare DESC) = 1"
    ),
    "locations": "SELECT COLUMNS('.*LocationID') FROM taxi_fhvhv",
    "zone_stats": (
        "SELECT PULocationID, count(*) AS trips, sum(trip_miles) AS miles\nFROM taxi_fhvhv GROUP BY ALL"
    ),
    "from_first": "FROM titanic SELECT PassengerId, Name,",
    "long_trip_zones": (
        "WITH long_trips AS (SELECT * FROM taxi_fhvhv WHERE trip_miles > 5),\n"
        "     zones AS (SELECT DISTINCT PULocationID FROM long_trips)\n"
        "SELECT z.PULocationID, count(*) AS n\n"
        "FROM zones z JOIN long_trips USING (PULocationID)\n"
        "GROUP BY ALL"
    ),
    "running_fare": (
        "SELECT PassengerId, Fare,\n"
        "       sum(Fare) OVER (ORDER BY PassengerId\n"
        "                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,\n"
        "       lag(Fare) OVER w AS previous,\n"
        "FROM titanic\n"
        "WINDOW w AS (ORDER BY PassengerId)"
    ),
    "rich": (
        "SELECT PassengerId, Fare FROM titanic\n"
        "WHERE Fare > $min_fare AND Name <> 'FROM nowhere; DROP TABLE titanic -- SELECT'"
    ),
    "ordered": "SELECT DOLocationID, trip_miles FROM taxi_fhvhv ORDER BY ALL",
    "pivoted": "PIVOT titanic ON Survived USING count(*) AS n GROUP BY Name",
    "unpivoted": (
        "UNPIVOT (SELECT PassengerId, Age, Fare FROM titanic)\nON Age, Fare INTO NAME measure VALUE amount"
    ),
    "literals": "SELECT 'SELECT * FROM secrets' AS s, PassengerId FROM titanic WHERE Name = 'SELECT'",
    "chained": "SELECT count(*) AS zones, sum(trips) AS trips FROM zone_stats",
}


def normalize(table_rows):
    """Rows as sorted tuples of (column, value), floats rounded: engines may sum in any order."""

    def value(v):
        if isinstance(v, float):
            return None if math.isnan(v) else round(v, 6)
        return v

    return sorted((tuple((k, value(v)) for k, v in row.items()) for row in table_rows), key=repr)


def oracle(sql, params=None):
    con = duckdb.connect()
    con.register("titanic", TITANIC)
    con.register("taxi_fhvhv", TAXI)
    for name, value in (params or {}).items():
        sql = sql.replace(f"${name}", repr(value))
    if "zone_stats" in sql and "FROM zone_stats" in sql:
        con.execute(f"CREATE VIEW zone_stats AS {MODELS['zone_stats']}")
    return con.sql(sql).to_arrow_table().to_pylist()


@pytest.fixture
def sql_lake(sluice, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    sluice("checkout", "-b", "dev")
    for name, table in {"titanic": TITANIC, "taxi_fhvhv": TAXI}.items():
        pq.write_table(table, data / f"{name}.parquet")
        sluice("table", "create", name, "--search-uri", data / f"{name}.parquet")
        sluice("table", "import", name, "--search-uri", data / f"{name}.parquet")
    return sluice


def sql_project(make_project, models):
    header = "-- bauplan: materialization_strategy=REPLACE\n"
    files = {f"{name}.sql": f"{header}{sql}\n" for name, sql in models.items()}
    return make_project(files, project_yml=PROJECT_YML)


def test_every_duckdb_construct_plans_and_runs(sql_lake, make_project):
    project = sql_project(make_project, MODELS)
    plan = sql_lake("run", "-p", project, "--dry-run")
    assert plan.returncode == 0
    sql_lake("run", "-p", project)
    tables = sql_lake.tables("dev")
    for name, sql in MODELS.items():
        assert f"bauplan.{name}" in tables, name
        got = sql_lake.query(f"SELECT * FROM {name}", "dev")
        want = oracle(sql, {"min_fare": 20.0})
        assert normalize(got) == normalize(want), name
    # The CTE names were not taken for input tables.
    assert "bauplan.long_trips" not in tables


def test_parameters_are_substituted(sql_lake, make_project):
    project = sql_project(make_project, {"rich": MODELS["rich"]})
    sql_lake("run", "-p", project, "--param", "min_fare=50")
    got = sql_lake.query("SELECT PassengerId FROM rich ORDER BY ALL", "dev")
    assert got == [{"PassengerId": 2}, {"PassengerId": 4}]


@pytest.mark.parametrize(
    "name",
    [
        "zone_stats",
        "best_fare",
        "excluded",
        "pivoted",
        "unpivoted",
        "long_trip_zones",
        "from_first",
        "locations",
    ],
)
def test_query_runs_duckdb_sql(sql_lake, name):
    got = sql_lake.query(MODELS[name], "dev")
    assert normalize(got) == normalize(oracle(MODELS[name]))


def test_a_query_of_no_table_runs(sql_lake):
    assert sql_lake.query("SELECT 1 AS one, 'PassengerId' AS name", "dev") == [
        {"one": 1, "name": "PassengerId"}
    ]
    assert sql_lake.query("FROM range(3) SELECT count(*) AS n", "dev") == [{"n": 3}]


def test_query_keeps_order_by_all(sql_lake):
    got = sql_lake.query("SELECT DOLocationID, trip_miles FROM taxi_fhvhv ORDER BY ALL", "dev")
    assert got == oracle("SELECT DOLocationID, trip_miles FROM taxi_fhvhv ORDER BY ALL")


def test_a_cte_shadowing_a_lake_table_reads_the_table(sql_lake, make_project):
    sql = "WITH titanic AS (SELECT * FROM titanic WHERE Survived = 1) SELECT count(*) AS n FROM titanic"
    project = sql_project(make_project, {"survivors": sql})
    sql_lake("run", "-p", project)
    assert sql_lake.query("SELECT n FROM survivors", "dev") == oracle(sql)


def test_a_syntax_error_names_the_file_and_line(sql_lake, make_project):
    project = make_project(
        {
            "fine.sql": "SELECT * EXCLUDE (Name) FROM titanic\n",
            "broken.sql": (
                "-- bauplan: materialization_strategy=REPLACE\nSELECT PassengerId,\n  Age\nFORM titanic\n"
            ),
        }
    )
    proc = sql_lake("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "SQL model 'broken' (broken.sql:4): syntax error" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) <= 2


def test_an_unknown_table_is_named_with_the_model(sql_lake, make_project):
    project = sql_project(make_project, {"lost": "SELECT * FROM titanic JOIN nowhere USING (PassengerId)"})
    proc = sql_lake("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "input 'nowhere'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_statements_that_are_not_one_query_are_refused(sql_lake, make_project):
    before = sql_lake.head("dev")
    for i, sql in enumerate(
        [
            "SELECT * FROM titanic; DELETE FROM titanic",
            "INSERT INTO titanic SELECT * FROM titanic",
            "CREATE TABLE x AS SELECT * FROM titanic",
            "SELECT * FROM titanic; SELECT * FROM taxi_fhvhv",
        ]
    ):
        project = sql_project(make_project, {f"bad{i}": sql})
        proc = sql_lake("run", "-p", project, check=False)
        assert proc.returncode != 0, sql
        assert f"SQL model 'bad{i}'" in proc.stderr
        assert "expected" in proc.stderr
    assert sql_lake.head("dev") == before


def test_sql_reaches_no_file_of_the_host(sql_lake, make_project, tmp_path):
    """Hostile: `query` and SQL models run DuckDB with external access off and its settings
    locked, so the tables Sluice hands it are all they can read, and they write nothing."""
    secret = tmp_path / "host_secret.txt"
    secret.write_text("the host's secret\n")
    written = tmp_path / "written.csv"
    before = sql_lake.head("dev")
    reads = [
        f"SELECT * FROM read_text('{secret}')",
        f"SELECT * FROM read_csv('{secret}')",
        f"SELECT * FROM '{secret}'",
        f"SELECT * FROM glob('{tmp_path}/*')",
        f"SELECT t.*, f.* FROM titanic t, read_blob('{secret}') f",
    ]
    for sql in reads:
        proc = sql_lake("query", sql, check=False)
        assert proc.returncode != 0, sql
        assert "secret" not in proc.stdout and "host_secret" not in proc.stdout, sql
        assert "Traceback" not in proc.stderr
    for sql in [
        f"COPY (SELECT * FROM titanic) TO '{written}'",
        f"ATTACH '{tmp_path}/other.db'",
        "SET enable_external_access=true",
    ]:
        assert sql_lake("query", sql, check=False).returncode != 0, sql
    assert not written.exists() and not (tmp_path / "other.db").exists()
    # The same from an SQL model: the run fails, nothing is written, nothing committed.
    project = sql_project(make_project, {"leak": f"SELECT content FROM read_text('{secret}')"})
    proc = sql_lake("run", "-p", project, check=False)
    assert proc.returncode != 0 and "the host's secret" not in proc.stdout + proc.stderr
    assert "leak" in proc.stderr and "Traceback" not in proc.stderr
    assert sql_lake.head("dev") == before
    # What it may read still works.
    assert "(7 rows)" in sql_lake("query", "SELECT PassengerId FROM titanic").stdout
