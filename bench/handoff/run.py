"""bench/handoff: the time from a model's return to the next model's start, in Sluice with
zero-copy outputs (the producer's buffers stay in its shared heap and are mapped by the next
model), in Sluice with every output copied into an Arrow IPC file in shared memory
(SLUICE_SHARED_HEAP=off), and with the usual alternative of writing the table as a Parquet
file on local disk and reading it back. One hand-off (producer -> relay1) and a chain of five
models (four hand-offs, each relay adding a column), at 1 MiB to 6 GiB. Times are the best of
--repeat runs; memory is the machine's used memory (MemTotal - MemAvailable) at its peak during
one more run, above where it started, with the data home's shared memory emptied first (the
copy path recycles released objects' pages, which would hide what it uses).

With --huge-pages (root, where the kernel's shmem_enabled is "never"), the zero-copy path is
measured a second time with shmem_enabled set to "advise" for that run only (then restored):
worker heaps ask for huge pages, and a hand-off waits for the producer's exit, which unmaps its
heap page by page (src/common/config.h, SharedHugePagesSetting).

Usage: .venv/bin/python bench/handoff/run.py [--sizes 1,64,1024,6144] [--repeat 3] [--huge-pages]
"""

import argparse
import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from sluice_run import PeakMemory  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = ROOT / "build" / "sluice"
PROJECT = pathlib.Path(__file__).resolve().parent
CHAIN = ["producer", "relay1", "relay2", "relay3", "consumer"]


def make_table(size_mb):
    rows = size_mb * (1 << 20) // (8 * 8)
    rng = np.random.default_rng(0)
    return pa.table({f"c{i}": rng.random(rows) for i in range(8)})


def sluice_run(home, size_mb, shared):
    env = dict(os.environ, SLUICE_HOME=str(home), SLUICE_SERVER="off")
    if not shared:
        env["SLUICE_SHARED_HEAP"] = "off"
    args = ["-O", "json", "run", "-p", str(PROJECT), "--ref", "main", "--dry-run"]
    args += ["--param", f"size_mb={size_mb}"]
    with PeakMemory() as memory:
        proc = subprocess.run([str(SLUICE), *args], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    models = {m["name"]: m for m in json.loads(proc.stdout)["models"]}
    links = [models[b]["user_start"] - models[a]["user_return"] for a, b in zip(CHAIN, CHAIN[1:])]
    return {"handoff": links[0], "chain": sum(links), "memory": memory.bytes}


def parquet_run(directory, size_mb):
    """The same five steps as one script that hands tables on through Parquet files."""
    path = pathlib.Path(directory) / "handoff.parquet"
    links = []
    with PeakMemory() as memory:
        table = make_table(size_mb)
        for name in ["d1", "d2", "d3", None]:
            start = time.monotonic()
            pq.write_table(table, path)
            del table
            table = pq.read_table(path)
            links.append(time.monotonic() - start)
            if name:
                table = table.append_column(name, pc.multiply(table["c0"], 2.0))
        del table
    path.unlink()
    return {"handoff": links[0], "chain": sum(links), "memory": memory.bytes}


def remove_shared_memory(home):
    env = dict(os.environ, SLUICE_HOME=str(home), SLUICE_SERVER="off")
    info = subprocess.run(
        [str(SLUICE), "-O", "json", "info"], env=env, capture_output=True, text=True, check=True
    )
    shutil.rmtree(json.loads(info.stdout)["shared_memory"], ignore_errors=True)


SHMEM_ENABLED = pathlib.Path("/sys/kernel/mm/transparent_hugepage/shmem_enabled")


def shmem_setting():
    try:
        text = SHMEM_ENABLED.read_text()
    except OSError:
        return "unknown"
    return text[text.index("[") + 1 : text.index("]")] if "[" in text else "unknown"


@contextlib.contextmanager
def shmem_huge_pages(mode):
    before = shmem_setting()
    SHMEM_ENABLED.write_text(mode)
    try:
        yield
    finally:
        SHMEM_ENABLED.write_text(before)


def best(runs):
    return min(runs, key=lambda r: r["chain"])


def measured(home, size, shared, repeat):
    out = best(sluice_run(home, size, shared) for _ in range(repeat))
    remove_shared_memory(home)
    out["memory"] = sluice_run(home, size, shared)["memory"]
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,64,1024,6144")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--huge-pages", action="store_true", help="also measure with shmem_enabled=advise")
    args = parser.parse_args()
    setting = shmem_setting()
    huge = args.huge_pages and setting in ("never", "deny") and os.access(SHMEM_ENABLED, os.W_OK)
    note = "; 'huge': the same with advise" if huge else ""
    print(f"shared memory huge pages (shmem_enabled): {setting}{note}")
    sizes = [int(s) for s in args.sizes.split(",")]
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory(dir=ROOT) as disk:
        sluice_run(home, 1, True)  # warm-up: catalog creation, page cache, arena
        print(
            f"{'size':>8} | {'hand-off: shared':>16} {'huge':>8} {'copied':>8} {'parquet':>8} {'ratio':>6} | "
            f"{'5-model chain: shared':>21} {'huge':>8} {'copied':>8} {'parquet':>8} {'ratio':>6} | "
            f"{'memory: shared':>14} {'copied':>7} {'parquet':>7}"
        )
        for size in sizes:
            repeat = args.repeat if size < 4096 else 1
            ours = measured(home, size, True, repeat)
            with shmem_huge_pages("advise") if huge else contextlib.nullcontext():
                ours_huge = measured(home, size, True, repeat) if huge else None
            # Copied, the chain holds five copies of the table at once: past a quarter of RAM
            # it would not fit.
            fits = size * (1 << 20) * 6 < ram * 0.6
            copied = measured(home, size, False, repeat) if fits else None
            theirs = best(parquet_run(disk, size) for _ in range(repeat))

            def ms(r, key):
                return f"{r[key] * 1e3:>6.0f}ms" if r else f"{'n/a':>8}"

            def gib(r):
                return f"{r['memory'] / (1 << 30):>6.1f}G" if r else f"{'n/a':>7}"

            print(
                f"{size:>6}MiB | {ms(ours, 'handoff'):>16} {ms(ours_huge, 'handoff')} "
                f"{ms(copied, 'handoff')} {ms(theirs, 'handoff')} "
                f"{theirs['handoff'] / ours['handoff']:>5.1f}x | "
                f"{ms(ours, 'chain'):>21} {ms(ours_huge, 'chain')} {ms(copied, 'chain')} "
                f"{ms(theirs, 'chain')} "
                f"{theirs['chain'] / ours['chain']:>5.1f}x | {gib(ours):>14} {gib(copied)} {gib(theirs)}",
                flush=True,
            )
        remove_shared_memory(home)


if __name__ == "__main__":
    main()
