"""bench/spill: a chain whose intermediates exceed the object store's memory budget
(src/data/memory_budget.h). Four models of `size` MiB each (4 x size live in a dry run), run
with a budget of 1.5 x size (so the older intermediates spill to <home>/spill), without a
budget (all in shared memory), and against the obvious alternative: each step writing its
output as a Parquet file on local disk and the next reading it back.

Times are the chain: from the first model entering user code to the last returning
(CLOCK_MONOTONIC across processes, from the run report), best of --repeat.

Usage: .venv/bin/python bench/spill/run.py [--size 256] [--repeat 3]
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
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = ROOT / "build" / "sluice"
PROJECT = pathlib.Path(__file__).resolve().parent
MIB = 1 << 20


def sluice_chain(home, size_mb, budget):
    env = dict(os.environ, SLUICE_HOME=str(home), SLUICE_MEMORY_BUDGET=budget)
    out = subprocess.run(
        [str(SLUICE), "-O", "json", "run", "-p", str(PROJECT), "--ref", "main", "--dry-run"]
        + ["--parallel", "1", "--param", f"size_mb={size_mb}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    report = json.loads(out)
    models = {m["name"]: m for m in report["models"]}
    return {
        "chain": models["step3"]["user_return"] - models["produce"]["user_start"],
        "run": report["seconds"],
        "peak": report["peak_shared_memory_bytes"],
        "spilled": report["spilled_bytes"],
    }


def double(table):
    return pa.table({name: pc.multiply(table[name], 2.0) for name in table.column_names})


def parquet_chain(directory, size_mb):
    start = time.monotonic()
    rows = size_mb * MIB // (8 * 8)
    rng = np.random.default_rng(0)
    table = pa.table({f"c{i}": rng.random(rows) for i in range(8)})
    paths = []
    for step in range(4):
        if step:
            table = double(pq.read_table(paths[-1]))
        paths.append(pathlib.Path(directory) / f"step{step}.parquet")
        pq.write_table(table, paths[-1])
    elapsed = time.monotonic() - start
    for p in paths:
        p.unlink()
    return {"chain": elapsed}


def stop_server(home):
    env = dict(os.environ, SLUICE_HOME=str(home))
    subprocess.run([str(SLUICE), "server", "stop"], env=env, capture_output=True)
    info = subprocess.run(
        [str(SLUICE), "-O", "json", "info"], env=env, capture_output=True, text=True, check=True
    )
    shutil.rmtree(json.loads(info.stdout)["shared_memory"], ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256, help="MiB per intermediate")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    budget = f"{args.size * 3 // 2}MiB"
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory(dir=ROOT) as disk:
        try:
            sluice_chain(home, 1, "off")  # warm-up: catalog, environment, zygote, arena
            runs = {}
            for name, limit in (("no budget", "off"), (f"budget {budget}", budget)):
                runs[name] = min(
                    (sluice_chain(home, args.size, limit) for _ in range(args.repeat)),
                    key=lambda r: r["chain"],
                )
            theirs = min(
                (parquet_chain(disk, args.size) for _ in range(args.repeat)), key=lambda r: r["chain"]
            )
        finally:
            stop_server(home)
    print(f"4 models x {args.size} MiB ({4 * args.size} MiB of intermediates), best of {args.repeat}")
    print(f"{'':>22} {'chain':>9} {'run':>8} {'peak shm':>10} {'spilled':>10}")
    for name, r in runs.items():
        print(
            f"{'sluice, ' + name:>22} {r['chain']:>8.2f}s {r['run']:>7.2f}s "
            f"{r['peak'] / MIB:>7.0f}MiB {r['spilled'] / MIB:>7.0f}MiB"
        )
    print(f"{'parquet on disk':>22} {theirs['chain']:>8.2f}s")
    spill = runs[f"budget {budget}"]["chain"]
    print(
        f"spill vs no budget: {spill / runs['no budget']['chain']:.2f}x the time; "
        f"parquet vs spill: {theirs['chain'] / spill:.2f}x the time"
    )


if __name__ == "__main__":
    main()
