"""`sluice gc` beyond shared memory (issue 9 §6): the run branches failed runs keep, and the
warehouse files no commit reaches (Iceberg's orphan-file removal). Checked from outside: which
branches exist, which files are on disk, and that every table still reads at every commit."""

import os
import pathlib
import textwrap
import time

FAILING_PROJECT = "import bauplan\n" + textwrap.dedent("""
    @bauplan.model(materialization_strategy="REPLACE")
    def zones_copy(zones=bauplan.Model("taxi_zones")):
        return zones

    @bauplan.model(materialization_strategy="REPLACE")
    def broken(zones=bauplan.Model("zones_copy")):
        raise ValueError("bad zone data")
    """)

GOOD_PROJECT = FAILING_PROJECT.split("@bauplan.model", 2)
GOOD_PROJECT = GOOD_PROJECT[0] + "@bauplan.model" + GOOD_PROJECT[1]  # zones_copy alone

WEEK_AGO = time.time() - 8 * 86400


def warehouse_files(lake):
    return {p for p in (lake.home / "warehouse").rglob("*") if p.is_file() and not p.is_symlink()}


def run_branches(lake):
    return [b["name"] for b in lake.json("branch", "ls", "--runs")]


def failed_run(lake, make_project):
    project = make_project({"models.py": FAILING_PROJECT})
    assert lake("run", "-p", project, check=False).returncode != 0
    (kept,) = run_branches(lake)
    return kept


def test_a_failed_runs_branch_is_listed_apart_and_collected_after_its_retention(lake, make_project):
    kept = failed_run(lake, make_project)
    assert ".run-" in kept
    assert kept not in [b["name"] for b in lake.json("branch", "ls")]  # not among the user's
    assert "bauplan.zones_copy" in lake.tables(kept)  # what did materialize, for inspection

    report = lake.json("gc")  # the default retention (7 days) keeps a run that just ended
    assert report["run_branches_removed"] == [] and report["run_branches_kept"] == 1
    report = lake.json("gc", "--run-retention", "0", "--dry-run")
    assert report["run_branches_removed"] == [kept]
    assert run_branches(lake) == [kept]  # a dry run deletes nothing

    report = lake.json("gc", "--run-retention", "0")
    assert report["run_branches_removed"] == [kept]
    assert run_branches(lake) == []
    assert "bauplan.taxi_zones" in lake.tables("dev")  # the user's branches are untouched


def test_orphan_files_go_and_every_commit_still_reads(lake, make_project):
    before_run = lake.head("dev")
    failed_run(lake, make_project)
    lake("run", "-p", make_project({"models.py": GOOD_PROJECT}))
    assert "bauplan.zones_copy" in lake.tables("dev")
    lake("gc", "--run-retention", "0")  # the failed run's files are unreachable now

    table_dir = next((lake.home / "warehouse").rglob("data"))
    planted = table_dir / "left-by-a-killed-import.parquet"
    planted.write_bytes(b"PAR1 not really")
    young = table_dir / "being-written-now.parquet"
    young.write_bytes(b"PAR1 in flight")
    outside = lake.home.parent / "not-in-the-warehouse.txt"
    outside.write_text("keep me")
    link = table_dir / "link-out"
    link.symlink_to(outside)
    for path in warehouse_files(lake) - {young}:
        os.utime(path, (WEEK_AGO, WEEK_AGO))

    report = lake.json("gc", "--dry-run")
    dry = {pathlib.Path(p) for p in report["orphan_files_removed"]}
    assert planted in dry and young not in dry
    assert planted.exists()

    report = lake.json("gc")
    removed = {pathlib.Path(p) for p in report["orphan_files_removed"]}
    assert planted in removed and not planted.exists()
    assert young.exists() and report["orphan_files_too_young"] >= 1
    assert outside.read_text() == "keep me" and link.is_symlink()
    # Whatever gc removed, no commit reached: every table reads at every commit of dev.
    assert removed.isdisjoint(warehouse_files(lake))
    for commit in lake.json("commit", "dev"):
        ref = "dev@" + commit["id"]
        for table in lake.tables(ref):
            lake.query(f"SELECT count(*) AS n FROM {table.split('.')[-1]}", ref)
    assert lake.query("SELECT count(*) AS n FROM taxi_zones", "dev@" + before_run)[0]["n"] > 0


def test_a_bad_duration_is_one_clear_error(lake):
    proc = lake("gc", "--orphan-age", "soon", check=False)
    assert proc.returncode != 0
    assert "--orphan-age 'soon' is not a duration" in proc.stderr
    assert "Traceback" not in proc.stderr
