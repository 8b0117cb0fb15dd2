"""The bundled taxi example, end to end through the CLI, and external readers of its output."""

import json
import subprocess
import sys

from cli_harness import TAXI


def test_example_runs_and_materializes_on_the_branch(lake):
    main_before = lake.head("main")
    proc = lake("run", "--project-dir", TAXI)
    out = proc.stdout
    # The DAG is printed, then a line per model, and what the models print is tagged.
    for model in ("trips_with_zones", "clean_trips", "borough_stats", "every_borough_has_trips"):
        assert model in out
    assert "[clean_trips] clean_trips: kept" in out
    assert "bauplan.borough_stats" in lake.tables("dev")
    # Runs never write main.
    assert lake.head("main") == main_before
    assert "bauplan.borough_stats" not in lake.tables("main")
    # The run branch was merged and removed.
    branches = {b["name"] for b in lake.json("branch", "ls")}
    assert branches == {"main", "dev"}


def test_example_results_match_a_reference_computation(lake):
    lake("run", "--project-dir", TAXI)
    rows = lake.query("SELECT borough, trips, total_miles FROM borough_stats ORDER BY borough", "dev")
    # The same pipeline computed directly with DuckDB over the bundled files.
    code = f"""
import duckdb, json
con = duckdb.connect()
r = con.execute('''
  SELECT z.borough, COUNT(*) AS trips, ROUND(SUM(t.miles), 2) AS total_miles
  FROM '{TAXI}/data/taxi_trips.parquet' t JOIN '{TAXI}/data/taxi_zones.csv' z USING (zone_id)
  WHERE t.miles >= 0.5 AND t.pickup_at >= TIMESTAMPTZ '2024-01-01 00:00:00+00'
  GROUP BY 1 ORDER BY 1''').fetchall()
print(json.dumps(r))
"""
    expected = json.loads(
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    )
    assert [[r["borough"], r["trips"]] for r in rows] == [e[:2] for e in expected]
    for row, exp in zip(rows, expected):
        assert abs(row["total_miles"] - exp[2]) < 0.011
    assert len(rows) == 5


def test_merge_into_main_then_query_main(lake):
    lake("run", "--project-dir", TAXI)
    lake("branch", "merge", "dev", "--into-branch", "main")
    assert "bauplan.borough_stats" in lake.tables("main")
    out = lake("query", "SELECT COUNT(*) AS n FROM borough_stats", "--ref", "main").stdout
    assert "5" in out


def test_pyiceberg_reads_the_materialized_table(lake):
    lake("run", "--project-dir", TAXI)
    table = lake.json("table", "get", "borough_stats", "--ref", "dev")
    ours = lake.query("SELECT * FROM borough_stats ORDER BY borough", "dev")
    code = f"""
import json
from pyiceberg.table import StaticTable
t = StaticTable.from_metadata({table["metadata_location"]!r}).scan().to_arrow()
print(json.dumps(t.sort_by('borough').to_pylist()))
"""
    theirs = json.loads(
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    )
    assert theirs == ours
    assert table["records"] == 5


def test_dry_run_writes_nothing(lake):
    before = lake.head("dev")
    proc = lake("run", "--project-dir", TAXI, "--dry-run")
    assert "dry run" in proc.stdout
    assert lake.head("dev") == before
    assert "bauplan.borough_stats" not in lake.tables("dev")


def test_runs_refuse_the_protected_main_branch(lake):
    proc = lake("run", "--project-dir", TAXI, "--ref", "main", check=False)
    assert proc.returncode != 0
    assert "protected" in proc.stderr and "main" in proc.stderr


def test_table_import_and_get(sluice):
    sluice("checkout", "-b", "imports")
    zones = TAXI / "data" / "taxi_zones.csv"
    out = sluice("table", "create", "taxi_zones", "--search-uri", zones).stdout
    assert "created table bauplan.taxi_zones" in out
    info = sluice.json("table", "get", "taxi_zones")
    assert info["records"] == 0
    assert [f["name"] for f in info["fields"]] == ["zone_id", "zone", "borough"]
    out = sluice("table", "import", "taxi_zones", "--search-uri", zones).stdout
    assert "imported 12 rows" in out
    assert sluice.json("table", "get", "taxi_zones")["records"] == 12
    # The same file again is skipped, unless asked for; then it appends.
    sluice("table", "import", "taxi_zones", "--search-uri", zones)
    assert sluice.json("table", "get", "taxi_zones")["records"] == 12
    sluice("table", "import", "taxi_zones", "--search-uri", zones, "--import-duplicate-files")
    assert sluice.json("table", "get", "taxi_zones")["records"] == 24
    # Imports never write main.
    proc = sluice(
        "table",
        "create",
        "t",
        "--search-uri",
        TAXI / "data" / "taxi_zones.csv",
        "--branch",
        "main",
        check=False,
    )
    assert proc.returncode != 0 and "protected" in proc.stderr


def test_import_of_missing_files_names_the_path(sluice):
    sluice("checkout", "-b", "imports")
    proc = sluice("table", "import", "t", "--search-uri", "/nonexistent/*.parquet", check=False)
    assert proc.returncode != 0
    assert "/nonexistent" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_branches_are_isolated_and_time_travel_works(lake):
    first = lake.head("dev")
    lake("branch", "create", "other", "--from-ref", "dev")
    lake("run", "--project-dir", TAXI)
    assert "bauplan.borough_stats" in lake.tables("dev")
    assert "bauplan.borough_stats" not in lake.tables("other")
    assert "bauplan.borough_stats" not in lake.tables(f"dev@{first[:12]}")
    assert "bauplan.taxi_trips" in lake.tables(f"@{first}")


def test_data_homes_do_not_share_state(tmp_path):
    from cli_harness import Sluice

    a, b = Sluice(tmp_path / "a"), Sluice(tmp_path / "b")
    a("checkout", "-b", "only.in.a")
    assert {x["name"] for x in b.json("branch", "ls")} == {"main"}
    assert a.json("info")["shared_memory"] != b.json("info")["shared_memory"]
    a.remove_shared_memory()
    b.remove_shared_memory()
