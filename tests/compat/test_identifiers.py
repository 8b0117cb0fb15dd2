"""Identifiers keep their case (issue 8 §1): one name rule everywhere a name is resolved.
Exact match wins; else a unique case-insensitive match; an ambiguous one is an error naming
the candidates; quoted names match exactly; the stored case is never changed.

Data: a titanic-like and a taxi_fhvhv-like table with the users' mixed-case columns,
written here with pyarrow and imported with `sluice table import`."""

import datetime
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

TITANIC = {
    "PassengerId": [1, 2, 3, 4, 5, 6],
    "Age": [0.5, 22.0, None, 40.0, 3.0, 61.0],
    "Fare": [7.25, 71.28, 8.05, 53.1, 21.07, 30.5],
    "Survived": [1, 1, 0, 0, 1, 0],
    "Name": ["Ann", "Bob", "Cy", "Di", "Ed", "Flo"],
}
TAXI = {
    "PULocationID": [132, 138, 138, 161, 132, 236],
    "DOLocationID": [236, 161, 132, 230, 48, 132],
    "trip_miles": [17.2, 9.1, 11.4, 0.9, 15.8, 2.2],
    "tpep_pickup_datetime": [datetime.datetime(2023, 1, 1, h, tzinfo=datetime.UTC) for h in range(6)],
}


def py(body):
    return "import bauplan\nfrom bauplan.standard_expectations import *  # noqa\n" + textwrap.dedent(body)


@pytest.fixture
def mixed(sluice, tmp_path):
    """Branch dev (active) with titanic, taxi_fhvhv, amountStatsTable, dup_ages (Age and
    age) and weird (a column named with a quote and a semicolon)."""
    data = tmp_path / "data"
    data.mkdir()
    tables = {
        "titanic": pa.table(TITANIC),
        "taxi_fhvhv": pa.table(TAXI),
        "amountStatsTable": pa.table({"Amount": [10, 20, 30], "zoneName": ["a", "b", "c"]}),
        "dup_ages": pa.table({"Age": [1, 50], "age": [99, 5], "Fare": [1.0, 2.0]}),
        "weird": pa.table({'we"ird;col': [1, 2, 3], "ok": [4, 5, 6]}),
    }
    sluice("checkout", "-b", "dev")
    for name, table in tables.items():
        pq.write_table(table, data / f"{name}.parquet")
        sluice("table", "create", name, "--search-uri", data / f"{name}.parquet")
        sluice("table", "import", name, "--search-uri", data / f"{name}.parquet")
    return sluice


def rows(lake, sql, ref="dev"):
    return lake.query(sql, ref)


# ---------------------------------------------------------------- sluice query


def test_query_keeps_mixed_case_columns(mixed):
    got = rows(mixed, "SELECT PULocationID, count(*) AS n FROM taxi_fhvhv GROUP BY ALL ORDER BY ALL")
    assert got == [
        {"PULocationID": 132, "n": 2},
        {"PULocationID": 138, "n": 2},
        {"PULocationID": 161, "n": 1},
        {"PULocationID": 236, "n": 1},
    ]
    # Any case of the name reads the column; the result carries the stored name.
    lower = rows(mixed, "SELECT pulocationid, trip_miles FROM taxi_fhvhv ORDER BY trip_miles LIMIT 1")
    assert lower == [{"PULocationID": 161, "trip_miles": 0.9}]
    # A column used only in WHERE/ORDER BY is read too (pushdown never drops it).
    got = rows(mixed, 'SELECT "PassengerId" FROM titanic WHERE Fare > 50 ORDER BY Age DESC')
    assert got == [{"PassengerId": 4}, {"PassengerId": 2}]


def test_tables_resolve_as_written_and_case_insensitively(mixed):
    assert rows(mixed, "SELECT sum(Amount) AS s FROM amountStatsTable") == [{"s": 60}]
    assert rows(mixed, "SELECT sum(amount) AS s FROM amountstatstable") == [{"s": 60}]
    assert rows(mixed, "SELECT count(*) AS n FROM bauplan.AMOUNTSTATSTABLE") == [{"n": 3}]
    assert rows(mixed, "SELECT count(*) AS n FROM Bauplan.Titanic") == [{"n": len(TITANIC["PassengerId"])}]
    info = mixed.json("table", "get", "amountstatstable", "--ref", "dev")
    assert "amountStatsTable" in str(info)
    assert "bauplan.amountStatsTable" in mixed.tables("dev")  # stored case unchanged
    proc = mixed("query", "SELECT * FROM amount_stats", check=False)
    assert proc.returncode != 0
    assert "table 'bauplan.amount_stats' not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_query_on_columns_duckdb_cannot_tell_apart_names_both(mixed):
    proc = mixed("query", "SELECT age FROM dup_ages", check=False)
    assert proc.returncode != 0
    assert "'Age', 'age'" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Not naming them is fine.
    assert rows(mixed, "SELECT Fare FROM dup_ages ORDER BY Fare") == [{"Fare": 1.0}, {"Fare": 2.0}]


# ---------------------------------------------------------------- Python models


def test_model_columns_and_filter_keep_case(mixed, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model(materialization_strategy="REPLACE")
        def adults(data=bauplan.Model("titanic", columns=["PassengerId", "Age"], filter="Age >= 1")):
            assert data.column_names == ["PassengerId", "Age"], data.column_names
            return data

        @bauplan.model(materialization_strategy="REPLACE")
        def adults_lower(data=bauplan.Model("TITANIC", columns=["passengerid", "AGE"], filter="age >= 1")):
            # The stored names come back whatever the case asked for.
            assert data.column_names == ["PassengerId", "Age"], data.column_names
            return data

        @bauplan.model(materialization_strategy="REPLACE")
        def everything(data=bauplan.Model("titanic", columns=["*"], filter="Survived = 1 AND Fare < 50")):
            return data

        @bauplan.model(materialization_strategy="REPLACE")
        def rich_ids(data=bauplan.Model("Titanic", columns=["PassengerId"], filter="fare > 50")):
            # The filter's column is read for the filter only.
            assert data.column_names == ["PassengerId"], data.column_names
            return data
        """)
        }
    )
    mixed("run", "-p", project)
    want = [
        {"PassengerId": 2, "Age": 22.0},
        {"PassengerId": 4, "Age": 40.0},
        {"PassengerId": 5, "Age": 3.0},
        {"PassengerId": 6, "Age": 61.0},
    ]
    assert rows(mixed, "SELECT * FROM adults ORDER BY PassengerId") == want
    assert rows(mixed, "SELECT * FROM adults_lower ORDER BY PassengerId") == want
    everything = rows(mixed, "SELECT * FROM everything ORDER BY PassengerId")
    assert [r["PassengerId"] for r in everything] == [1, 5]
    assert list(everything[0]) == list(TITANIC)
    assert rows(mixed, "SELECT * FROM rich_ids ORDER BY ALL") == [{"PassengerId": 2}, {"PassengerId": 4}]


def test_timestamp_filter_and_upstream_model_columns(mixed, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model()
        def trips(t=bauplan.Model("taxi_fhvhv", filter="tpep_pickup_datetime >= '2023-01-01T02:00:00Z'")):
            return t

        @bauplan.model(materialization_strategy="REPLACE")
        def by_zone(t=bauplan.Model("Trips", columns=["pulocationid", "Trip_Miles"],
                                    filter="trip_miles > 1")):
            assert t.column_names == ["PULocationID", "trip_miles"], t.column_names
            return t.group_by("PULocationID").aggregate([("trip_miles", "sum")])
        """)
        }
    )
    mixed("run", "-p", project)
    got = rows(mixed, "SELECT PULocationID, trip_miles_sum FROM by_zone ORDER BY ALL")
    assert got == [
        {"PULocationID": 132, "trip_miles_sum": 15.8},
        {"PULocationID": 138, "trip_miles_sum": 11.4},
        {"PULocationID": 236, "trip_miles_sum": 2.2},
    ]


def test_ambiguous_column_is_an_error_naming_the_candidates(mixed, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model(materialization_strategy="REPLACE")
        def ages(d=bauplan.Model("dup_ages", columns=["AGE"])):
            return d
        """)
        }
    )
    before = mixed.head("dev")
    proc = mixed("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "column 'AGE' is ambiguous" in proc.stderr
    assert "'Age', 'age'" in proc.stderr
    assert "model 'ages'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert mixed.head("dev") == before
    assert "bauplan.ages" not in mixed.tables("dev")


def test_exact_and_quoted_names_pick_one_of_two(mixed, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model(materialization_strategy="REPLACE")
        def lower_age(d=bauplan.Model("dup_ages", columns=["age"], filter='"Age" < 10')):
            return d

        @bauplan.model(materialization_strategy="REPLACE")
        def upper_age(d=bauplan.Model("dup_ages", columns=['"Age"', "Fare"], filter="age < 10")):
            return d
        """)
        }
    )
    mixed("run", "-p", project)
    assert rows(mixed, "SELECT * FROM lower_age") == [{"age": 99}]
    assert rows(mixed, "SELECT * FROM upper_age") == [{"Age": 50, "Fare": 2.0}]


def test_quoted_name_matches_exactly(mixed, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model()
        def q(d=bauplan.Model("titanic", filter='"age" >= 1')):
            return d
        """)
        }
    )
    proc = mixed("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "column 'age' does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_expectations_on_mixed_case_columns(mixed, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.expectation()
        def ids_are_complete(data=bauplan.Model("titanic", columns=["PassengerId", "Fare"])):
            return (expect_column_no_nulls(data, "PassengerId")
                    and expect_column_all_unique(data, "passengerid"))

        @bauplan.expectation()
        def fares_are_positive(data=bauplan.Model("titanic")):
            return expect_column_mean_greater_than(data, "FARE", 1) and expect_column_some_null(data, "Age")
        """)
        }
    )
    # Under --strict a false expectation or an unknown column fails the run: exit 0 means both held.
    mixed("run", "-p", project, "--strict")


def test_expectation_on_an_ambiguous_or_missing_column_names_it(mixed, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.expectation()
        def ambiguous(data=bauplan.Model("dup_ages")):
            return expect_column_no_nulls(data, "AGE")
        """)
        }
    )
    proc = mixed("run", "-p", project, "--strict", check=False)
    assert proc.returncode != 0
    assert "'Age', 'age'" in proc.stderr
    project = make_project(
        {
            "models.py": py("""
        @bauplan.expectation()
        def missing(data=bauplan.Model("titanic")):
            return expect_column_no_nulls(data, "Agee")
        """)
        }
    )
    proc = mixed("run", "-p", project, "--strict", check=False)
    assert proc.returncode != 0
    assert "column 'Agee' does not exist" in proc.stderr


def test_sql_model_reads_mixed_case_table_and_columns(mixed, make_project):
    project = make_project(
        {
            "zone_miles.sql": """\
            -- bauplan: materialization_strategy=REPLACE
            SELECT PULocationID, sum(trip_miles) AS Miles FROM taxi_fhvhv GROUP BY ALL
            """,
            "amounts.sql": """\
            -- bauplan: materialization_strategy=REPLACE
            SELECT zoneName, Amount * 2 AS Doubled FROM amountstatstable
            """,
        }
    )
    mixed("run", "-p", project)
    got = rows(mixed, "SELECT * FROM zone_miles ORDER BY PULocationID")
    assert [r["PULocationID"] for r in got] == [132, 138, 161, 236]
    assert list(got[0]) == ["PULocationID", "Miles"]
    assert rows(mixed, "SELECT sum(Doubled) AS s FROM amounts") == [{"s": 120}]


# ---------------------------------------------------------------- hostile


def test_hostile_column_name_with_quote_and_semicolon(mixed, make_project):
    got = rows(mixed, 'SELECT "we""ird;col" FROM weird WHERE ok > 4 ORDER BY ALL')
    assert got == [{'we"ird;col': 2}, {'we"ird;col': 3}]
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model(materialization_strategy="REPLACE")
        def picked(d=bauplan.Model("weird", columns=['we"ird;col'], filter='"we""ird;col" >= 2')):
            return d
        """)
        }
    )
    mixed("run", "-p", project)
    assert rows(mixed, "SELECT count(*) AS n FROM picked") == [{"n": 2}]


def test_a_second_statement_is_refused_and_changes_nothing(mixed, make_project):
    before = mixed.head("dev")
    for sql in [
        "SELECT * FROM titanic; DROP TABLE titanic",
        "SELECT 1; ATTACH '/tmp/x.duckdb' AS x",
        "COPY titanic TO '/tmp/stolen.csv'",
    ]:
        proc = mixed("query", sql, check=False)
        assert proc.returncode != 0, sql
        assert "expected one query" in proc.stderr
        assert "Traceback" not in proc.stderr
    project = make_project({"sneaky.sql": "SELECT * FROM titanic;\nDROP TABLE titanic\n"})
    proc = mixed("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "SQL model 'sneaky' (sneaky.sql" in proc.stderr
    assert mixed.head("dev") == before
    assert "bauplan.titanic" in mixed.tables("dev")


def test_a_table_name_made_of_sql_is_refused_as_a_name(mixed):
    proc = mixed("query", 'SELECT * FROM "titanic""; DROP TABLE titanic; --"', check=False)
    assert proc.returncode != 0
    assert "table name 'titanic\"; DROP TABLE titanic; --'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "bauplan.titanic" in mixed.tables("dev")


def test_declared_output_columns_follow_the_name_rule(mixed, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model(columns=["passengerid", "AGE"], materialization_strategy="REPLACE")
        def declared(data=bauplan.Model("titanic", columns=["PassengerId", "Age"])):
            return data
        """)
        }
    )
    mixed("run", "-p", project, "--strict")
    assert rows(mixed, "SELECT count(*) AS n FROM declared") == [{"n": len(TITANIC["PassengerId"])}]
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model(columns=["PassengerId", "Fare"])
        def wrong(data=bauplan.Model("titanic", columns=["PassengerId", "Age"])):
            return data
        """)
        }
    )
    proc = mixed("run", "-p", project, "--strict", check=False)
    assert proc.returncode != 0
    assert "declared columns" in proc.stderr


def test_import_and_delete_find_the_table_in_another_case(mixed, tmp_path):
    extra = tmp_path / "more_amounts.parquet"
    pq.write_table(pa.table({"Amount": [40], "zoneName": ["d"]}), extra)
    mixed("table", "import", "AMOUNTSTATSTABLE", "--search-uri", extra)
    assert rows(mixed, "SELECT sum(Amount) AS s FROM amountStatsTable") == [{"s": 100}]
    tables = mixed.tables("dev")
    assert "bauplan.amountStatsTable" in tables and "bauplan.AMOUNTSTATSTABLE" not in tables
    mixed("table", "rm", "amountstatstable")
    assert "bauplan.amountStatsTable" not in mixed.tables("dev")
