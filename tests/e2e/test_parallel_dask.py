"""sluice.dask.get on the real workers: graphs compiled into plain calls (a task's own function,
or a program of a chain or of a batch of siblings for sluice._graph.run) give what dask's own
scheduler gives, need no dask in the workers, and a failing task raises its own exception
with the worker's traceback naming its function."""

import subprocess
import sys
import textwrap

from cli_harness import ROOT, SLUICE


def run_script(sluice, tmp_path, code, timeout=300):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    # The workers run this checkout's SDK too (SLUICE_PYTHONPATH), not the one built in.
    python = str(ROOT / "python")
    env = dict(sluice.env, SLUICE_BINARY=str(SLUICE), PYTHONPATH=python, SLUICE_PYTHONPATH=python)
    return subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout
    )


def ok(proc):
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


GRAPHS = """
import operator, sys
import dask
from dask._task_spec import Alias, DataNode, Dict, List, Task, TaskRef

def inc(x, by=1):
    return x + by

def collect(*args, **kwargs):
    return args, sorted(kwargs.items())

def times(x, i):
    return x * i

def chain(n):
    dsk = {("c", 0): (inc, 0)}
    for i in range(1, n):
        dsk[("c", i)] = (inc, ("c", i - 1))
    return dsk, ("c", n - 1)

def fan(k, sibling):
    # 1 -> k -> 1, the sink reading one sibling twice.
    dsk = {"root": (inc, 1)}
    dsk.update({("f", i): sibling(i) for i in range(k)})
    dsk["sink"] = (collect, [("f", i) for i in range(k)], ("f", 3))
    return dsk, "sink"

def leaves(k):
    # Leaves (no input) feeding a fan-in: the static schedule gives them to the workers in
    # blocks, batched within each block.
    dsk = {("l", i): (times, 3, i) for i in range(k)}
    dsk["total"] = (sum, [("l", i) for i in range(k)])
    return dsk, "total"

def chained_siblings(k):
    dsk = {"root": (inc, 1)}
    for i in range(k):
        dsk[("s", i, 0)] = (times, "root", i)
        dsk[("s", i, 1)] = (inc, ("s", i, 0), i)
    dsk["sink"] = (collect, *[("s", i, 1) for i in range(k)])
    return dsk, "sink"

GRAPHS = {
    "nested": ({"a": 1, "b": (inc, (inc, "a"), (operator.mul, "a", 10)), "c": (inc, (inc, (inc, "b")))}, "c"),
    "twice": ({"a": (inc, 1), "b": (operator.add, "a", "a"), "c": (collect, "b", ["b", ("b", "a")])}, "c"),
    "lists": (
        {"x": 2, ("y", 0): (inc, "x"), ("y", 1): (inc, ("y", 0)), "z": (collect, [("y", 0), [("y", 1)]])},
        "z",
    ),
    "aliases": (
        {"a": (inc, 1), "b": "a", "c": "b", "d": (operator.add, "b", "c"), "e": "d"},
        ["e", ["a", "c"]],
    ),
    "data": ({"a": [1, 2, 3], "b": (sum, "a"), "c": "not a key", "d": (collect, "b", "c", "a")}, "d"),
    "spec kwargs": (
        {
            "a": DataNode("a", 3),
            "b": Task("b", inc, TaskRef("a"), by=TaskRef("a")),
            "c": Task(
                "c", collect, Task(None, inc, TaskRef("b")), List(TaskRef("a"), 2), k=Dict(v=TaskRef("b"))
            ),
            "d": Alias("d", "c"),
        },
        "d",
    ),
    "chain": chain(300),
    "fan": fan(200, lambda i: (times, "root", i)),
    "leaves": leaves(200),
    "chained siblings": chained_siblings(150),
    # Last: dask's own apply, which the worker imports dask for.
    "apply kwargs": ({"a": (inc, 1), "b": (dask.utils.apply, inc, ["a"], (dict, [["by", "a"]]))}, "b"),
}
"""


def test_compiled_graphs_give_dasks_results_and_workers_never_import_dask(sluice, tmp_path):
    out = ok(
        run_script(
            sluice,
            tmp_path,
            GRAPHS
            + """
import sluice, sluice.dask

def dask_imported():
    return "dask" in sys.modules

with sluice.Executor(workers=2) as ex:
    ex.get_result(ex.map(float, range(10)))  # both workers up
    for name, (dsk, keys) in GRAPHS.items():
        if name == "apply kwargs":
            imported = [ex._submit(dask_imported, (), {}, worker=w).result(timeout=60) for w in (0, 1)]
            print("dask in workers", imported)
        kept = ex.kept_results
        ours = sluice.dask.get(dsk, keys, executor=ex)
        theirs = dask.get(dsk, keys)
        print(name, ours == theirs, ex.kept_results - kept)
""",
        )
    )
    for name in (
        "nested",
        "twice",
        "lists",
        "aliases",
        "data",
        "apply kwargs",
        "spec kwargs",
        "chain",
        "fan",
        "leaves",
    ):
        assert f"{name} True" in out, out
    # A wide fan-in's 200 siblings are kept in about 16 batches per worker, not one by one.
    kept = {
        line.split()[0]: int(line.split()[-1])
        for line in out.splitlines()
        if line.split()[0] in ("fan", "leaves")
    }
    assert 1 < kept["fan"] < 60 and 1 < kept["leaves"] < 60, out
    assert "chained siblings True" in out
    assert "dask in workers [False, False]" in out


def test_a_failing_task_raises_its_exception_with_the_workers_traceback(sluice, tmp_path):
    """Its own call, a link of a chain, a nested task, a sibling in a batch: each raises the
    task's exception, and the worker's traceback names the function that raised."""
    out = ok(
        run_script(
            sluice,
            tmp_path,
            GRAPHS
            + """
import sluice, sluice.dask

def check_fare(fare, *rest):
    if fare < 0:
        raise ValueError(f"fare {fare} is negative")
    return fare

failing = {
    "own call": ({"a": (inc, -5), "b": (check_fare, "a")}, "b"),
    "chain": ({"a": (inc, 0), "b": (inc, "a", -10), "c": (check_fare, "b"), "d": (inc, "c")}, "d"),
    "nested": ({"a": (inc, -3), "b": (inc, (check_fare, (inc, "a")))}, "b"),
    # Only the sibling 150 fails (which of several failures a fan-in reports is not said).
    "batch": fan(200, lambda i: (check_fare, (inc, "root", -150 if i == 150 else 0), i)),
}
with sluice.Executor(workers=2) as ex:
    for name, (dsk, key) in failing.items():
        try:
            print(name, "returned", sluice.dask.get(dsk, key, executor=ex))
        except ValueError as e:
            remote = str(e.__cause__)
            print(name, "raised", e, "|", "check_fare" in remote, "ValueError: fare" in remote)
    print("after", sluice.dask.get(*GRAPHS["nested"], executor=ex))
""",
        )
    )
    assert "own call raised fare -4 is negative | True True" in out, out
    assert "chain raised fare -9 is negative | True True" in out, out
    assert "nested raised fare -1 is negative | True True" in out, out
    assert "batch raised fare -148 is negative | True True" in out, out
    assert "after 15" in out, out


def test_a_batch_of_large_values_goes_worker_to_worker_and_nothing_stays(sluice, tmp_path):
    """Batched siblings of 256 KiB each: the fan-in reads them in its worker (a batch from the
    other worker fetched whole), and every kept value is released at the end."""
    out = ok(
        run_script(
            sluice,
            tmp_path,
            """
import numpy as np
import dask
import sluice, sluice.dask

def block(i):
    return np.full(32 * 1024, float(i))

def total(*blocks):
    return float(sum(b.sum() for b in blocks))

dsk = {("b", i): (block, i) for i in range(128)}
dsk["total"] = (total, *[("b", i) for i in range(128)])
with sluice.Executor(workers=2) as ex:
    ex.get_result(ex.map(float, range(10)))
    before = ex.received_bytes
    print("total", sluice.dask.get(dsk, "total", executor=ex) == dask.get(dsk, "total"))
    # The blocks never come here: only the total, and what was fetched for the other worker.
    print("received", ex.received_bytes - before <= ex.fetched_values * 128 * 256 * 1024 + 65536)
    print("released", sum(len(w.holding) for w in ex._workers))
""",
        )
    )
    assert "total True" in out, out
    assert "received True" in out, out
    assert "released 0" in out, out
