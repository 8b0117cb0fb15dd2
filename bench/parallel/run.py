"""bench/parallel: fine-grained tasks, maps and Dask graphs on Sluice's sandboxed function
workers against what a Python user reaches for instead, 2 workers each, side by side in one run.

Columns (each framework runs in a process of its own, one framework at a time):
  sluice        sluice.Executor(workers=2): sandboxed workers, calls batched over sockets,
                large values in shared memory; Dask graphs through sluice.dask.get
  sluice-remote the same on the workers of a `sluice serve` over loopback HTTP (remote mode:
                values inline through the server)
  mp.Pool       multiprocessing.Pool(2) (no sandbox): map for maps, imap with chunks where a row
                says so, apply_async per task for dependent ones (a round trip per task)
  dask          dask.distributed LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
                (no sandbox): the same Dask graphs through its client, maps through client.map
  ray           ray.init(num_cpus=2) (no sandbox): a remote task per call, chains and fans as
                object references passed to the next task
  lithops       Lithops' localhost executor, its version 1 (one runner per job that forks 2 worker
                processes; the default version 2 starts an interpreter per call, 1.5 s a call on
                this VM), localhost storage, config in the code, files in a temporary directory;
                independent calls only, and a sample of each map (1,000 no-op or 1 ms calls,
                25 of the 100 MiB calls): its calls cost tens of milliseconds
  numpy         one process, one BLAS thread: the same work as the graph, without a graph
Rows (--quick: 20,000 no-ops, a chain of 2,000, 256 leaves, GEMM 4096 in 1024 blocks, TSQR and
SVD of 65,536 x 128 in 8,192-row blocks, 2,000 calls of 1 ms, 20 calls of 100 MiB):
  noop-independent  N independent no-op calls (Lithops' / PyWren's map of a trivial function):
                    each framework's own map, chunked as it chooses (sluice and mp.Pool chunk
                    automatically; dask, Ray and Lithops make a task per item)
  noop-single       the same with chunksize=1: a call per item (sluice's map, mp.Pool's imap)
  noop-chunked      the same with chunksize=256 (sluice's map and mp.Pool's imap)
  noop-chain        a chain of N dependent no-op tasks: a Dask graph on sluice (run as one call,
                    Wukong's task clustering) and dask, object references on Ray, a round trip
                    per task on mp.Pool
  noop-chain-futures the same chain as futures passed to the next call (call_async, submit)
  fan-out-in        1 -> 1,000 -> 1 no-op tasks (a Dask graph on sluice and dask)
  tree-scalar       Wukong's tree reduction (pairwise sums) over 1,024 scalar leaves (Dask graph)
  tree-4mib         the same over 1,024 leaves of 4 MiB arrays
  gemm              blocked matrix multiply of 8192 x 8192 in 2048 x 2048 blocks (dask.array)
  tsqr              tall-skinny QR of 262,144 x 128 (da.linalg.tsqr, 16,384-row blocks)
  svd               SVD of the same matrix (da.linalg.svd)
  map-1ms           10,000 calls of a 1 ms function; map-1ms-chunked: chunksize=16
  map-100mib        100 calls of a function that builds a 100 MiB numpy array, makes it a pandas
                    DataFrame and returns its column means (sluice: pandas pinned in the
                    Executor's own environment, pip={"pandas": <the locked version>})
Counted rows give microseconds per task, tasks per second and the ratio other/sluice (>1: sluice
is faster); graph rows give the makespan in seconds, the ratio, and the parallel efficiency
numpy / (2 x makespan). Each measurement has a timeout (--timeout, 300 s): a framework that
exceeds it prints "timeout", is restarted, and the run goes on.

Usage: .venv/bin/python bench/parallel/run.py [--quick] [--only sluice,dask] [--rows gemm,svd]
       [--timeout SECONDS]
"""

import argparse
import dataclasses
import json
import os
import pathlib
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKERS = 2
FRAMEWORKS = ("sluice", "sluice-remote", "mp.Pool", "dask", "ray", "lithops", "numpy")
STARTUP_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Sizes:
    independent: int
    chain: int
    fan: int
    leaves: int
    gemm: tuple  # size, block
    tall: tuple  # rows, columns, block rows (TSQR and SVD)
    map_1ms: int
    map_big: int  # calls of the 100 MiB function


FULL = Sizes(100_000, 10_000, 1_000, 1_024, (8_192, 2_048), (262_144, 128, 16_384), 10_000, 100)
QUICK = Sizes(20_000, 2_000, 1_000, 256, (4_096, 1_024), (65_536, 128, 8_192), 2_000, 20)
LEAF_BYTES = 4 * 2**20
BIG_ARRAY_BYTES = 100 * 2**20
RAY_OBJECT_STORE_BYTES = 3 * 2**30


# ---- The tasks (defined in __main__, so every framework ships them by value) ----


def noop(x=None):
    return x


def sleep_1ms(x):
    time.sleep(0.001)
    return x


def add(a, b):
    return a + b


def scalar_leaf(i):
    return float(i)


def array_leaf(i):
    return np.full(LEAF_BYTES // 8, float(i))


def frame_column_means(seed):
    """Builds a 100 MiB array, makes it a DataFrame of 16 columns, returns the column means."""
    import pandas as pd

    values = np.random.default_rng(seed).random(BIG_ARRAY_BYTES // 8).reshape(-1, 16)
    return pd.DataFrame(values).mean().to_numpy()


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


def tree_graph(leaves, leaf):
    dsk = {("t", 0, i): (leaf, i) for i in range(leaves)}
    level, width = 0, leaves
    while width > 1:
        for i in range(width // 2):
            dsk[("t", level + 1, i)] = (add, ("t", level, 2 * i), ("t", level, 2 * i + 1))
        level, width = level + 1, width // 2
    return dsk, ("t", level, 0)


def gemm_arrays(sizes):
    import dask.array as da

    size, block = sizes.gemm
    x = da.random.RandomState(0).random((size, size), chunks=(block, block))
    return [x @ x]


def tall_matrix(sizes):
    import dask.array as da

    rows, columns, block_rows = sizes.tall
    return da.random.RandomState(1).random((rows, columns), chunks=(block_rows, columns))


def tsqr_arrays(sizes):
    import dask.array as da

    return list(da.linalg.tsqr(tall_matrix(sizes)))


def svd_arrays(sizes):
    import dask.array as da

    return list(da.linalg.svd(tall_matrix(sizes)))


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---- The columns: one class per framework, run in the child process ----


class SluiceColumn:
    def __init__(self, sizes):
        import sluice
        import sluice.dask

        self.sizes = sizes
        self.sluice = sluice
        self.executor = sluice.Executor(workers=WORKERS, **self.where())
        self.map(noop, range(100))  # workers up and warm

    def where(self):
        """Executor arguments saying where the workers run: here."""
        return {}

    def map(self, fn, items, chunksize=None):
        # None: the map's automatic chunks, as Pool.map chunks by default.
        return self.executor.get_result(self.executor.map(fn, items, chunksize=chunksize))

    def graph(self, dsk, key):
        return self.sluice.dask.get(dsk, key, executor=self.executor)

    def compute(self, arrays):
        import dask

        return dask.compute(*arrays, scheduler=self.sluice.dask.get, executor=self.executor)

    def chain_futures(self, n):
        future = self.executor.call_async(noop, 0)
        for _ in range(n - 1):
            future = self.executor.call_async(noop, future)
        return future.result()

    def map_big(self, items):
        # The function's own environment: pandas pinned as the lock pins it.
        pandas = {"pandas": locked_version("pandas")}
        with self.sluice.Executor(workers=WORKERS, pip=pandas, **self.where()) as ex:
            ex.get_result(ex.map(frame_column_means, range(WORKERS)))  # pandas imported once
            return timed(lambda: ex.get_result(ex.map(frame_column_means, items)))

    def close(self):
        self.executor.shutdown()


class RemoteSluiceColumn(SluiceColumn):
    """The same on the workers of a `sluice serve` over loopback HTTP (remote mode): values go
    inline through the server instead of shared memory."""

    def __init__(self, sizes):
        import bauplan

        self.server = subprocess.Popen(
            [os.environ["SLUICE_BINARY"], "serve", "--port", "0"], stdout=subprocess.PIPE, text=True
        )
        self.client = bauplan.Client(endpoint=self.server.stdout.readline().split()[5])
        super().__init__(sizes)

    def where(self):
        return {"client": self.client}

    def close(self):
        super().close()
        self.server.terminate()
        self.server.wait()


class PoolColumn:
    def __init__(self, sizes):
        import multiprocessing

        self.sizes = sizes
        self.pool = multiprocessing.Pool(WORKERS)
        self.pool.map(noop, range(100))

    def map(self, fn, items, chunksize=None):
        if chunksize is None:
            return self.pool.map(fn, items)
        return list(self.pool.imap(fn, items, chunksize=chunksize))

    def chain(self, n):
        value = 0
        for _ in range(n):
            value = self.pool.apply_async(noop, (value,)).get()
        return value

    def fan(self, k):
        root = self.pool.apply_async(noop, (0,)).get()
        parts = [self.pool.apply_async(noop, (root,)) for _ in range(k)]
        return self.pool.apply_async(len, ([part.get() for part in parts],)).get()

    def close(self):
        self.pool.close()
        self.pool.join()


class DaskColumn:
    def __init__(self, sizes):
        from dask.distributed import Client, LocalCluster

        self.sizes = sizes
        self.cluster = LocalCluster(
            n_workers=WORKERS,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            local_directory=tempfile.gettempdir(),
        )
        self.client = Client(self.cluster)
        self.map(noop, range(100))

    def map(self, fn, items, chunksize=None):
        return self.client.gather(self.client.map(fn, items, pure=False))

    def graph(self, dsk, key):
        return self.client.get(dsk, key)

    def compute(self, arrays):
        return self.client.compute(arrays, sync=True)

    def chain_futures(self, n):
        future = self.client.submit(noop, 0, pure=False)
        for _ in range(n - 1):
            future = self.client.submit(noop, future, pure=False)
        return future.result()

    def close(self):
        self.client.close()
        self.cluster.close()


class RayColumn:
    def __init__(self, sizes):
        import ray

        self.sizes = sizes
        self.ray = ray
        ray.init(
            num_cpus=WORKERS,
            include_dashboard=False,
            object_store_memory=RAY_OBJECT_STORE_BYTES,
            _temp_dir=os.path.join(tempfile.gettempdir(), "ray"),
            log_to_driver=False,
        )
        self.remote = {fn: ray.remote(fn) for fn in (noop, sleep_1ms, frame_column_means)}
        self.remote_len = ray.remote(lambda *parts: len(parts))
        self.map(noop, range(100))

    def map(self, fn, items, chunksize=None):
        task = self.remote[fn]
        return self.ray.get([task.remote(item) for item in items])

    def chain(self, n):
        ref = self.remote[noop].remote(0)
        for _ in range(n - 1):
            ref = self.remote[noop].remote(ref)
        return self.ray.get(ref)

    def fan(self, k):
        root = self.remote[noop].remote(0)
        parts = [self.remote[noop].remote(root) for _ in range(k)]
        return self.ray.get(self.remote_len.remote(*parts))

    def close(self):
        self.ray.shutdown()


class LithopsColumn:
    # A call costs it tens of milliseconds (a process forked per call, its input, output and
    # status as files), seconds with pandas to import: maps measure this many calls of a row.
    sample_calls = {"independent": 1_000, "map_1ms": 1_000, "map_big": 25}

    def __init__(self, sizes):
        import lithops

        self.sizes = sizes
        config = {
            "lithops": {
                "backend": "localhost",
                "storage": "localhost",
                "log_level": "WARNING",
                "data_cleaner": False,  # the whole temporary directory goes afterwards
            },
            "localhost": {"version": 1, "worker_processes": WORKERS, "runtime": sys.executable},
        }
        self.executor = lithops.FunctionExecutor(config=config)
        self.map(noop, range(10))

    def map(self, fn, items, chunksize=None):
        return self.executor.get_result(self.executor.map(fn, list(items)))

    def close(self):
        pass


class NumpyColumn:
    """The graphs' work in this one process (its BLAS on one thread: the parent says so)."""

    def __init__(self, sizes):
        self.sizes = sizes

    @staticmethod
    def tree(leaves, leaf):
        total = leaf(0)
        for i in range(1, leaves):
            total = add(total, leaf(i))
        return total

    def gemm(self):
        size, _ = self.sizes.gemm
        x = np.random.RandomState(0).random((size, size))
        return x @ x

    def tall(self):
        rows, columns, _ = self.sizes.tall
        return np.random.RandomState(1).random((rows, columns))

    def tsqr(self):
        return np.linalg.qr(self.tall())

    def svd(self):
        return np.linalg.svd(self.tall(), full_matrices=False)

    def close(self):
        pass


COLUMNS = {
    "sluice": SluiceColumn,
    "sluice-remote": RemoteSluiceColumn,
    "mp.Pool": PoolColumn,
    "dask": DaskColumn,
    "ray": RayColumn,
    "lithops": LithopsColumn,
    "numpy": NumpyColumn,
}


def locked_version(package):
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if line.lower().startswith(package + "=="):
            return line.split("==", 1)[1].strip()
    raise LookupError(f"{package} is not in requirements.lock")


# ---- The rows: how each column runs each workload; returns seconds ----


@dataclasses.dataclass(frozen=True)
class Row:
    name: str
    label: str  # format() with the sizes
    count: str | None  # the Sizes field that counts its tasks; None: a makespan
    runs: dict  # framework -> fn(column) -> seconds
    extra_tasks: int = 0  # added to the count (fan-out-in's root and sink)
    sampled: bool = False  # a column with sample_calls makes only that many calls


def tasks_run(row, column):
    if row.count is None:
        return None
    calls = calls_for(column, row.count) if row.sampled else getattr(column.sizes, row.count)
    return calls + row.extra_tasks


def calls_for(column, count):
    """The calls a map row makes on a column: all of them, or the column's sample."""
    sample = getattr(column, "sample_calls", {}).get(count, sys.maxsize)
    return min(getattr(column.sizes, count), sample)


def _map_row(fn, count, chunksize=None):
    return lambda col: timed(lambda: col.map(fn, range(calls_for(col, count)), chunksize))


def _graph_row(build):
    def run(col):
        dsk, key = build(col.sizes)
        return timed(lambda: col.graph(dsk, key))

    return run


def _arrays_row(build):
    def run(col):
        arrays = build(col.sizes)
        return timed(lambda: col.compute(arrays))

    return run


def _big_map(col):
    items = range(calls_for(col, "map_big"))
    if hasattr(col, "map_big"):
        return col.map_big(items)
    col.map(frame_column_means, range(WORKERS))  # pandas imported, as sluice's warm-up does
    return timed(lambda: col.map(frame_column_means, items))


_every_map = ("sluice", "mp.Pool", "dask", "ray", "lithops")
ROWS = [
    Row(
        "noop-independent",
        "{independent:,} independent no-ops",
        "independent",
        {name: _map_row(noop, "independent") for name in _every_map},
        sampled=True,
    ),
    Row(
        "noop-single",
        "the same, a call per item",
        "independent",
        {name: _map_row(noop, "independent", 1) for name in ("sluice", "mp.Pool")},
    ),
    Row(
        "noop-chunked",
        "the same, chunks of 256",
        "independent",
        {name: _map_row(noop, "independent", 256) for name in ("sluice", "mp.Pool")},
    ),
    Row(
        "noop-chain",
        "chain of {chain:,} no-ops",
        "chain",
        {
            "sluice": _graph_row(lambda s: chain_graph(s.chain)),
            "dask": _graph_row(lambda s: chain_graph(s.chain)),
            "mp.Pool": lambda col: timed(lambda: col.chain(col.sizes.chain)),
            "ray": lambda col: timed(lambda: col.chain(col.sizes.chain)),
        },
    ),
    Row(
        "noop-chain-futures",
        "the same, futures as arguments",
        "chain",
        {name: lambda col: timed(lambda: col.chain_futures(col.sizes.chain)) for name in ("sluice", "dask")},
    ),
    Row(
        "fan-out-in",
        "fan-out/in 1 -> {fan:,} -> 1",
        "fan",
        {
            "sluice": _graph_row(lambda s: fan_graph(s.fan)),
            "dask": _graph_row(lambda s: fan_graph(s.fan)),
            "mp.Pool": lambda col: timed(lambda: col.fan(col.sizes.fan)),
            "ray": lambda col: timed(lambda: col.fan(col.sizes.fan)),
        },
        extra_tasks=2,
    ),
    Row(
        "tree-scalar",
        "tree reduction, {leaves:,} scalars",
        None,
        {
            "sluice": _graph_row(lambda s: tree_graph(s.leaves, scalar_leaf)),
            "dask": _graph_row(lambda s: tree_graph(s.leaves, scalar_leaf)),
            "numpy": lambda col: timed(lambda: col.tree(col.sizes.leaves, scalar_leaf)),
        },
    ),
    Row(
        "tree-4mib",
        "tree reduction, {leaves:,} x 4 MiB",
        None,
        {
            "sluice": _graph_row(lambda s: tree_graph(s.leaves, array_leaf)),
            "dask": _graph_row(lambda s: tree_graph(s.leaves, array_leaf)),
            "numpy": lambda col: timed(lambda: col.tree(col.sizes.leaves, array_leaf)),
        },
    ),
    Row(
        "gemm",
        "GEMM {gemm[0]:,}^2, {gemm[1]:,} blocks",
        None,
        {
            "sluice": _arrays_row(gemm_arrays),
            "dask": _arrays_row(gemm_arrays),
            "numpy": lambda col: timed(col.gemm),
        },
    ),
    Row(
        "tsqr",
        "TSQR {tall[0]:,} x {tall[1]}",
        None,
        {
            "sluice": _arrays_row(tsqr_arrays),
            "dask": _arrays_row(tsqr_arrays),
            "numpy": lambda col: timed(col.tsqr),
        },
    ),
    Row(
        "svd",
        "SVD {tall[0]:,} x {tall[1]}",
        None,
        {
            "sluice": _arrays_row(svd_arrays),
            "dask": _arrays_row(svd_arrays),
            "numpy": lambda col: timed(col.svd),
        },
    ),
    Row(
        "map-1ms",
        "{map_1ms:,} calls of 1 ms",
        "map_1ms",
        {name: _map_row(sleep_1ms, "map_1ms") for name in _every_map},
        sampled=True,
    ),
    Row(
        "map-1ms-chunked",
        "the same, chunks of 16",
        "map_1ms",
        {name: _map_row(sleep_1ms, "map_1ms", 16) for name in ("sluice", "mp.Pool")},
    ),
    Row(
        "map-100mib",
        "{map_big:,} calls, 100 MiB numpy -> pandas",
        "map_big",
        {name: _big_map for name in _every_map},
        sampled=True,
    ),
]
for _row in ROWS:  # remote mode runs every workload as local Sluice does
    if "sluice" in _row.runs:
        _row.runs["sluice-remote"] = _row.runs["sluice"]
ROWS_BY_NAME = {row.name: row for row in ROWS}


def serve(framework, sizes, report_fd):
    """The child: starts one framework, then runs the rows named on stdin, one a line, and
    writes one JSON line for each to report_fd."""
    report = os.fdopen(report_fd, "w", buffering=1)
    column = COLUMNS[framework](sizes)
    report.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        name = line.strip()
        if not name:
            break
        try:
            row = ROWS_BY_NAME[name]
            answer = {"seconds": row.runs[framework](column), "tasks": tasks_run(row, column)}
        except Exception as exc:  # reported as the cell's text; the run goes on
            answer = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        report.write(json.dumps(answer) + "\n")
    column.close()


# ---- The parent: one child per framework, a timeout per measurement ----


class Child:
    """A framework's process. Measurements that time out kill its process group (it has a
    session of its own) and the next measurement starts a new one."""

    def __init__(self, framework, args, scratch):
        self.framework = framework
        self.args = args
        self.scratch = scratch
        self.process = None
        self.log_path = scratch / "logs" / f"{framework.replace('.', '-')}.log"
        self.marker = f"{scratch}:{framework}"  # in the environment of all it starts

    def _environment(self):
        env = dict(os.environ, SLUICE_BENCH_CHILD=self.marker)
        env["PYTHONPATH"] = str(ROOT / "python")
        env["SLUICE_BINARY"] = os.environ.get("SLUICE_BINARY", str(ROOT / "build" / "sluice"))
        env["SLUICE_HOME"] = str(self.scratch / "sluice-home")
        if self.framework != "sluice":
            # Dask's worker space, Ray's sessions, Lithops' storage and jobs: all in scratch.
            tmp = self.scratch / "tmp" / self.framework
            tmp.mkdir(parents=True, exist_ok=True)
            env["TMPDIR"] = str(tmp)
        if self.framework == "ray":
            env["RAY_USAGE_STATS_ENABLED"] = "0"
            env["RAY_AUTH_MODE"] = "disabled"
        if self.framework == "lithops":
            home = self.scratch / "lithops-home"  # no ~/.lithops: its config is in the code
            home.mkdir(exist_ok=True)
            env["HOME"] = str(home)
        if self.framework == "numpy":
            for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                env[name] = "1"
        return env

    def _read(self, deadline):
        """The next JSON line from the child, or None at the deadline or if it died."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self.reports], [], [], remaining)[0]:
                return None
            data = os.read(self.reports, 65536)
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def start(self):
        self.log_path.parent.mkdir(exist_ok=True)
        read_end, write_end = os.pipe()
        argv = [sys.executable, __file__, "--serve", self.framework, "--report-fd", str(write_end)]
        if self.args.quick:
            argv.append("--quick")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                pass_fds=[write_end],
                env=self._environment(),
                start_new_session=True,
            )
        os.close(write_end)
        self.reports, self.buffer = read_end, b""
        if self._read(time.monotonic() + STARTUP_TIMEOUT_SECONDS) is None:
            self.kill()
            return False
        return True

    def measure(self, row):
        """{"seconds": s, "tasks": n or None}, or the text of the cell: 'timeout', 'failed to
        start', an error."""
        if self.process is None and not self.start():
            return f"failed to start: {self.log_tail()}"
        self.process.stdin.write(row.name.encode() + b"\n")
        self.process.stdin.flush()
        answer = self._read(time.monotonic() + self.args.timeout)
        if answer is None:
            died = self.process.poll() is not None
            self.kill()
            return f"died: {self.log_tail()}" if died else "timeout"
        return answer.get("error", answer)

    def log_tail(self):
        """The last line the child logged (its log goes with the scratch directory)."""
        lines = self.log_path.read_text(errors="replace").strip().splitlines()
        return lines[-1][:200] if lines else "no output"

    def kill(self):
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self._end_leftovers()
        os.close(self.reports)
        self.process = None

    def _end_leftovers(self):
        # Lithops' runners start sessions of their own; they carry our marker.
        for pid in processes_marked(self.marker):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def stop(self):
        if self.process is None:
            return
        try:
            self.process.stdin.close()
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
            self._end_leftovers()
            os.close(self.reports)
            self.process = None
        except (subprocess.TimeoutExpired, BrokenPipeError):
            self.kill()


def processes_marked(marker):
    """Pids of the processes whose environment has SLUICE_BENCH_CHILD=marker."""
    needle = f"SLUICE_BENCH_CHILD={marker}".encode() + b"\0"
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                pids.append(int(entry.name))
        except OSError:  # gone, or not ours to read
            continue
    return pids


def task_text(seconds):
    if seconds < 1e-4:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e6:,.0f} us" if seconds < 0.1 else f"{seconds:.2f} s"


def seconds_text(value):
    return f"{value * 1e3:.3g} ms" if value < 0.1 else f"{value:,.2f} s"


def load():
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def format_cell(row, sizes, framework, result, sluice, numpy, timeout_seconds):
    """result: the measurement of framework (a dict, or the text of the cell); sluice and numpy:
    those of the same row."""
    if result is None:
        return ""
    all_tasks = getattr(sizes, row.count) + row.extra_tasks if row.count else None
    if not isinstance(result, dict):
        if result == "timeout" and all_tasks:
            return f"timeout (> {task_text(timeout_seconds / all_tasks)})"
        return result
    value = per_task(result)
    notes = []
    if all_tasks:
        text = task_text(value)
        if framework == "sluice":
            notes.append(f"{1 / value:,.0f}/s")
        if result["tasks"] < all_tasks:
            notes.append(f"{result['tasks']:,} of the calls")
    else:
        text = seconds_text(value)
    if framework != "sluice" and isinstance(sluice, dict):
        ratio = value / per_task(sluice)
        notes.append(f"{ratio:.2g}x" if ratio < 10 else f"{ratio:,.0f}x")
    if framework in ("sluice", "dask") and isinstance(numpy, dict):
        notes.append(f"eff {numpy['seconds'] / (WORKERS * value):.2f}")
    return f"{text} ({', '.join(notes)})" if notes else text


def per_task(result):
    """Seconds per task for a counted row, the makespan for a graph."""
    return result["seconds"] / result["tasks"] if result["tasks"] else result["seconds"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--only", help="frameworks to run, comma-separated: " + ",".join(FRAMEWORKS))
    parser.add_argument("--rows", help="rows to run, comma-separated: " + ",".join(ROWS_BY_NAME))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per measurement")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--report-fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    if args.serve:
        serve(args.serve, sizes, args.report_fd)
        return

    frameworks = args.only.split(",") if args.only else list(FRAMEWORKS)
    rows = [ROWS_BY_NAME[name] for name in args.rows.split(",")] if args.rows else ROWS
    for name in frameworks:
        if name not in COLUMNS:
            parser.error(f"unknown framework {name!r}: one of {', '.join(FRAMEWORKS)}")

    scratch = pathlib.Path(tempfile.mkdtemp(prefix="pbench-"))
    print(
        f"bench/parallel: {WORKERS} workers each, {'quick' if args.quick else 'full'} sizes, "
        f"timeout {args.timeout:.0f} s a measurement; {os.cpu_count()} cores, {load()}",
        flush=True,
    )
    results = {}  # (row name, framework) -> seconds or the cell's text
    try:
        for framework in frameworks:
            child = Child(framework, args, scratch)
            try:
                for row in rows:
                    if framework not in row.runs:
                        continue
                    before = load()
                    result = child.measure(row)
                    results[row.name, framework] = result
                    shown = f"{result['seconds']:.3f} s" if isinstance(result, dict) else result
                    print(f"  {framework:8} {row.name:20} {shown:>14}   ({before})", flush=True)
            finally:
                child.stop()
    finally:
        release_sluice_home(scratch)

    print(f"\nDone, {load()}. Per task (or makespan); (x): other/sluice; eff: numpy / (2 x makespan)\n")
    print("| workload | " + " | ".join(frameworks) + " |")
    print("|---" * (len(frameworks) + 1) + "|")
    for row in rows:
        sluice, numpy = results.get((row.name, "sluice")), results.get((row.name, "numpy"))
        cells = [
            format_cell(row, sizes, name, results.get((row.name, name)), sluice, numpy, args.timeout)
            for name in frameworks
        ]
        print(f"| {row.label.format(**dataclasses.asdict(sizes))} | " + " | ".join(cells) + " |")


def release_sluice_home(scratch):
    """The data home's shared memory outlives its directory: gives both back."""
    home = scratch / "sluice-home"
    if home.exists():
        env = dict(os.environ, SLUICE_HOME=str(home))
        binary = os.environ.get("SLUICE_BINARY", str(ROOT / "build" / "sluice"))
        info = subprocess.run([binary, "-O", "json", "info"], capture_output=True, text=True, env=env)
        shared_memory = json.loads(info.stdout).get("shared_memory") if info.returncode == 0 else None
        if shared_memory:
            shutil.rmtree(shared_memory, ignore_errors=True)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
