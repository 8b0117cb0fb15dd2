"""The object store's memory budget (src/data/memory_budget.h): a pipeline whose intermediates
are several times the budget finishes with the right values, the least recently used objects
spill to <home>/spill and are read back from there, the report says how much, and nothing of
the run is left in shared memory or in the spill directory afterwards."""

import os
import pathlib

import pytest

MIB = 1 << 20
ROWS = 60 * MIB // 8  # one int64 column: each model's output is ~60 MiB

# Three chained models, each returning ~60 MiB; all three materialized, so the write of the
# first reads it back from disk after the others pushed it out.
CHAIN = f"""
import bauplan

ROWS = {ROWS}


@bauplan.model(materialization_strategy="REPLACE")
@bauplan.python()
def first(zones=bauplan.Model("taxi_zones", columns=["zone_id"])):
    import pyarrow as pa
    import pyarrow.compute as pc

    ones = pa.nulls(ROWS, pa.int64()).fill_null(1)
    return pa.table({{"v": pc.subtract(pc.cumulative_sum(ones), 1)}})


@bauplan.model(materialization_strategy="REPLACE")
@bauplan.python()
def second(t=bauplan.Model("first")):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa.table({{"v": pc.multiply(t["v"], 2)}})


@bauplan.model(materialization_strategy="REPLACE")
@bauplan.python()
def third(t=bauplan.Model("second")):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa.table({{"v": pc.add(t["v"], 1)}})
"""


def files_under(path):
    path = pathlib.Path(path)
    return [p for p in path.rglob("*") if not p.is_dir()] if path.exists() else []


def leftovers(sluice):
    """Objects of runs or queries still in shared memory, and anything in the spill dir."""
    info = sluice.json("info")
    shm = pathlib.Path(info["shared_memory"])
    return files_under(shm / "runs") + files_under(shm / "queries") + files_under(info["spill_dir"])


@pytest.mark.parametrize("shared_heap", ["on", "off"])
def test_a_chain_several_times_the_budget_spills_and_finishes(lake, make_project, shared_heap):
    # Outputs as heap tables (the workers' memory, spilled as the IPC files they describe) and
    # as IPC files.
    lake.env["SLUICE_MEMORY_BUDGET"] = "48MiB"
    lake.env["SLUICE_SHARED_HEAP"] = shared_heap
    info = lake.json("info")
    assert info["memory_budget_bytes"] == 48 * MIB
    assert info["memory_budget_source"] == "SLUICE_MEMORY_BUDGET"
    project = make_project({"models.py": CHAIN})

    report = lake.json("run", "-p", project)
    assert report["job_status"] == "SUCCESS", report
    assert report["memory_budget_bytes"] == 48 * MIB
    # first and second at least went to disk while the next model was written.
    assert report["spilled_bytes"] >= 2 * ROWS * 8
    shared = [m["output_shared_bytes"] for m in report["models"]]
    assert all(b >= ROWS * 8 for b in shared) if shared_heap == "on" else not any(shared)
    # Never more than the budget plus the one object being written (each is larger than it).
    one_object = ROWS * 8 + MIB  # the IPC framing
    assert 0 < report["peak_shared_memory_bytes"] <= 48 * MIB + one_object

    n = ROWS
    for table, (total, low, high) in {
        "first": (n * (n - 1) // 2, 0, n - 1),
        "second": (n * (n - 1), 0, 2 * (n - 1)),
        "third": (n * n, 1, 2 * n - 1),
    }.items():
        (row,) = lake.json(
            "query", f"SELECT count(*) AS c, sum(v) AS s, min(v) AS lo, max(v) AS hi FROM {table}"
        )
        assert (row["c"], int(row["s"]), row["lo"], row["hi"]) == (n, total, low, high), table

    assert leftovers(lake) == []
    text = lake("run", "-p", project).stdout
    assert "spilled" in text and "peak shared memory" in text
    assert leftovers(lake) == []


def test_the_budget_is_shown_and_set_in_the_data_home(sluice):
    sluice.env.pop("SLUICE_MEMORY_BUDGET", None)
    info = sluice.json("info")
    assert info["memory_budget_bytes"] > 0
    assert info["memory_budget_source"].startswith("default")
    assert isinstance(info["shared_memory_live_bytes"], int)
    sluice("config", "set", "memory.budget", "1GiB")
    assert sluice.json("config", "get", "memory.budget")["memory.budget"] == 1 << 30
    assert sluice.json("info")["memory_budget_bytes"] == 1 << 30
    bad = sluice("config", "set", "memory.budget", "lots", check=False)
    assert bad.returncode != 0 and "memory.budget 'lots'" in bad.stderr
    sluice.env["SLUICE_MEMORY_BUDGET"] = "2X"
    bad = sluice("info", check=False)
    assert "SLUICE_MEMORY_BUDGET '2X'" in bad.stdout + bad.stderr
    assert "memory_budget" in sluice("info", check=False).stdout


def test_a_failed_run_leaves_nothing_in_shared_memory_or_on_disk(lake, make_project):
    lake.env["SLUICE_MEMORY_BUDGET"] = "48MiB"
    failing = CHAIN.replace('return pa.table({"v": pc.add(t["v"], 1)})', 'raise ValueError("no third")')
    project = make_project({"models.py": failing})
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "no third" in proc.stderr
    assert leftovers(lake) == []


def test_gc_removes_the_spill_files_of_runs_that_are_not_running(lake):
    info = lake.json("info")
    spill = pathlib.Path(info["spill_dir"])
    dead = spill / "runs" / "deadjob00000"
    dead.mkdir(parents=True)
    (dead / "m.arrow").write_bytes(b"ARROW1" + b"\0" * 100)
    outside = spill.parent.parent / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    os.symlink(outside, spill / "runs" / "linkjob00000")
    out = lake.json("gc")
    assert str(dead) in out["removed"]
    assert not dead.exists()
    assert (outside / "keep").read_text() == "keep"  # a link there is not followed


def test_a_cancelled_run_leaves_nothing_in_shared_memory_or_on_disk(lake, make_project):
    import signal

    from cli_harness import wait_for

    lake.env["SLUICE_MEMORY_BUDGET"] = "48MiB"
    sleepy = CHAIN.replace(
        'return pa.table({"v": pc.add(t["v"], 1)})',
        'print("going to sleep", flush=True)\n    __import__("time").sleep(120)',
    )
    project = make_project({"models.py": sleepy})
    proc, output = lake.start_run(project)
    job_id = output.splitlines()[0].split()[1].rstrip(":")
    # first and second were pushed out to disk by the time third runs.
    assert files_under(pathlib.Path(lake.json("info")["spill_dir"]) / "runs" / job_id)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    wait_for(lambda: lake.json("job", "get", job_id)["status"] != "RUNNING", timeout=60)
    assert wait_for(lambda: leftovers(lake) == [], timeout=30)
