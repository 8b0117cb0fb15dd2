"""bench/catalog/sdk_calls.py: what one catalog call of the Python SDK costs, p50 and p95 in
milliseconds, for create_branch, get_branches, get_table and delete_branch:

  binary per call   the SDK before issue 8: each call runs `sluice -O json <command>`
  sluice api        the fallback transport: each call runs `sluice api` (one process)
  socket            embedded now: the data home's background server over its unix socket
  tcp               remote: `sluice serve` on 127.0.0.1

Usage: .venv/bin/python bench/catalog/sdk_calls.py [--calls 50]
"""

import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = ROOT / "build" / "sluice"
ZONES = ROOT / "examples" / "taxi" / "data" / "taxi_zones.csv"
sys.path.insert(0, str(ROOT / "python"))

import sluice  # noqa: E402
from sluice._transport import ProcessTransport  # noqa: E402


def old_path(env):
    """The SDK's calls as they were: one binary run per call, JSON on stdout."""

    def call(*args):
        proc = subprocess.run([str(SLUICE), "-O", "json", *args], env=env, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(proc.stderr)
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    return {
        "create_branch": lambda n: (
            call("branch", "create", n, "--from-ref", "main"),
            call("branch", "get", n),
        ),
        "get_branches": lambda n: call("branch", "ls"),
        "get_table": lambda n: call("table", "get", "taxi_zones", "--ref", "load"),
        "delete_branch": lambda n: call("branch", "rm", n),
    }


def new_path(client):
    return {
        "create_branch": lambda n: client.create_branch(n, "main"),
        "get_branches": lambda n: list(client.get_branches()),
        "get_table": lambda n: client.get_table("taxi_zones", "load"),
        "delete_branch": lambda n: client.delete_branch(n),
    }


def measure(calls, count, label):
    row = {}
    for op in ("create_branch", "get_branches", "get_table", "delete_branch"):
        times = []
        for i in range(count):
            name = f"bench.{label.replace(' ', '_')}_{i}"
            start = time.perf_counter()
            calls[op](name)
            times.append((time.perf_counter() - start) * 1e3)
        times.sort()
        row[op] = (statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.95))])
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, SLUICE_HOME=home)
        for name in ("SLUICE_ENDPOINT", "SLUICE_PROFILE", "SLUICE_API_KEY"):
            env.pop(name, None)
        try:
            subprocess.run(
                [str(SLUICE), "branch", "create", "load", "--from-ref", "main"], env=env, check=True
            )
            subprocess.run(
                [str(SLUICE), "table", "create", "taxi_zones", "--search-uri", ZONES, "--branch", "load"],
                env=env,
                check=True,
                capture_output=True,
            )
            subprocess.run(
                [str(SLUICE), "table", "import", "taxi_zones", "--search-uri", ZONES, "--branch", "load"],
                env=env,
                check=True,
                capture_output=True,
            )
            results["binary per call"] = measure(old_path(env), args.calls, "old")

            fallback = sluice.Client(home=home)
            fallback._transport = ProcessTransport(fallback._binary, fallback._env)
            results["sluice api"] = measure(new_path(fallback), args.calls, "api")

            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error", RuntimeWarning)  # no silent fallback in a benchmark
                    embedded = sluice.Client(home=home)
                    list(embedded.get_branches())  # starts the background server once
                results["socket"] = measure(new_path(embedded), args.calls, "socket")
                embedded.close()
            except RuntimeWarning as e:
                print(f"socket: not measured: {e}")

            server = subprocess.Popen(
                [str(SLUICE), "serve", "--port", "0"], env=env, stdout=subprocess.PIPE, text=True
            )
            try:
                remote = sluice.Client(endpoint=server.stdout.readline().split()[5])
                results["tcp"] = measure(new_path(remote), args.calls, "tcp")
                remote.close()
            finally:
                server.terminate()
                server.wait(timeout=10)
        finally:
            # The background server and the shared memory outlive the data home: give them back.
            subprocess.run([str(SLUICE), "server", "stop"], env=env, capture_output=True)
            info = subprocess.run(
                [str(SLUICE), "-O", "json", "info"], env=env, capture_output=True, text=True
            )
            shutil.rmtree(json.loads(info.stdout)["shared_memory"], ignore_errors=True)

    ops = ("create_branch", "get_branches", "get_table", "delete_branch")
    print(f"{'ms p50 / p95':<16}" + "".join(f"{op:>18}" for op in ops))
    for label, row in results.items():
        print(f"{label:<16}" + "".join(f"{row[op][0]:>9.2f} /{row[op][1]:>6.2f}" for op in ops))


if __name__ == "__main__":
    main()
