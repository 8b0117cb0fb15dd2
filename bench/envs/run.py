"""bench/envs: what a model's environment costs, Sluice (resolve + content-addressed store +
assembly) against building a fresh virtualenv the usual ways, all with the same warm download
caches (one UV_CACHE_DIR).

Steps, for a model needing pandas, pyarrow and one small package (tabulate):
  (a) first run with an empty package store
  (b) re-run with nothing changed
  (c) re-run after adding one more small package (humanize)
Sluice's cost is what the run reports as environment_seconds: resolving (or finding the
cached resolution) and assembling the store directories. The peers:
`uv venv` + `uv pip install`, and `python -m venv` + `pip install`, each from scratch for (a)
and (c) and a no-op install for (b). (c) is also set against uv installing the one new
package alone into a venv that has the rest.

Then warm starts: the time from a call asking for its worker to the first line of user code,
for models importing pandas, pyarrow and tabulate at their top: forked from the
environment's zygote, against a fresh interpreter per call (SLUICE_ZYGOTES=0).

Usage: .venv/bin/python bench/envs/run.py
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
from sluice_run import ROOT, SLUICE, dry_run_models  # noqa: E402

UV = ROOT / ".venv" / "bin" / "uv"
PYTHON = sys.executable
BASE = {"pandas": "2.2.3", "pyarrow": "23.0.1", "tabulate": "0.9.0"}
EXTRA = {"humanize": "4.11.0"}

MODEL = """import bauplan

@bauplan.python("3.11"{pip})
@bauplan.model()
def m():
    return [{{"x": 1}}]
"""


def write_project(directory, packages):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "bauplan_project.yml").write_text("project:\n  name: envs\n")
    pip = f", pip={packages!r}" if packages else ""
    (directory / "models.py").write_text(MODEL.format(pip=pip))


def timed(argv, env=None):
    start = time.monotonic()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.monotonic() - start


def sluice_steps(work):
    env = dict(os.environ, SLUICE_HOME=str(work / "home"), SLUICE_STORE=str(work / "store"))
    project = work / "project"

    def run(packages):
        write_project(project, packages)
        out = subprocess.run(
            [str(SLUICE), "-O", "json", "run", "-p", str(project), "--ref", "main", "--dry-run"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        return json.loads(out)["environment_seconds"]

    a = []
    for _ in range(3):  # each time with an empty store: nothing resolved or installed yet
        shutil.rmtree(work / "store", ignore_errors=True)
        a.append(run(BASE))
    a = statistics.median(a)
    b = statistics.median(run(BASE) for _ in range(5))
    c = []
    for _ in range(3):  # each time as if the package were new: no resolution, not in the store
        shutil.rmtree(work / "store" / "resolutions", ignore_errors=True)
        (work / "store" / "resolutions").mkdir()
        for package in EXTRA:
            for installed in (work / "store" / "packages").glob(f"{package}-*"):
                shutil.rmtree(installed)
        c.append(run({**BASE, **EXTRA}))
    c = statistics.median(c)
    return a, b, c


def venv_steps(work, use_uv):
    venv = work / ("uv-venv" if use_uv else "pip-venv")
    specs = [f"{k}=={v}" for k, v in BASE.items()]
    extra = [f"{k}=={v}" for k, v in EXTRA.items()]
    py = venv / "bin" / "python"

    def create():
        shutil.rmtree(venv, ignore_errors=True)
        if use_uv:
            return timed([str(UV), "venv", "-q", "--python", PYTHON, str(venv)])
        return timed([PYTHON, "-m", "venv", str(venv)])

    def install(packages):
        if use_uv:
            return timed([str(UV), "pip", "install", "-q", "--python", str(py), *packages])
        return timed([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages])

    # Warm the download caches first, as the comparison promises.
    create()
    install(specs + extra)
    a = create() + install(specs)
    b = install(specs)
    c = create() + install(specs + extra)
    if not use_uv:
        return a, b, c, None
    one = []
    for _ in range(5):  # the one new package alone, into the venv that has the rest
        subprocess.run(
            [str(UV), "pip", "uninstall", "-q", "--python", str(py), *EXTRA], check=True, capture_output=True
        )
        one.append(install(extra))
    return a, b, c, statistics.median(one)


WARM_MODELS = 5
WARM_PROJECT = "import bauplan\nimport pandas\nimport pyarrow\nimport tabulate\n" + "".join(
    f"""
@bauplan.python("3.11", pip={{"tabulate": "0.9.0"}})
@bauplan.model()
def m{i}():
    return [{{"x": {i}}}]
"""
    for i in range(WARM_MODELS)
)


def warm_start_steps(work):
    """Median ms from asking for a worker to user code: zygote forks, first call, fresh."""
    project = work / "warm-project"
    project.mkdir()
    (project / "bauplan_project.yml").write_text("project:\n  name: warm\n")
    (project / "models.py").write_text(WARM_PROJECT)

    def starts(zygotes):
        env = dict(
            os.environ,
            SLUICE_HOME=str(work / "home"),
            SLUICE_STORE=str(work / "store"),
            SLUICE_ZYGOTES="1" if zygotes else "0",
        )
        models = dry_run_models(project, env)
        return [(m["user_start"] - m["worker_start"]) * 1e3 for m in models]

    fork, first, fresh = [], [], []
    for _ in range(3):
        zygote = starts(True)
        first.append(zygote[0])
        fork += zygote[1:]
        fresh += starts(False)
    return statistics.median(fork), statistics.median(first), statistics.median(fresh)


def main():
    with tempfile.TemporaryDirectory(dir=pathlib.Path.home() / ".cache") as tmp:
        work = pathlib.Path(tmp)
        # One uv cache for everyone, on the store's filesystem, warmed by the venv steps.
        os.environ["UV_CACHE_DIR"] = str(work / "uv-cache")
        rows = {"uv venv": venv_steps(work, True), "python -m venv + pip": venv_steps(work, False)}
        rows = {"sluice": sluice_steps(work) + (None,), **rows}
        fork, first, fresh = warm_start_steps(work)
    print(f"{'':24}{'(a) first':>12}{'(b) unchanged':>15}{'(c) +1 package':>16}")
    for name, (a, b, c, _) in rows.items():
        print(f"{name:24}{a * 1e3:>10.0f}ms{b * 1e3:>13.0f}ms{c * 1e3:>14.0f}ms")
    s = rows["sluice"]
    for name in ("uv venv", "python -m venv + pip"):
        p = rows[name]
        print(
            f"ratio {name} / sluice: " + "  ".join(f"{x / max(y, 1e-3):.1f}x" for x, y in zip(p[:3], s[:3]))
        )
    one = rows["uv venv"][3]
    print(
        f"(c) against uv installing only {', '.join(EXTRA)}: sluice {s[2] * 1e3:.0f} ms, "
        f"uv {one * 1e3:.0f} ms, sluice / uv = {s[2] / one:.2f} (goal < 1.2)"
    )
    print(
        f"\nworker start to user code (median ms; {WARM_MODELS} models of one environment, "
        "pandas + pyarrow + tabulate imported)"
    )
    print(f"  forked from the zygote      {fork:8.1f} ms   (goal < 15 ms)")
    print(f"  first call (zygote starts)  {first:8.1f} ms")
    print(f"  fresh interpreter           {fresh:8.1f} ms")
    print(f"ratio fresh / zygote: {fresh / fork:.0f}x")


if __name__ == "__main__":
    main()
