"""Run semantics through the real binary: failures, planning errors, parameters, return
types, expectations."""

import textwrap

import pytest

MODELS_HEADER = "import bauplan\n"


def py(body):
    """A models.py: the bauplan import, then the (indented) body dedented."""
    return MODELS_HEADER + textwrap.dedent(body)


def test_a_model_that_raises_leaves_the_target_unchanged(lake, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model(materialization_strategy="REPLACE")
        def zones_copy(zones=bauplan.Model("taxi_zones")):
            return zones

        @bauplan.model(materialization_strategy="REPLACE")
        def broken(zones=bauplan.Model("zones_copy")):
            x = 1
            raise ValueError("bad zone data")
        """)
        }
    )
    before = lake.head("dev")
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode != 0
    # The user's traceback: their file, their line, their message.
    assert "Traceback" in proc.stderr
    assert 'models.py", line 10' in proc.stderr
    assert "ValueError: bad zone data" in proc.stderr
    assert "model 'broken'" in proc.stderr
    # Target untouched; the run branch is kept and named, with what did materialize.
    assert lake.head("dev") == before
    assert "bauplan.zones_copy" not in lake.tables("dev")
    kept = [b["name"] for b in lake.json("branch", "ls", "--runs") if ".run-" in b["name"]]
    assert len(kept) == 1
    assert kept[0] in proc.stderr
    assert "bauplan.zones_copy" in lake.tables(kept[0])


def test_a_cycle_is_reported_with_its_models(lake, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model()
        def a(x=bauplan.Model("b")):
            return x

        @bauplan.model()
        def b(x=bauplan.Model("a")):
            return x
        """)
        }
    )
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "cycle" in proc.stderr
    assert "'a'" in proc.stderr or " a " in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_missing_input_table_names_model_file_and_line(lake, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model()
        def m(t=bauplan.Model("no_such_table")):
            return t
        """)
        }
    )
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "no_such_table" in proc.stderr
    assert "models.py:" in proc.stderr
    assert "'m'" in proc.stderr


def test_duplicate_model_names_name_both_places(lake, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model()
        def dup(t=bauplan.Model("taxi_zones")):
            return t
        """),
            "dup.sql": "SELECT * FROM taxi_zones\n",
        }
    )
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "models.py" in proc.stderr and "dup.sql" in proc.stderr


def test_a_filter_that_selects_nothing_gives_an_empty_table(lake, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model(materialization_strategy="REPLACE")
        def nothing(t=bauplan.Model("taxi_trips", columns=["trip_id", "miles"],
                                    filter="miles > 100000")):
            assert t.num_rows == 0
            assert t.column_names == ["trip_id", "miles"]
            return t
        """)
        }
    )
    lake("run", "-p", project)
    info = lake.json("table", "get", "nothing")
    assert info["records"] == 0
    assert [f["name"] for f in info["fields"]] == ["trip_id", "miles"]


@pytest.mark.parametrize(
    "body",
    [
        "import pandas as pd\n    return pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})",
        "import polars as pl\n    return pl.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})",
        "return [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'y'}, {'a': 3, 'b': 'z'}]",
        "import pyarrow as pa\n    return pa.table({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})",
    ],
    ids=["pandas", "polars", "list_of_dicts", "pyarrow"],
)
def test_return_types(lake, make_project, body):
    project = make_project(
        {
            "models.py": MODELS_HEADER
            + f"""
@bauplan.model(materialization_strategy="REPLACE")
def out(t=bauplan.Model("taxi_zones")):
    {body}
"""
        }
    )
    lake("run", "-p", project)
    rows = lake.query("SELECT a, b FROM out ORDER BY a", "dev")
    assert rows == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}, {"a": 3, "b": "z"}]


def test_an_unsupported_return_type_is_a_clear_error(lake, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model()
        def bad(t=bauplan.Model("taxi_zones")):
            return 42
        """)
        }
    )
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "bad" in proc.stderr and "int" in proc.stderr


PARAM_PROJECT = """\
project:
  id: 00000000-0000-4000-8000-000000000002
  name: params
parameters:
  min_miles:
    type: float
    default: 5.0
  borough:
    type: str
    default: Queens
"""


def test_parameters_reach_filters_sql_and_python(lake, make_project):
    project = make_project(
        {
            "long_trips.sql": """\
            -- bauplan: materialization_strategy=REPLACE
            SELECT z.borough, COUNT(*) AS n
            FROM taxi_trips t JOIN taxi_zones z ON t.zone_id = z.zone_id
            WHERE z.borough = $borough
            GROUP BY z.borough
            """,
            "models.py": py("""
        @bauplan.model(materialization_strategy="REPLACE")
        def far(t=bauplan.Model("taxi_trips", columns=["miles"], filter="miles > $min_miles"),
                threshold=bauplan.Parameter("min_miles")):
            import pyarrow as pa
            import pyarrow.compute as pc
            assert isinstance(threshold, float)
            return pa.table({"n": [t.num_rows], "min": [pc.min(t["miles"]).as_py()],
                             "threshold": [threshold]})
        """),
        },
        project_yml=PARAM_PROJECT,
    )
    lake("run", "-p", project, "--param", "min_miles=10", "--param", "borough=Bronx")
    far = lake.query("SELECT * FROM far", "dev")[0]
    assert far["threshold"] == 10.0 and far["min"] > 10.0
    expected = lake.query("SELECT COUNT(*) AS n FROM taxi_trips WHERE miles > 10", "dev")[0]["n"]
    assert far["n"] == expected
    assert lake.query("SELECT * FROM long_trips", "dev")[0]["borough"] == "Bronx"


def test_an_unknown_param_is_rejected(lake, make_project):
    project = make_project({"q.sql": "SELECT * FROM taxi_zones\n"}, project_yml=PARAM_PROJECT)
    proc = lake("run", "-p", project, "--param", "nope=1", check=False)
    assert proc.returncode != 0
    assert "nope" in proc.stderr


EXPECTATION = (
    MODELS_HEADER
    + """
from bauplan.standard_expectations import expect_column_all_unique

@bauplan.model(materialization_strategy="REPLACE")
def zones_out(z=bauplan.Model("taxi_zones")):
    return z

@bauplan.expectation()
@bauplan.python("3.11")
def borough_unique(z=bauplan.Model("taxi_zones")):
    return expect_column_all_unique(z, "borough")
"""
)


def test_a_failing_expectation_warns_and_the_run_goes_on(lake, make_project):
    project = make_project({"models.py": EXPECTATION})
    proc = lake("run", "-p", project)
    assert "borough_unique" in proc.stderr and "warning" in proc.stderr
    assert "bauplan.zones_out" in lake.tables("dev")


def test_a_failing_expectation_fails_the_run_under_strict(lake, make_project):
    project = make_project({"models.py": EXPECTATION})
    before = lake.head("dev")
    proc = lake("run", "-p", project, "--strict", check=False)
    assert proc.returncode != 0
    assert "expectation returned false" in proc.stderr
    assert lake.head("dev") == before


def test_independent_models_run_at_the_same_time(lake, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model()
        def left(z=bauplan.Model("taxi_zones")):
            import time
            time.sleep(1.5)
            return z

        @bauplan.model()
        def right(z=bauplan.Model("taxi_zones")):
            import time
            time.sleep(1.5)
            return z
        """)
        }
    )
    report = lake.json("run", "-p", project, "--parallel", "2")
    spans = {m["name"]: (m["user_start"], m["user_return"]) for m in report["models"]}
    (a_start, a_end), (b_start, b_end) = spans["left"], spans["right"]
    assert a_start < b_end and b_start < a_end, spans  # the two calls overlapped


def test_a_model_over_its_timeout_is_stopped(lake, make_project):
    project = make_project(
        {
            "models.py": py("""
        @bauplan.model()
        @bauplan.resources(timeout=2)
        def slow(z=bauplan.Model("taxi_zones")):
            import time
            time.sleep(60)
            return z
        """)
        }
    )
    before = lake.head("dev")
    proc = lake("run", "-p", project, check=False, timeout=50)
    assert proc.returncode == 1
    assert "model 'slow'" in proc.stderr and "timeout of 2 s" in proc.stderr
    assert lake.head("dev") == before  # the run failed as a transaction
