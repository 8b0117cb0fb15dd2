"""bench/envs: what a model's environment costs, Sluice (resolve + content-addressed store +
assembly) against building a fresh virtualenv the usual ways, all with the same warm download caches (one UV_CACHE_DIR).

Steps, for a model needing pandas, pyarrow and one small package (tabulate):
  (a) first run with an empty package store
  (b) re-run with nothing changed
  (c) re-run after adding one more small package (humanize)
Sluice's overhead is the run's wall time minus the same run with no pip declared. The peers:
`uv venv` + `uv pip install`, and `python -m venv` + `pip install`, each from scratch for (a)
and (c) and a no-op install for (b).

Usage: .venv/bin/python bench/envs/run.py
"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = ROOT / "build" / "sluice"
UV = ROOT / ".venv" / "bin" / "uv"
PYTHON = sys.executable
BASE = {"pandas": "2.2.3", "pyarrow": "23.0.1", "tabulate": "0.9.0"}
EXTRA = {"humanize": "4.11.0"}

MODEL = '''import bauplan

@bauplan.python("3.11"{pip})
@bauplan.model()
def m():
    return [{{"x": 1}}]
'''


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
        return timed([str(SLUICE), "run", "-p", str(project), "--ref", "main", "--dry-run"], env)

    baseline = min(run(None) for _ in range(3))
    a = run(BASE) - baseline
    b = min(run(BASE) for _ in range(3)) - baseline
    c = run({**BASE, **EXTRA}) - baseline
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
    return a, b, c


def main():
    with tempfile.TemporaryDirectory(dir=pathlib.Path.home() / ".cache") as tmp:
        work = pathlib.Path(tmp)
        # One uv cache for everyone, on the store's filesystem, warmed by the venv steps.
        os.environ["UV_CACHE_DIR"] = str(work / "uv-cache")
        rows = {"uv venv": venv_steps(work, True), "python -m venv + pip": venv_steps(work, False)}
        rows = {"sluice": sluice_steps(work), **rows}
    print(f"{'':24}{'(a) first':>12}{'(b) unchanged':>15}{'(c) +1 package':>16}")
    for name, (a, b, c) in rows.items():
        print(f"{name:24}{a * 1e3:>10.0f}ms{b * 1e3:>13.0f}ms{c * 1e3:>14.0f}ms")
    s = rows["sluice"]
    for name in ("uv venv", "python -m venv + pip"):
        p = rows[name]
        print(f"ratio {name} / sluice: " + "  ".join(
            f"{x / max(y, 1e-3):.1f}x" for x, y in zip(p, s)))


if __name__ == "__main__":
    main()
