"""bench/warm: the bundled example's `sluice run` cold (SLUICE_SERVER=off: every run starts
its interpreters, zygotes and DuckDB) against warm (the data home's background server,
started by the first run and reused), and both against the same pipeline written by hand as
one DuckDB + pandas script (bench/warm/by_hand.py, run as a fresh `python` each time, which is
what a user pays). Wall time of the whole command, as a user sees it; medians of N runs.

Usage: .venv/bin/python bench/warm/run.py [--runs N]
"""

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from sluice_run import ROOT, SLUICE  # noqa: E402

TAXI = ROOT / "examples" / "taxi"


def timed(args, env):
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True, text=True, timeout=300)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="sluice-bench-warm-") as tmp:
        env = dict(os.environ, SLUICE_HOME=f"{tmp}/home", SLUICE_USER="bench")
        env.pop("SLUICE_SERVER", None)
        env.pop("SLUICE_ENDPOINT", None)

        def sluice(*args, extra=None):
            return timed([str(SLUICE), *args], dict(env, **(extra or {})))

        sluice("checkout", "-b", "bench.dev")
        for table, name in (("taxi_trips", "taxi_trips.parquet"), ("taxi_zones", "taxi_zones.csv")):
            sluice("table", "create", table, "--search-uri", TAXI / "data" / name)
            sluice("table", "import", table, "--search-uri", TAXI / "data" / name)
        run = ("run", "-p", TAXI)
        off = {"SLUICE_SERVER": "off"}
        sluice(*run, extra=off)  # environments resolved and stored once, for every variant

        cold = [sluice(*run, extra=off) for _ in range(runs)]
        first = sluice(*run)  # starts the server
        warm = [sluice(*run) for _ in range(runs)]
        sluice("server", "stop")
        python = str(ROOT / ".venv" / "bin" / "python")
        script = [
            python,
            str(pathlib.Path(__file__).with_name("by_hand.py")),
            str(TAXI / "data"),
            f"{tmp}/stats.parquet",
        ]
        by_hand = [timed(script, env) for _ in range(runs)]

    med = {
        name: statistics.median(times)
        for name, times in (("cold", cold), ("warm", warm), ("by_hand", by_hand))
    }
    print(f"bench/warm: examples/taxi (4 models in 3 environments), {runs} runs each, medians")
    print(f"  sluice run, in-process (SLUICE_SERVER=off)   {med['cold']:7.3f} s")
    print(f"  sluice run, first (starts the server)        {first:7.3f} s")
    print(f"  sluice run, warm server                      {med['warm']:7.3f} s")
    print(f"  by hand: one DuckDB + pandas script          {med['by_hand']:7.3f} s")
    print(f"  cold / warm      {med['cold'] / med['warm']:6.2f}x")
    print(f"  warm / by hand   {med['warm'] / med['by_hand']:6.2f}x")
    print(f"  cold / by hand   {med['cold'] / med['by_hand']:6.2f}x")


if __name__ == "__main__":
    main()
