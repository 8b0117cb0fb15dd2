"""Nothing leaks (issue 9 §6): `sluice gc` gives back the shared memory of data homes deleted
since and of runs killed before they released theirs, and touches nothing still in use."""

import os
import pathlib
import shutil
import signal
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq
from cli_harness import SLUICE, Sluice

SLOW = """
import time

import bauplan


@bauplan.model(materialization_strategy="REPLACE")
def slow(z=bauplan.Model("z")):
    time.sleep(60)
    return z
"""


def shared_memory(home):
    home("branch", "ls")  # the data home is opened, so its shared memory exists
    return pathlib.Path(home.json("info")["shared_memory"])


def test_gc_removes_the_shared_memory_of_a_deleted_home_and_nothing_in_use(tmp_path):
    gone, here = Sluice(tmp_path / "gone"), Sluice(tmp_path / "here")
    gone_root, here_root = shared_memory(gone), shared_memory(here)
    assert (gone_root / "home").read_text() == str(gone.home)
    shutil.rmtree(gone.home)
    dry = here.json("gc", "--dry-run")
    assert str(gone_root) in dry["removed"] and gone_root.exists()
    report = here.json("gc")
    assert str(gone_root) in report["removed"] and str(here_root) not in report["removed"]
    assert not gone_root.exists() and here_root.exists()
    # A second pass has nothing left to do.
    assert str(gone_root) not in here.json("gc")["removed"]
    here.remove_shared_memory()


def test_gc_gives_back_a_killed_runs_objects_but_not_a_running_ones(tmp_path, make_project):
    home = Sluice(tmp_path / "home")
    home("checkout", "-b", "dev")
    source = tmp_path / "z.parquet"
    pq.write_table(pa.table({"a": list(range(1000))}), source)
    home("table", "create", "z", "--search-uri", source)
    home("table", "import", "z", "--search-uri", source)
    runs = shared_memory(home) / "runs"
    project = make_project({"models.py": SLOW})
    # The run in the CLI's own process, which is what gets killed here.
    home.env["SLUICE_SERVER"] = "off"
    run = subprocess.Popen([str(SLUICE), "run", "-p", str(project)], env=home.env, start_new_session=True)
    try:
        for _ in range(600):
            if runs.exists() and any(p.iterdir() for p in runs.iterdir()):
                break
            time.sleep(0.05)
        (folder,) = list(runs.iterdir())
        # While the run is alive, gc leaves its objects alone.
        assert str(folder) not in home.json("gc")["removed"] and folder.exists()
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert folder.exists()  # a killed run never releases its own
    report = home.json("gc")
    assert str(folder) in report["removed"] and not folder.exists() and report["bytes"] > 0
    job = home.json("job", "get", folder.name)
    assert job["status"] == "ABORT"
    home.remove_shared_memory()


def test_a_forged_home_marker_cannot_get_a_live_homes_objects_removed(tmp_path):
    """A model can write in its home's shared memory: a marker naming a missing home (or a link
    in its place) must not make another home's gc remove that live home's objects."""
    victim, other = Sluice(tmp_path / "victim"), Sluice(tmp_path / "other")
    root = shared_memory(victim)
    marker = root / "home"
    for forge in (
        lambda: marker.write_text(str(tmp_path / "no_such_home")),
        lambda: (marker.unlink(), marker.symlink_to(tmp_path / "elsewhere.txt")),
    ):
        forge()
        report = other.json("gc")
        assert str(root) not in report["removed"] and str(root) in report["unknown"]
        assert root.exists() and victim.home.exists()
    marker.unlink()
    victim.remove_shared_memory()
    other.remove_shared_memory()


def test_a_serving_server_collects_in_the_background(tmp_path):
    """`sluice serve` collects at start and then every SLUICE_GC_INTERVAL_SECONDS: the shared
    memory of a home deleted while it serves goes without anyone running `sluice gc`."""
    gone, here = Sluice(tmp_path / "gone"), Sluice(tmp_path / "here")
    gone_root = shared_memory(gone)
    here.env["SLUICE_GC_INTERVAL_SECONDS"] = "0.5"
    with here.serving():
        shutil.rmtree(gone.home)
        deadline = time.monotonic() + 30
        while gone_root.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not gone_root.exists(), "the server never collected a deleted home's shared memory"
        assert shared_memory(here).exists()
    here.remove_shared_memory()
