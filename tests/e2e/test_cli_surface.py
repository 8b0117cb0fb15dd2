"""More of the CLI surface through the real binary: model graphs beyond the example, JSON
reports, refs, and the errors users hit most."""

import textwrap

from cli_harness import TAXI

HEADER = "import bauplan\n"


def test_sql_over_a_python_model_and_a_model_without_inputs(lake, make_project):
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
            @bauplan.model()
            def numbers(n=bauplan.Parameter("n")):
                return [{"v": i} for i in range(n)]
            """),
            "total.sql": "-- bauplan: materialization_strategy=REPLACE\nSELECT SUM(v) AS s FROM numbers\n",
        },
        project_yml="project:\n  name: p\nparameters:\n  n:\n    type: int\n    default: 5\n",
    )
    report = lake.json("run", "-p", project, "--param", "n=10")
    assert report["job_status"] == "SUCCESS"
    assert {m["name"]: m["rows"] for m in report["models"]} == {"numbers": 10, "total": 1}
    assert lake.query("SELECT s FROM total", "dev") == [{"s": 45}]


def test_qualified_table_names_and_namespaces(lake, make_project):
    lake.load("raw.zones", TAXI / "data" / "taxi_zones.csv")
    assert "raw" in lake.json("namespace", "ls")
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.model(materialization_strategy="REPLACE")
        def queens(z=bauplan.Model("raw.zones", filter="borough = 'Queens'")):
            return z
        """)
        }
    )
    lake("run", "-p", project)
    assert lake.query("SELECT COUNT(*) AS n FROM queens", "dev") == [{"n": 2}]
    assert lake.query("SELECT COUNT(*) AS n FROM raw.zones", "dev") == [{"n": 12}]


def test_no_transaction_commits_directly(lake, make_project):
    project = make_project(
        {
            "models.py": HEADER
            + textwrap.dedent("""
        @bauplan.model(materialization_strategy="REPLACE")
        def copy(z=bauplan.Model("taxi_zones")):
            return z
        """)
        }
    )
    before = lake.head("dev")
    report = lake.json("run", "-p", project, "--no-transaction")
    assert report["run_branch"] == ""
    log = lake.json("commit", "dev")
    assert log[1]["id"] == before and "run" in log[0]["message"]


def test_query_errors_and_unknown_refs(lake):
    proc = lake("query", "SELECT nope FROM taxi_zones", check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: query failed") and "nope" in proc.stderr
    proc = lake("query", "SELECT * FROM missing_table", check=False)
    assert proc.returncode == 1 and "missing_table" in proc.stderr
    proc = lake("table", "ls", "--ref", "no.such.branch", check=False)
    assert proc.returncode == 1 and "no.such.branch" in proc.stderr and "hint:" in proc.stderr
    proc = lake("branch", "create", "dev", check=False)
    assert proc.returncode == 1 and "already exists" in proc.stderr


def test_query_prints_ten_rows_by_default(lake):
    out = lake("query", "SELECT zone_id FROM taxi_zones ORDER BY zone_id").stdout
    assert "(showing 10 of 12 rows)" in out
    rows = lake.json("query", "SELECT zone_id FROM taxi_zones ORDER BY zone_id", "--max-rows", "3")
    assert [r["zone_id"] for r in rows] == [1, 2, 3]


def test_tags_are_readable_refs(lake):
    lake("tag", "create", "v1", "--from-ref", "dev")
    assert "bauplan.taxi_zones" in lake.tables("v1")
    assert [t["name"] for t in lake.json("tag", "ls")] == ["v1"]


def test_a_bad_project_is_one_clear_error(lake, make_project):
    project = make_project({"models.py": "import bauplan\n\n@bauplan.model()\ndef f(:\n    pass\n"})
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode == 1
    assert "models.py:4" in proc.stderr and "syntax error" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = lake("run", "-p", "/nonexistent/project", check=False)
    assert proc.returncode == 1 and "/nonexistent/project" in proc.stderr


def test_bauplans_spark_and_synthetic_models_import_and_are_refused_at_plan_time(lake, make_project):
    """A project written for bauplan that uses @pyspark or @synthetic_model imports (no
    AttributeError) and stops before anything runs, naming the file, line and model."""
    for decorator, words in [
        ('@bauplan.pyspark(version="3.5", conf={"spark.executor.memory": "1g"})', "Spark runtime"),
        ('@bauplan.synthetic_model("fake", columns=["a"])', "synthetic_model"),
    ]:
        source = f"""import bauplan


@bauplan.model(materialization_strategy="REPLACE")
@bauplan.python("3.11")
{decorator}
def sparky(spark=None, zones=bauplan.Model("taxi_zones")):
    return zones
"""
        project = make_project({"models.py": source})
        head = lake.head("dev")
        proc = lake("run", "-p", project, check=False)
        assert proc.returncode == 1, proc.stderr
        assert "models.py:6" in proc.stderr and "'sparky'" in proc.stderr and words in proc.stderr
        assert "hint:" in proc.stderr and "Traceback" not in proc.stderr
        assert lake.head("dev") == head
    # The decorators exist and keep the function callable, as bauplan's do.
    import bauplan

    @bauplan.pyspark()
    def f():
        return 1

    assert f() == 1 and f.__sluice__["pyspark"]["conf"] == {}
