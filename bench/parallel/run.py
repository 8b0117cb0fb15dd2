"""bench/parallel: fine-grained tasks, maps and Dask graphs on Sluice's sandboxed function
workers against what a Python user reaches for instead, 2 workers each, in one run.

  sluice        sluice.Executor(workers=2): sandboxed workers, calls batched over sockets,
                large values in shared memory; Dask graphs through sluice.dask.get
  mp.Pool       multiprocessing.Pool(2) (no sandbox): imap with chunks for maps, apply_async
                per task for dependent ones
  dask          dask.distributed LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
                (no sandbox), the same Dask graphs through its client, maps through client.map
Workloads:
  noop-independent  N independent no-op calls (Lithops' / PyWren's map of a trivial function);
                    noop-chunked-256 the same with chunksize=256, as mp.Pool's imap gets
  noop-chain        a chain of N dependent no-op tasks (as a Dask graph)
  fan-out-in        1 -> K -> 1 no-op tasks (as a Dask graph)
  tree-reduce       a tree reduction (pairwise sum) over 1024 leaves of 4 MiB arrays (Dask graph)
  gemm              blocked matrix multiply with dask.array
  tsqr              tall-skinny QR with dask.array (da.linalg.tsqr)
  map-1ms           10,000 calls of a 1 ms function
Per-task microseconds (or seconds) and the ratio other/sluice (>1: sluice is faster).

Usage: .venv/bin/python bench/parallel/run.py [--quick] [--only NAME[,NAME...]]
  --only  just the rows whose workload name starts with one of the NAMEs (e.g. tree-reduce)
"""

import multiprocessing
import os
import pathlib
import sys
import tempfile
import time

import dask
import dask.array as da
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python"))
os.environ.setdefault("SLUICE_BINARY", str(ROOT / "build" / "sluice"))

import sluice  # noqa: E402
import sluice.dask  # noqa: E402

QUICK = "--quick" in sys.argv
ONLY = sys.argv[sys.argv.index("--only") + 1].split(",") if "--only" in sys.argv else None


def wanted(workload):
    return ONLY is None or any(workload.startswith(name) for name in ONLY)


N_INDEPENDENT = 20_000 if QUICK else 100_000
N_CHAIN = 10_000
FAN = 1_000
LEAVES = 1024
GEMM = (2048, 512) if QUICK else (4096, 1024)  # size, block
TSQR = (65_536, 128, 8_192) if QUICK else (262_144, 128, 16_384)  # rows, columns, block rows
MAP_1MS = 2_000 if QUICK else 10_000


def noop(x=None):
    return x


def sleep_1ms(x):
    time.sleep(0.001)
    return x


def add(a, b):
    return a + b


def chain_graph(n):
    dsk = {("c", 0): (noop, 0)}
    for i in range(1, n):
        dsk[("c", i)] = (noop, ("c", i - 1))
    return dsk, ("c", n - 1)


def fan_graph(k):
    dsk = {"root": (noop, 0)}
    for i in range(k):
        dsk[("f", i)] = (noop, "root")
    dsk["sink"] = (len, [("f", i) for i in range(k)])
    return dsk, "sink"


def leaf(i):
    return np.full(4 * 2**20 // 8, float(i))


def tree_graph(leaves):
    dsk = {("t", 0, i): (leaf, i) for i in range(leaves)}
    level, width = 0, leaves
    while width > 1:
        for i in range(width // 2):
            dsk[("t", level + 1, i)] = (add, ("t", level, 2 * i), ("t", level, 2 * i + 1))
        level, width = level + 1, width // 2
    return dsk, ("t", level, 0)


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def row(name, count, ours, others):
    cells = [f"{name:18}", f"sluice {ours / count * 1e6:10.1f} us/task" if count else f"sluice {ours:8.2f} s"]
    for label, seconds in others:
        if seconds is None:
            cells.append(f"{label} {'-':>10}")
            continue
        value = f"{seconds / count * 1e6:10.1f} us/task" if count else f"{seconds:8.2f} s"
        cells.append(f"{label} {value} ({seconds / ours:5.1f}x)")
    print("  ".join(cells), flush=True)


def main():
    home = tempfile.mkdtemp(prefix="sluice-bench-parallel-")
    os.environ["SLUICE_HOME"] = home
    from dask.distributed import Client, LocalCluster

    print(f"2 workers each; {'quick' if QUICK else 'full'} sizes", flush=True)
    with sluice.Executor(workers=2) as ex, multiprocessing.Pool(2) as pool:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        try:
            ex.get_result(ex.map(noop, range(100)))  # workers up and warm
            pool.map(noop, range(100))
            client.gather(client.map(noop, range(100)))

            if wanted("noop-independent") or wanted("noop-chunked"):
                n = N_INDEPENDENT
                ours = timed(lambda: ex.get_result(ex.map(noop, range(n))))
                mp = timed(lambda: list(pool.imap(noop, range(n), chunksize=256)))
                dk = timed(lambda: client.gather(client.map(noop, range(n), pure=False)))
                row("noop-independent", n, ours, [("mp.Pool", mp), ("dask", dk)])
                # The same, chunked as mp.Pool's imap is (256 items to a message).
                ours = timed(lambda: ex.get_result(ex.map(noop, range(n), chunksize=256)))
                row("noop-chunked-256", n, ours, [("mp.Pool", mp), ("dask", dk)])

            if wanted("noop-chain"):
                dsk, key = chain_graph(N_CHAIN)
                ours = timed(lambda: sluice.dask.get(dsk, key, executor=ex))
                dk = timed(lambda: client.get(dsk, key))

                def mp_chain():
                    value = 0
                    for _ in range(N_CHAIN):
                        value = pool.apply_async(noop, (value,)).get()

                mp = timed(mp_chain)
                row("noop-chain", N_CHAIN, ours, [("mp.Pool", mp), ("dask", dk)])

            if wanted("fan-out-in"):
                dsk, key = fan_graph(FAN)
                ours = timed(lambda: sluice.dask.get(dsk, key, executor=ex))
                dk = timed(lambda: client.get(dsk, key))

                def mp_fan():
                    root = pool.apply_async(noop, (0,)).get()
                    parts = [pool.apply_async(noop, (root,)) for _ in range(FAN)]
                    pool.apply_async(len, ([p.get() for p in parts],)).get()

                mp = timed(mp_fan)
                row("fan-out-in", FAN + 2, ours, [("mp.Pool", mp), ("dask", dk)])

            if wanted("tree-reduce"):
                dsk, key = tree_graph(LEAVES)
                ours = timed(lambda: sluice.dask.get(dsk, key, executor=ex))
                dk = timed(lambda: client.get(dsk, key))
                single = timed(lambda: sum(leaf(i) for i in range(LEAVES)))
                row("tree-reduce 4MiB", 0, ours, [("dask", dk), ("numpy 1 proc", single)])

            if wanted("gemm"):
                size, block = GEMM
                x = da.random.RandomState(0).random((size, size), chunks=(block, block))
                product = x @ x
                ours = timed(lambda: product.compute(scheduler=sluice.dask.get, executor=ex))
                dk = timed(lambda: client.compute(product).result())
                dense = x.compute()
                single = timed(lambda: dense @ dense)
                row(f"gemm {size}/{block}", 0, ours, [("dask", dk), ("numpy 1 proc", single)])

            if wanted("tsqr"):
                rows, cols, block_rows = TSQR
                y = da.random.RandomState(1).random((rows, cols), chunks=(block_rows, cols))
                q, r = da.linalg.tsqr(y)
                ours = timed(lambda: dask.compute(q, r, scheduler=sluice.dask.get, executor=ex))
                dk = timed(lambda: client.compute([q, r], sync=True))
                tall = y.compute()
                single = timed(lambda: np.linalg.qr(tall))
                row(f"tsqr {rows}x{cols}", 0, ours, [("dask", dk), ("numpy 1 proc", single)])

            if wanted("map-1ms"):
                ours = timed(lambda: ex.get_result(ex.map(sleep_1ms, range(MAP_1MS))))
                mp = timed(lambda: list(pool.imap(sleep_1ms, range(MAP_1MS), chunksize=16)))
                dk = timed(lambda: client.gather(client.map(sleep_1ms, range(MAP_1MS), pure=False)))
                row("map-1ms", MAP_1MS, ours, [("mp.Pool", mp), ("dask", dk)])
                ours = timed(lambda: ex.get_result(ex.map(sleep_1ms, range(MAP_1MS), chunksize=16)))
                row("map-1ms-chunked-16", MAP_1MS, ours, [("mp.Pool", mp), ("dask", dk)])
        finally:
            client.close()
            cluster.close()
    # The data home's shared memory outlives its directory: give both back.
    import json
    import shutil
    import subprocess

    info = subprocess.run([os.environ["SLUICE_BINARY"], "-O", "json", "info"], capture_output=True, text=True)
    if info.returncode == 0:
        shutil.rmtree(json.loads(info.stdout).get("shared_memory", ""), ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
