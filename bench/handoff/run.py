"""bench/handoff: the time from a producer model's return to its consumer's start, in Sluice
(Arrow IPC in shared memory, mapped by the consumer) against the usual alternative of writing
the table as a Parquet file on local disk and reading it back, at 1 MiB, 64 MiB and 1 GiB.

Usage: .venv/bin/python bench/handoff/run.py [--sizes 1,64,1024] [--repeat 3]
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = ROOT / "build" / "sluice"
PROJECT = pathlib.Path(__file__).resolve().parent


def make_table(size_mb):
    rows = size_mb * (1 << 20) // (8 * 8)
    rng = np.random.default_rng(0)
    return pa.table({f"c{i}": rng.random(rows) for i in range(8)})


def sluice_handoff(home, size_mb):
    env = dict(os.environ, SLUICE_HOME=str(home))
    proc = subprocess.run(
        [
            str(SLUICE),
            "-O",
            "json",
            "run",
            "-p",
            str(PROJECT),
            "--ref",
            "main",
            "--dry-run",
            "--param",
            f"size_mb={size_mb}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    models = {m["name"]: m for m in json.loads(proc.stdout)["models"]}
    p, c = models["producer"], models["consumer"]
    return {"handoff": c["user_start"] - p["user_return"], "write": p["output_written"] - p["user_return"]}


def remove_shared_memory(home):
    env = dict(os.environ, SLUICE_HOME=str(home))
    info = subprocess.run(
        [str(SLUICE), "-O", "json", "info"], env=env, capture_output=True, text=True, check=True
    )
    shutil.rmtree(json.loads(info.stdout)["shared_memory"], ignore_errors=True)


def parquet_handoff(directory, table):
    path = pathlib.Path(directory) / "handoff.parquet"
    start = time.monotonic()
    pq.write_table(table, path)
    written = time.monotonic()
    back = pq.read_table(path)
    assert back.num_rows == table.num_rows
    end = time.monotonic()
    path.unlink()
    return {"handoff": end - start, "write": written - start}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,64,1024")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory(dir=ROOT) as disk:
        sluice_handoff(home, 1)  # warm-up: catalog creation, page cache, arena
        print(
            f"{'size':>8} {'sluice hand-off':>16} {'(shm write)':>12} {'parquet write+read':>19} {'ratio':>7}"
        )
        for size in sizes:
            ours = min((sluice_handoff(home, size) for _ in range(args.repeat)), key=lambda r: r["handoff"])
            table = make_table(size)
            theirs = min(
                (parquet_handoff(disk, table) for _ in range(args.repeat)), key=lambda r: r["handoff"]
            )
            del table
            print(
                f"{size:>6}MiB {ours['handoff'] * 1e3:>14.1f}ms {ours['write'] * 1e3:>10.1f}ms "
                f"{theirs['handoff'] * 1e3:>17.1f}ms {theirs['handoff'] / ours['handoff']:>6.1f}x"
            )
        remove_shared_memory(home)


if __name__ == "__main__":
    main()
