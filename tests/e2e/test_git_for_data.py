"""Git for data through the CLI: diffs, merges that combine appends, conflicts, reverts,
namespaces, tags and filtered logs."""

from cli_harness import TAXI

ZONES = TAXI / "data" / "taxi_zones.csv"


def test_appends_on_two_branches_merge_instead_of_conflicting(lake):
    lake("branch", "create", "other", "--from-ref", "dev")
    again = "--import-duplicate-files"  # the lake fixture imported that file already
    lake("table", "import", "taxi_zones", "--search-uri", ZONES, again)  # dev: 24
    lake("table", "import", "taxi_zones", "--search-uri", ZONES, "--branch", "other", again)  # other: 24
    out = lake("branch", "merge", "other", "--into-branch", "dev").stdout
    assert "fast-forward" not in out
    assert lake.json("table", "get", "taxi_zones", "--ref", "dev")["records"] == 36
    assert lake.query("SELECT COUNT(*) AS n FROM taxi_zones", "dev") == [{"n": 36}]
    assert lake.json("commit", "dev", "--max-count", "1")[0]["parents"].__len__() == 2


def test_other_changes_on_both_sides_conflict_and_leave_the_target_alone(lake, make_project):
    project = make_project(
        {
            "models.py": "import bauplan\n\n"
            "@bauplan.model(materialization_strategy='REPLACE')\n"
            "def zones(z=bauplan.Model('taxi_zones')):\n    return z\n"
        }
    )
    lake("branch", "create", "other", "--from-ref", "dev")
    lake("run", "-p", project)
    lake("run", "-p", project, "--ref", "other")
    before = lake.head("dev")
    proc = lake("branch", "merge", "other", "--into-branch", "dev", check=False)
    assert proc.returncode == 1
    assert "conflict" in proc.stderr and "bauplan.zones" in proc.stderr
    assert lake.head("dev") == before


def test_diff_lists_added_removed_and_changed_tables(lake):
    lake("branch", "create", "other", "--from-ref", "dev")
    lake(
        "table",
        "import",
        "taxi_zones",
        "--search-uri",
        ZONES,
        "--branch",
        "other",
        "--import-duplicate-files",
    )
    lake("table", "rm", "taxi_trips", "--branch", "other")
    lake.load("raw.extra", ZONES, "--branch", "other")
    diff = {d["table"]: d for d in lake.json("branch", "diff", "dev", "other")}
    assert diff["bauplan.taxi_zones"]["kind"] == "changed"
    assert (diff["bauplan.taxi_zones"]["from_records"], diff["bauplan.taxi_zones"]["to_records"]) == (12, 24)
    assert diff["bauplan.taxi_trips"]["kind"] == "removed"
    assert diff["raw.extra"]["kind"] == "added"
    text = lake("branch", "diff", "dev", "other").stdout
    assert text.startswith("diff --bauplan a/dev b/other\n")
    assert "+TABLE raw.extra\n" in text and "-TABLE bauplan.taxi_trips\n" in text
    assert "~TABLE bauplan.taxi_zones  rows 12 -> 24 (+12)" in text


def test_revert_brings_back_a_tables_state(lake):
    first = lake.head("dev")
    lake("table", "import", "taxi_zones", "--search-uri", ZONES, "--import-duplicate-files")
    assert lake.json("table", "get", "taxi_zones")["records"] == 24
    lake("table", "revert", "taxi_zones", "--source-ref", f"dev@{first[:10]}")
    info = lake.json("table", "get", "taxi_zones")
    assert info["records"] == 12
    assert len(info["history"]) == 2  # create (empty), then the import


def test_namespaces_and_table_filters(lake):
    lake("namespace", "create", "staging")
    assert "staging" in lake.json("namespace", "ls")
    proc = lake("namespace", "create", "staging", check=False)
    assert proc.returncode == 1 and "already exists" in proc.stderr
    lake.load("staging.zones", ZONES)
    proc = lake("namespace", "rm", "staging", check=False)
    assert proc.returncode == 1 and "not empty" in proc.stderr
    assert [t["name"] for t in lake.json("table", "ls", "--namespace", "staging")] == ["staging.zones"]
    assert [t["name"] for t in lake.json("table", "ls", "--name", "trips")] == ["bauplan.taxi_trips"]
    lake("table", "rm", "staging.zones")
    lake("table", "rm", "staging.zones", "--if-exists")
    lake("namespace", "rm", "staging")
    assert "staging" not in lake.json("namespace", "ls")


def test_main_is_protected_from_direct_writes(lake):
    for args in (
        ["table", "rm", "taxi_zones", "--branch", "main"],
        ["namespace", "create", "x", "--branch", "main"],
    ):
        proc = lake(*args, check=False)
        assert proc.returncode == 1 and "protected" in proc.stderr


def test_tags_rename_and_log_filters(lake):
    lake("tag", "create", "v1", "--from-ref", "dev")
    lake("tag", "rename", "v1", "v2")
    assert [t["name"] for t in lake.json("tag", "ls")] == ["v2"]
    log = lake.json("commit", "dev", "--message", "import into table bauplan.taxi_zones")
    assert len(log) == 1 and "taxi_zones" in log[0]["message"]
    assert lake.json("commit", "dev", "--author", "nobody") == []
    assert len(lake.json("commit", "dev", "--author", "tester")) == 4  # create + import, twice
    assert len(lake.json("commit", "dev", "--property", "sluice.operation=import")) == 2
    assert lake.json("commit", "dev", "--since", "2999-01-01") == []
    oneline = lake("commit", "dev", "--format", "oneline").stdout.strip().splitlines()
    assert len(oneline) == 5 and all(len(line.split()[0]) == 12 for line in oneline)
    assert "Parent:" in lake("commit", "dev", "--format", "full").stdout
    proc = lake("commit", "dev", "--since", "yesterday", check=False)
    assert proc.returncode == 1 and "--since" in proc.stderr


def test_the_example_runs_on_a_postgresql_catalog(tmp_path):
    import os

    import pytest
    from cli_harness import Sluice

    server = os.environ.get("SLUICE_TEST_POSTGRES")
    if not server:
        pytest.skip("SLUICE_TEST_POSTGRES is not set (make test sets it)")
    import subprocess

    database = f"e2e_{os.getpid()}"
    admin = ["psql", server, "-q", "-c"]
    subprocess.run(admin + [f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=True)
    subprocess.run(admin + [f"CREATE DATABASE {database}"], check=True)
    try:
        lake = Sluice(tmp_path / "home")
        lake.env["SLUICE_CATALOG"] = server.replace("/postgres?", f"/{database}?")
        assert lake.json("info")["catalog"].startswith("postgresql://")
        lake("checkout", "-b", "dev")
        lake.load("taxi_trips", TAXI / "data" / "taxi_trips.parquet")
        lake.load("taxi_zones", ZONES)
        lake("run", "--project-dir", TAXI)
        lake("branch", "merge", "dev", "--into-branch", "main")
        assert lake.query("SELECT COUNT(*) AS n FROM borough_stats", "main") == [{"n": 5}]
        # A second data home sharing the catalog sees the same branches.
        other = Sluice(tmp_path / "other")
        other.env["SLUICE_CATALOG"] = lake.env["SLUICE_CATALOG"]
        assert {b["name"] for b in other.json("branch", "ls")} == {"main", "dev"}
        lake.remove_shared_memory()
        other.remove_shared_memory()
    finally:
        subprocess.run(admin + [f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"], check=True)


def test_diff_shows_schema_changes(lake, make_project):
    def project(body):
        return make_project(
            {
                "models.py": "import bauplan\n\n"
                "@bauplan.model(materialization_strategy='REPLACE')\n"
                f"def shaped(z=bauplan.Model('taxi_zones')):\n    {body}\n"
            }
        )

    lake("run", "-p", project("return z"))
    lake("branch", "create", "reshaped", "--from-ref", "dev")
    lake(
        "run",
        "-p",
        project("return z.drop_columns(['zone']).append_column('n', z['zone_id'])"),
        "--ref",
        "reshaped",
    )
    change = {d["table"]: d for d in lake.json("branch", "diff", "dev", "reshaped")}["bauplan.shaped"]
    assert change["kind"] == "changed"
    assert "+ n int64" in change["schema_changes"] and "- zone string" in change["schema_changes"]
