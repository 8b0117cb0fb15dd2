"""bench/sandbox: what isolating a model costs per call, Sluice against the usual way to
sandbox a Python function with a public tool.

Per call, the milliseconds from asking for a worker to the first line of user code, for a
model importing pandas and pyarrow at its top (five models, one at a time):
  sluice            a fork of the environment's warm zygote, in PID and mount namespaces of
                    its own, capabilities dropped, seccomp on (the default)
  sluice, no sandbox  the same fork with the sandbox turned off (SLUICE_SANDBOX=/bin/false):
                    what the isolation itself costs
  bwrap + python    bubblewrap (Debian's `bubblewrap`) starting a fresh interpreter in new
                    namespaces per call, which imports pandas and pyarrow: how one would
                    confine a function with bwrap, which can only exec a new process
Also each whole `sluice run` of the five models, sandboxed and not.

Usage: .venv/bin/python bench/sandbox/run.py
"""

import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from sluice_run import SLUICE, dry_run_models  # noqa: E402

MODELS = 5
PROJECT = "import bauplan\nimport pandas\nimport pyarrow\n" + "".join(
    f"""
@bauplan.model()
def m{i}():
    return [{{"x": {i}}}]
"""
    for i in range(MODELS)
)
ROUNDS = 5


def sluice_calls(work, sandboxed):
    env = dict(os.environ, SLUICE_HOME=str(work / "home"))
    if not sandboxed:
        env["SLUICE_SANDBOX"] = "/bin/false"  # the launcher's check fails: workers run unconfined
    starts, runs = [], []
    for _ in range(ROUNDS):
        began = time.monotonic()
        models = dry_run_models(work / "project", env)
        runs.append((time.monotonic() - began) * 1e3)
        starts += [(m["user_start"] - m["worker_start"]) * 1e3 for m in models[1:]]  # forks, not the first
    return statistics.median(starts), statistics.median(runs)


def bwrap_calls():
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return None
    argv = [
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",
        "--unshare-all",
        "--die-with-parent",
        "--cap-drop",
        "ALL",
        sys.executable,
        "-c",
        "import time, pandas, pyarrow; print(time.clock_gettime(time.CLOCK_MONOTONIC))",
    ]
    starts = []
    for _ in range(ROUNDS * (MODELS - 1)):
        began = time.clock_gettime(time.CLOCK_MONOTONIC)
        out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
        starts.append((float(out.split()[-1]) - began) * 1e3)
    return statistics.median(starts)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        (work / "project").mkdir()
        (work / "project" / "bauplan_project.yml").write_text("project:\n  name: sandbox\n")
        (work / "project" / "models.py").write_text(PROJECT)
        env = dict(os.environ, SLUICE_HOME=str(work / "home"))
        subprocess.run([str(SLUICE), "branch", "ls"], env=env, check=True, capture_output=True)
        sandboxed, sandboxed_run = sluice_calls(work, True)
        bare, bare_run = sluice_calls(work, False)
        # The data home's shared memory outlives its directory: give it back.
        info = subprocess.run(
            [str(SLUICE), "-O", "json", "info"], env=env, check=True, capture_output=True, text=True
        )
        shutil.rmtree(json.loads(info.stdout)["shared_memory"], ignore_errors=True)
    bwrap = bwrap_calls()
    print(f"{'per call, ask for a worker -> user code':44}{'median':>10}")
    print(f"{'sluice (sandboxed fork of a warm zygote)':44}{sandboxed:>8.1f}ms")
    print(f"{'sluice, sandbox off':44}{bare:>8.1f}ms")
    if bwrap is not None:
        print(f"{'bwrap + fresh python (pandas, pyarrow)':44}{bwrap:>8.1f}ms")
        print(f"ratio bwrap / sluice: {bwrap / max(sandboxed, 1e-3):.1f}x")
    else:
        print("bwrap not installed (Debian package bubblewrap): no comparison")
    print(f"isolation cost per call: {sandboxed - bare:+.1f}ms")
    print(
        f"whole run of {MODELS} models: sandboxed {sandboxed_run:.0f}ms, sandbox off {bare_run:.0f}ms "
        f"(ratio {sandboxed_run / max(bare_run, 1e-3):.2f})"
    )


if __name__ == "__main__":
    main()
