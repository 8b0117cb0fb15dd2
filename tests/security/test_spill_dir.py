"""The spill directory (<home>/spill, src/data/spill_dir.h) planted with links and files: the
engine neither reads nor writes nor removes anything outside through them. And a spill directory
that cannot be written fails the run with one clear error naming the model and the path, with
nothing committed to the target."""

import os
import pathlib
import subprocess

import pytest

MIB = 1 << 20
ROWS = 24 * MIB // 8

# Two chained models of ~24 MiB under a 16 MiB budget: `first` must spill when `second` is
# written.
CHAIN = f"""
import bauplan


@bauplan.model(materialization_strategy="REPLACE")
@bauplan.python()
def first(zones=bauplan.Model("taxi_zones", columns=["zone_id"])):
    import pyarrow as pa
    import pyarrow.compute as pc

    ones = pa.nulls({ROWS}, pa.int64()).fill_null(1)
    return pa.table({{"v": pc.cumulative_sum(ones)}})


@bauplan.model(materialization_strategy="REPLACE")
@bauplan.python()
def second(t=bauplan.Model("first")):
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa.table({{"v": pc.multiply(t["v"], 3)}})
"""


def tree(path):
    """Every file under `path` with its content, links as their targets."""
    out = {}
    for p in sorted(pathlib.Path(path).rglob("*")):
        out[str(p)] = ("link", os.readlink(p)) if p.is_symlink() else p.read_bytes() if p.is_file() else "dir"
    return out


def check_values(lake):
    (row,) = lake.json("query", "SELECT count(*) AS c, sum(v) AS s FROM second")
    assert (row["c"], int(row["s"])) == (ROWS, 3 * ROWS * (ROWS + 1) // 2)


@pytest.fixture
def outside(tmp_path):
    d = tmp_path / "outside"
    d.mkdir()
    (d / "secret").write_bytes(b"not the engine's")
    return d


def test_links_planted_in_the_spill_directory_are_not_followed(lake, make_project, outside):
    lake.env["SLUICE_MEMORY_BUDGET"] = "16MiB"
    spill = pathlib.Path(lake.json("info")["spill_dir"])
    spill.mkdir(mode=0o700)
    # Where every run's directory goes: a link to a directory outside.
    os.symlink(outside, spill / "runs")
    before = tree(outside)
    project = make_project({"models.py": CHAIN})
    proc = lake("run", "-p", project, check=False)
    # The spill cannot go through the link: the run fails clearly, nothing lands outside.
    assert proc.returncode != 0
    # (The first spill is the scan of taxi_zones, pushed out when `first` is written.)
    assert "model 'first'" in proc.stderr and str(spill / "runs") in proc.stderr, proc.stderr
    assert tree(outside) == before
    assert "second" not in lake.tables("dev")
    # With the link gone, the same run goes through.
    (spill / "runs").unlink()
    lake("run", "-p", project)
    check_values(lake)
    assert tree(outside) == before


def test_a_spill_directory_that_is_a_link_is_refused(lake, make_project, outside):
    lake.env["SLUICE_MEMORY_BUDGET"] = "16MiB"
    spill = pathlib.Path(lake.json("info")["spill_dir"])
    os.symlink(outside, spill)
    before = tree(outside)
    proc = lake("run", "-p", make_project({"models.py": CHAIN}), check=False)
    assert proc.returncode != 0
    assert "spill directory" in proc.stderr and str(spill) in proc.stderr, proc.stderr
    assert tree(outside) == before
    lake("gc")  # gc does not follow it either
    assert tree(outside) == before


def test_a_planted_file_at_a_spill_path_is_replaced_not_written_through(lake, make_project, outside):
    """The job id is not known ahead, so the link is planted while the run waits: a model that
    sleeps after `first` spilled. Every file of the run's spill directory becomes a link to a
    file outside; the run then reads `first` again (its write step) and must refuse the link,
    and the file outside must be untouched."""
    lake.env["SLUICE_MEMORY_BUDGET"] = "16MiB"

    sleepy = CHAIN.replace(
        '    return pa.table({"v": pc.multiply(t["v"], 3)})',
        '    import time\n    print("going to sleep", flush=True)\n    time.sleep(3)\n'
        '    return pa.table({"v": pc.multiply(t["v"], 3)})',
    )
    project = make_project({"models.py": sleepy})
    proc, _ = lake.start_run(project)
    spill = pathlib.Path(lake.json("info")["spill_dir"])
    planted = []
    for f in (spill / "runs").rglob("*"):
        if f.is_file():
            f.unlink()
            os.symlink(outside / "secret", f)
            planted.append(f)
    _, stderr = proc.communicate(timeout=120)
    before = {str(outside / "secret"): b"not the engine's"}
    assert tree(outside) == before
    assert planted  # `first` (and the scan) had spilled while `second` slept
    # `first` is read again from its spill file if its write step had not mapped it yet: the
    # link is refused; either way nothing outside was read as an object or written.
    assert proc.returncode == 0 or "was replaced or changed" in stderr or "Too many levels" in stderr, stderr
    assert not any(p.exists() or p.is_symlink() for p in planted)  # released with the run


def test_an_unwritable_spill_directory_is_one_clear_error(lake, make_project):
    lake.env["SLUICE_MEMORY_BUDGET"] = "16MiB"
    spill = pathlib.Path(lake.json("info")["spill_dir"])
    spill.mkdir(mode=0o700)
    before = lake.head("dev")
    if os.geteuid() == 0:
        # root writes through a mode: make it immutable instead.
        if subprocess.run(["chattr", "+i", str(spill)], capture_output=True).returncode != 0:
            pytest.skip("chattr +i is not available here")
    else:
        spill.chmod(0o500)
    try:
        proc = lake("run", "-p", make_project({"models.py": CHAIN}), check=False)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(spill)], check=True)
        spill.chmod(0o700)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, proc.stderr
    assert "model 'first'" in errors[0] and str(spill / "runs") in errors[0], errors[0]
    assert lake.head("dev") == before
    assert "second" not in lake.tables("dev")
    info = lake.json("info")
    assert not list((pathlib.Path(info["shared_memory"]) / "runs").rglob("*.arrow"))
