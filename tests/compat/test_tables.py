"""bauplan's table lifecycle through the real CLI: `table create` makes an EMPTY table with the
files' schema, `table import` appends to an existing one, `create-plan` / `create-plan-apply`
resolve schema conflicts in bauplan's YAML, `create-external` references files in place, and a
model's `name="ns.table"` writes into namespace `ns`. Data is mixed-case (titanic, NYC taxi)
and generated here."""

import datetime
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from cli_harness import Sluice
from foreign_iceberg import write_iceberg_with_pyiceberg

HEADER = "import bauplan\n"


def titanic(ids, fare_type=pa.float64(), extra=None):
    n = len(ids)
    columns = {
        "PassengerId": pa.array(ids, pa.int64()),
        "Age": pa.array([20.0 + i for i in range(n)], pa.float64()),
        "Fare": pa.array([7 + i for i in range(n)], fare_type),
        "Name": pa.array([f"passenger {i}" for i in ids]),
    }
    if extra:
        columns[extra] = pa.array([True] * n)
    return pa.table(columns)


def taxi(n, start=datetime.datetime(2023, 1, 1, 8, 0)):
    return pa.table(
        {
            "tpep_pickup_datetime": pa.array(
                [start + datetime.timedelta(hours=5 * i) for i in range(n)], pa.timestamp("us")
            ),
            "PULocationID": pa.array([100 + i % 3 for i in range(n)], pa.int64()),
            "DOLocationID": pa.array([200 + i % 4 for i in range(n)], pa.int64()),
            "trip_distance": pa.array([1.5 * i for i in range(n)], pa.float64()),
        }
    )


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "source"
    d.mkdir()
    pq.write_table(titanic([1, 2, 3]), d / "titanic_a.parquet")
    pq.write_table(titanic([4, 5]), d / "titanic_b.parquet")
    pq.write_table(taxi(8), d / "taxi.parquet")
    return d


@pytest.fixture
def dev(sluice):
    sluice("checkout", "-b", "dev")
    return sluice


def fails(proc, *words):
    """One clear error: exit 1, the words in it, no traceback."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "terminate called" not in proc.stderr
    for word in words:
        assert word in proc.stderr, proc.stderr
    return proc.stderr


def count(lake, table):
    return lake.query(f"SELECT COUNT(*) AS n FROM {table}", "dev")[0]["n"]


def test_create_makes_an_empty_table_and_import_adds_each_row_once(dev, data):
    out = dev("table", "create", "titanic", "--search-uri", data / "titanic_a.parquet").stdout
    assert "created table bauplan.titanic" in out and "0 rows" in out
    info = dev.json("table", "get", "titanic")
    assert info["records"] == 0 and info["kind"] == "TABLE"
    assert [f["name"] for f in info["fields"]] == ["PassengerId", "Age", "Fare", "Name"]
    result = dev.json("table", "import", "titanic", "--search-uri", data / "titanic_*.parquet")
    assert result["rows"] == 5 and len(result["files"]) == 2
    assert count(dev, "titanic") == 5
    # The same files again: skipped, as bauplan does, unless --import-duplicate-files.
    again = dev.json("table", "import", "titanic", "--search-uri", data / "titanic_a.parquet")
    assert again["rows"] == 0 and again["commit"] is None and len(again["skipped"]) == 1
    assert count(dev, "titanic") == 5
    dev("table", "import", "titanic", "--search-uri", data / "titanic_a.parquet", "--import-duplicate-files")
    assert count(dev, "titanic") == 8


def test_create_if_not_exists_replace_and_already_exists(dev, data):
    dev.load("titanic", data / "titanic_a.parquet")
    head = dev.head("dev")
    fails(
        dev("table", "create", "titanic", "--search-uri", data / "titanic_a.parquet", check=False),
        "bauplan.titanic",
        "already exists",
        "--if-not-exists",
    )
    out = dev(
        "table", "create", "titanic", "--search-uri", data / "titanic_a.parquet", "--if-not-exists"
    ).stdout
    assert "kept" in out
    dev("table", "create", "titanic", "--search-uri", data / "titanic_a.parquet", "--if-not-exists")
    assert dev.head("dev") == head and count(dev, "titanic") == 3
    # --replace (-r): a new, empty table with the new files' schema.
    dev("table", "create", "titanic", "--search-uri", data / "taxi.parquet", "-r")
    info = dev.json("table", "get", "titanic")
    assert info["records"] == 0 and info["fields"][1]["name"] == "PULocationID"


def test_a_name_differing_only_in_case_reaches_the_existing_table(dev, data, tmp_path):
    """Names match ignoring case, so `Titanic` is `titanic`: never a second table beside it."""
    dev("table", "create", "titanic", "--search-uri", data / "titanic_a.parquet")
    head = dev.head("dev")
    warehouse = sorted(p.name for p in (dev.home / "warehouse").rglob("*"))
    fails(
        dev("table", "create", "TITANIC", "--search-uri", data / "titanic_a.parquet", check=False),
        "bauplan.titanic",
        "already exists",
    )
    fails(
        dev(
            "table", "create-external", "Titanic", "--search-pattern", data / "titanic_a.parquet", check=False
        ),
        "bauplan.titanic",
        "already exists",
    )
    fails(
        dev(
            "table", "create", "titanic", "-n", "BAUPLAN", "--search-uri", data / "taxi.parquet", check=False
        ),
        "bauplan.titanic",
        "already exists",
    )
    assert dev.head("dev") == head
    assert sorted(p.name for p in (dev.home / "warehouse").rglob("*")) == warehouse
    # A new table in `BAUPLAN` goes into `bauplan`; a namespace differing only in case is refused.
    dev("table", "create", "taxi", "-n", "BAUPLAN", "--search-uri", data / "taxi.parquet")
    assert dev.tables("dev") == {"bauplan.titanic", "bauplan.taxi"}
    dev("table", "drop", "taxi")
    head = dev.head("dev")
    warehouse = sorted(p.name for p in (dev.home / "warehouse").rglob("*"))
    fails(dev("namespace", "create", "Bauplan", check=False), "namespace", "differs only in case", "bauplan")
    assert dev.head("dev") == head and dev.tables("dev") == {"bauplan.titanic"}
    assert sorted(p.name for p in (dev.home / "warehouse").rglob("*")) == warehouse
    kept = dev("table", "create", "Titanic", "--search-uri", data / "taxi.parquet", "--if-not-exists").stdout
    assert "kept" in kept and dev.head("dev") == head
    dev("table", "import", "TITANIC", "--search-uri", data / "titanic_a.parquet")
    assert count(dev, "titanic") == 3
    # --replace replaces the stored table, under its stored name.
    dev("table", "create", "TiTaNiC", "--search-uri", data / "taxi.parquet", "-r")
    assert dev.tables("dev") == {"bauplan.titanic"}
    assert dev.json("table", "get", "titanic")["fields"][1]["name"] == "PULocationID"


def test_import_into_a_missing_table_says_create_first(dev, data):
    head = dev.head("dev")
    err = fails(
        dev("table", "import", "titanic", "--search-uri", data / "titanic_a.parquet", check=False),
        "bauplan.titanic",
        "not found",
        "hint:",
        "table create",
    )
    assert "already" not in err
    assert dev.head("dev") == head and "bauplan.titanic" not in dev.tables("dev")


def test_import_schema_mismatches_name_the_file_and_column(dev, data, tmp_path):
    dev("table", "create", "titanic", "--search-uri", data / "titanic_a.parquet")
    bad = tmp_path / "bad"
    bad.mkdir()
    pq.write_table(titanic([10], extra="Survived"), bad / "extra.parquet")
    pq.write_table(titanic([11]).drop_columns(["Age"]), bad / "missing.parquet")
    pq.write_table(titanic([12]).set_column(2, "Fare", pa.array(["cheap"])), bad / "text.parquet")
    head = dev.head("dev")
    fails(
        dev("table", "import", "titanic", "--search-uri", bad / "extra.parquet", check=False),
        "extra.parquet",
        "'Survived'",
        "--best-effort",
    )
    fails(
        dev("table", "import", "titanic", "--search-uri", bad / "missing.parquet", check=False),
        "missing.parquet",
        "'Age'",
    )
    fails(
        dev("table", "import", "titanic", "--search-uri", bad / "text.parquet", check=False),
        "text.parquet",
        "'Fare'",
        "string",
    )
    assert dev.head("dev") == head  # nothing written
    # --best-effort: extra columns dropped, missing ones null.
    dev("table", "import", "titanic", "--search-uri", bad / "extra.parquet", "--best-effort")
    dev("table", "import", "titanic", "--search-uri", bad / "missing.parquet", "--best-effort")
    rows = dev.query('SELECT "PassengerId", "Age" FROM titanic ORDER BY 1', "dev")
    assert rows == [{"PassengerId": 10, "Age": 20.0}, {"PassengerId": 11, "Age": None}]
    # --continue-on-error: the bad file is skipped, the good one imported.
    pq.write_table(titanic([13]), bad / "good.parquet")
    result = dev.json("table", "import", "titanic", "--search-uri", bad / "*.parquet", "--continue-on-error")
    assert result["rows"] == 1 and [s["file"].rsplit("/", 1)[1] for s in result["skipped"]] == [
        "extra.parquet",
        "missing.parquet",
        "text.parquet",
    ]
    assert count(dev, "titanic") == 3
    # All failing is still an error.
    fails(
        dev(
            "table",
            "import",
            "titanic",
            "--search-uri",
            bad / "text.parquet",
            "--continue-on-error",
            check=False,
        ),
        "text.parquet",
    )


def test_a_schema_conflict_is_resolved_in_the_plan_then_applied(dev, data, tmp_path):
    pq.write_table(titanic([6, 7], fare_type=pa.int64()), data / "titanic_c.parquet")
    files = str(data / "titanic_*.parquet")
    head = dev.head("dev")
    fails(
        dev("table", "create", "titanic", "--search-uri", files, check=False),
        "schema conflicts",
        "Fare",
        "create-plan",
    )
    plan_file = tmp_path / "plan.yml"
    dev("table", "create-plan", "titanic", "--search-uri", files, "--save-plan", plan_file)
    assert dev.head("dev") == head  # planning writes nothing
    plan = yaml.safe_load(plan_file.read_text())
    assert plan["plan_state"]["table_identifier"] == ["bauplan", "titanic"]
    assert plan["schema_info"]["conflicts"][0]["column_with_conflict"] == "Fare"
    fare = next(c for c in plan["schema_info"]["detected_schemas"] if c["column_name"] == "Fare")
    assert [t["datatype"] for t in fare["dst_datatype"]] == ["double", "long"]
    # Applying it unresolved names the column.
    fails(dev("table", "create-plan-apply", "--plan", plan_file, check=False), "'Fare'", "dst_datatype")
    fare["dst_datatype"] = [{"datatype": "double"}]
    plan["schema_info"]["conflicts"] = []
    plan_file.write_text(yaml.safe_dump(plan))
    dev("table", "create-plan-apply", "--plan", plan_file)
    info = dev.json("table", "get", "titanic")
    assert info["records"] == 0
    assert {f["name"]: f["type"] for f in info["fields"]}["Fare"] == "double"
    # The long Fares convert without loss when imported.
    dev("table", "import", "titanic", "--search-uri", files)
    assert count(dev, "titanic") == 7
    # The JSON form of the plan (what the SDK gets).
    answer = dev.json("table", "create-plan", "other", "--search-uri", files)
    assert answer["can_auto_apply"] is False and answer["conflicts"] == [
        {"column": "Fare", "types": ["double", "long"]}
    ]


def test_partitioned_by_is_recorded_as_the_iceberg_spec(dev, data, make_project):
    from pyiceberg.table import StaticTable

    dev(
        "table",
        "create",
        "trips",
        "--search-uri",
        data / "taxi.parquet",
        "--partitioned-by",
        "day(tpep_pickup_datetime), PULocationID",
    )
    dev("table", "import", "trips", "--search-uri", data / "taxi.parquet")
    assert "day(tpep_pickup_datetime)" in dev("table", "get", "trips").stdout
    info = dev.json("table", "get", "trips")
    assert [(p["transform"], p["source"]) for p in info["partitions"]] == [
        ("day", "tpep_pickup_datetime"),
        ("identity", "PULocationID"),
    ]
    table = StaticTable.from_metadata(info["metadata_location"])
    assert [str(f.transform) for f in table.spec().fields] == ["day", "identity"]
    assert table.scan().to_arrow().num_rows == 8  # pyiceberg reads what Sluice wrote
    fails(
        dev(
            "table",
            "create",
            "bad",
            "--search-uri",
            data / "taxi.parquet",
            "--partitioned-by",
            "hour(PULocationID)",
            check=False,
        ),
        "PULocationID",
        "timestamp",
    )
    # A model's partitioned_by is recorded the same way on the table it creates.
    project = make_project(
        {
            "models.py": HEADER
            + """
@bauplan.model(materialization_strategy="REPLACE", partitioned_by=["MONTH(tpep_pickup_datetime)"])
def monthly(t=bauplan.Model("trips")):
    return t
"""
        }
    )
    dev("run", "-p", project)
    monthly = dev.json("table", "get", "monthly")
    assert monthly["records"] == 8
    assert [(p["transform"], p["source"]) for p in monthly["partitions"]] == [
        ("month", "tpep_pickup_datetime")
    ]
    fails(
        dev(
            "table",
            "create",
            "bad",
            "--search-uri",
            data / "taxi.parquet",
            "--partitioned-by",
            "day(nope)",
            check=False,
        ),
        "'nope'",
    )


def test_external_table_from_parquet_reads_the_files_in_place(dev, data, make_project):
    dev(
        "table",
        "create-external",
        "titanic_ext",
        "--search-pattern",
        data / "titanic_a.parquet",
        "--search-pattern",
        data / "titanic_b.parquet",
    )
    info = dev.json("table", "get", "titanic_ext")
    assert info["kind"] == "EXTERNAL_TABLE" and info["records"] == 5
    assert count(dev, "titanic_ext") == 5
    # Referenced, not copied: no Parquet file of it in the warehouse.
    assert not list((dev.home / "warehouse" / "bauplan").glob("titanic_ext-*/data/*.parquet"))
    listed = {t["name"]: t["kind"] for t in dev.json("table", "ls")}
    assert listed["bauplan.titanic_ext"] == "EXTERNAL_TABLE"
    lines = [line.split() for line in dev("table", "ls").stdout.splitlines()]
    assert lines == [["NAMESPACE", "NAME", "KIND"], ["bauplan", "titanic_ext", "EXTERNAL_TABLE"]]
    fails(
        dev(
            "table",
            "import",
            "titanic_ext",
            "--search-uri",
            data / "titanic_a.parquet",
            "--import-duplicate-files",
            check=False,
        ),
        "external",
        "read-only",
    )
    fails(
        dev(
            "table",
            "create-external",
            "titanic_ext",
            "--search-pattern",
            data / "titanic_a.parquet",
            check=False,
        ),
        "already exists",
        "--overwrite",
    )
    # A model cannot write into it either.
    project = make_project(
        {
            "models.py": HEADER
            + """
@bauplan.model(name="titanic_ext", materialization_strategy="REPLACE")
def fresh():
    import pyarrow as pa
    return pa.table({"PassengerId": [1]})
"""
        }
    )
    run = dev("run", "-p", project, check=False)
    assert run.returncode != 0 and "external table" in run.stderr and "Traceback" not in run.stderr
    dev(
        "table",
        "create-external",
        "titanic_ext",
        "--search-pattern",
        data / "titanic_a.parquet",
        "--overwrite",
    )
    assert count(dev, "titanic_ext") == 3


def test_external_table_from_a_pyiceberg_metadata_json(dev, tmp_path):
    metadata = write_iceberg_with_pyiceberg(tmp_path / "iceberg", taxi(6))
    # bauplan requires the namespace to exist for this mode.
    fails(
        dev("table", "create-external", "trips", "--metadata-json-uri", metadata, "-n", "nyc", check=False),
        "namespace 'nyc' not found",
    )
    dev("namespace", "create", "nyc")
    dev("table", "create-external", "trips", "--metadata-json-uri", metadata, "-n", "nyc")
    info = dev.json("table", "get", "nyc.trips")
    assert info["kind"] == "EXTERNAL_TABLE" and info["metadata_location"].endswith(os.path.basename(metadata))
    rows = dev.query('SELECT "PULocationID", COUNT(*) AS n FROM nyc.trips GROUP BY 1 ORDER BY 1', "dev")
    assert rows == [
        {"PULocationID": 100, "n": 2},
        {"PULocationID": 101, "n": 2},
        {"PULocationID": 102, "n": 2},
    ]


def test_a_hostile_metadata_json_is_one_clear_error(dev, tmp_path):
    """A metadata.json whose snapshot is its own parent, or whose counts are not numbers."""
    metadata = write_iceberg_with_pyiceberg(tmp_path / "iceberg", taxi(6))
    dev("namespace", "create", "nyc")
    head = dev.head("dev")
    doc = json.loads(open(metadata).read())
    for edit, words in [
        (lambda s: s.update({"parent-snapshot-id": s["snapshot-id"]}), ["loop back"]),
        (lambda s: s["summary"].update({"total-records": "lots"}), ["not a number"]),
    ]:
        hostile = json.loads(json.dumps(doc))
        for snapshot in hostile["snapshots"]:
            edit(snapshot)
        path = tmp_path / "hostile.metadata.json"
        path.write_text(json.dumps(hostile))
        fails(
            dev("table", "create-external", "t", "--metadata-json-uri", path, "-n", "nyc", check=False),
            "malformed table metadata",
            *words,
        )
    assert dev.head("dev") == head


def test_a_model_named_ns_table_writes_into_that_namespace(dev, data, make_project):
    dev.load("titanic", data / "titanic_*.parquet")
    project = make_project(
        {
            "models.py": HEADER
            + """
@bauplan.model(name="staging.passengers", materialization_strategy="REPLACE")
def passengers(t=bauplan.Model("titanic", columns=["PassengerId", "Fare"])):
    return t

@bauplan.model(materialization_strategy="REPLACE")
def fares(p=bauplan.Model("staging.passengers")):
    return p
""",
            "fare_stats.sql": """\
            -- bauplan: name=analytics.fare_stats
            -- bauplan: materialization_strategy=REPLACE
            SELECT COUNT(*) AS n, SUM("Fare") AS total FROM staging.passengers
            """,
        }
    )
    dev("run", "-p", project)
    tables = dev.tables("dev")
    assert {"staging.passengers", "bauplan.fares", "analytics.fare_stats"} <= tables
    assert not any(t.count(".") > 1 for t in tables)
    assert {"staging", "analytics"} <= set(dev.json("namespace", "ls"))
    assert dev.query("SELECT n, total FROM analytics.fare_stats", "dev") == [{"n": 5, "total": 39.0}]
    # Other runs read it back as ns.table.
    reader = make_project(
        {
            "models.py": HEADER
            + """
@bauplan.model(materialization_strategy="REPLACE")
def again(p=bauplan.Model("staging.passengers")):
    return p
"""
        }
    )
    dev("run", "-p", reader)
    assert count(dev, "again") == 5


def test_table_and_namespace_aliases(dev, data):
    dev.load("titanic", data / "titanic_a.parquet")
    assert [t["name"] for t in dev.json("table", "list")] == ["bauplan.titanic"]
    assert len(dev.json("table", "ls", "--limit", "1")) == 1
    assert dev("namespace", "list").stdout.split() == ["bauplan"]
    dev("table", "delete", "titanic")
    dev("table", "drop", "titanic", "--if-exists")
    fails(dev("table", "drop", "titanic", check=False), "not found")
    dev("namespace", "create", "tmp")
    dev("namespace", "create", "tmp", "--if-not-exists")
    dev("namespace", "drop", "tmp")
    dev("namespace", "delete", "tmp", "--if-exists")


# ---- what a hostile user tries ---------------------------------------------------------------


def test_search_uris_outside_what_imports_may_read_are_refused(dev, data, tmp_path):
    other = Sluice(tmp_path / "other_home")  # another lake on the same machine
    try:
        other("checkout", "-b", "dev")
        other.load("secret", data / "titanic_a.parquet")
        head = dev.head("dev")
        fails(dev("table", "create", "x", "--search-uri", "/etc/passwd", check=False), "/etc/passwd")
        fails(dev("table", "create", "x", "--search-uri", "/dev/zero", check=False), "/dev/zero")
        theirs = str(other.home / "warehouse" / "bauplan" / "secret-*" / "data" / "*.parquet")
        fails(dev("table", "create", "x", "--search-uri", theirs, check=False), "data home")
        fails(dev("table", "create", "x", "--search-uri", other.home, check=False), "data home")
        fails(dev("table", "create", "x", "--search-uri", dev.home / "warehouse", check=False), "data home")
        fails(dev("table", "create-external", "x", "--search-pattern", theirs, check=False), "data home")
        their_metadata = other.json("table", "get", "secret")["metadata_location"].removeprefix("file://")
        dev("namespace", "create", "nyc")
        fails(
            dev(
                "table",
                "create-external",
                "x",
                "--metadata-json-uri",
                their_metadata,
                "-n",
                "nyc",
                check=False,
            ),
            "data home",
        )
        # A symlink from a harmless place into their warehouse is followed, then refused.
        link = tmp_path / "innocent.parquet"
        link.symlink_to(next((other.home / "warehouse" / "bauplan").glob("secret-*/data/*.parquet")))
        fails(dev("table", "create", "x", "--search-uri", link, check=False), "data home")
        dev("table", "create", "ok", "--search-uri", data / "titanic_a.parquet")
        fails(dev("table", "import", "ok", "--search-uri", link, check=False), "data home")
        # $SLUICE_IMPORT_ROOTS confines imports to its directories.
        confined = Sluice(dev.home)
        confined.env["SLUICE_IMPORT_ROOTS"] = str(tmp_path / "elsewhere")
        fails(
            confined("table", "import", "ok", "--search-uri", data / "titanic_a.parquet", check=False),
            "outside the directories",
        )
        assert dev.head("dev") != head  # only `ok` and the namespace were written
        assert count(dev, "ok") == 0 and "bauplan.x" not in dev.tables("dev")
    finally:
        other.remove_shared_memory()


def test_table_names_cannot_escape_the_warehouse(dev, data):
    head = dev.head("dev")
    for name in ["../escape", "a/b", "ns.a/../../b", "x.y.z", "..", "bad name"]:
        fails(dev("table", "create", name, "--search-uri", data / "titanic_a.parquet", check=False), "name")
    fails(
        dev("table", "create", "t", "-n", "..", "--search-uri", data / "titanic_a.parquet", check=False),
        "namespace",
    )
    assert dev.head("dev") == head
    assert not (dev.home / "escape").exists() and not (dev.home / "warehouse" / "a").exists()


def test_a_plan_edited_to_point_elsewhere_is_refused(dev, data, tmp_path):
    plan_file = tmp_path / "plan.yml"
    dev("table", "create-plan", "titanic", "--search-uri", data / "titanic_a.parquet", "-p", plan_file)
    head = dev.head("dev")
    warehouse = sorted(p.name for p in (dev.home / "warehouse").rglob("*"))
    for edit, words in [
        (lambda p: p.update(files_to_be_imported=["/etc/passwd"]), ["/etc/passwd"]),
        (lambda p: p["plan_state"].update(table_identifier=["..", "evil"]), ["namespace"]),
        (lambda p: p["plan_state"].update(table_identifier=["bauplan", "../../evil"]), ["table name"]),
        (lambda p: p["plan_state"].update(branch_name="main"), ["protected"]),
        (
            lambda p: p["schema_info"]["detected_schemas"][0].update(dst_datatype=[{"datatype": "pickle"}]),
            ["unknown datatype"],
        ),
        (lambda p: p.update(schema_info="nothing"), ["malformed plan"]),
    ]:
        plan = yaml.safe_load(plan_file.read_text())
        edit(plan)
        edited = tmp_path / "edited.yml"
        edited.write_text(yaml.safe_dump(plan))
        fails(dev("table", "create-plan-apply", "--plan", edited, check=False), *words)
    edited.write_text("plan_state: [unclosed")
    fails(dev("table", "create-plan-apply", "--plan", edited, check=False), "YAML")
    assert dev.head("dev") == head
    assert sorted(p.name for p in (dev.home / "warehouse").rglob("*")) == warehouse


def test_a_plan_that_expands_without_bound_is_refused(dev, data, tmp_path):
    """Billion laughs: nested aliases that would expand to 10^9 values; and a plan too big to read."""
    head = dev.head("dev")
    laughs = ["plan_state: {branch_name: dev, table_identifier: [bauplan, laughs]}", 'a0: &a0 ["lol"]']
    laughs += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    laughs.append("schema_info: {detected_schemas: *a9}")
    plan = tmp_path / "laughs.yml"
    plan.write_text("\n".join(laughs) + "\n")
    fails(dev("table", "create-plan-apply", "--plan", plan, check=False), "expands to more than")
    plan.write_text("plan_state: {}\n" + "# padding\n" * (2 << 20))
    fails(dev("table", "create-plan-apply", "--plan", plan, check=False), "bytes, more than a plan may be")
    assert dev.head("dev") == head and "bauplan.laughs" not in dev.tables("dev")
