"""sluice.dask's compact form of a Dask graph, without workers: every key of a graph compiled
into one program and run by sluice._graph.run here must give what dask's own synchronous
scheduler gives, for each way a graph says what a task reads."""

import operator
import pickle
import subprocess
import sys

import dask
import pytest
from dask._task_spec import Alias, DataNode, Dict, List, Task, TaskRef, Tuple
from worker_harness import PYTHON_DIR

from sluice import _graph
from sluice import dask as sluice_dask


class _Executor:
    """What _compile asks of an executor: ids for lasting functions."""

    def __init__(self):
        self.functions = []

    def _function(self, fn):
        self.functions.append(fn)
        return len(self.functions)


def inc(x, by=1):
    return x + by


def pair(a, b):
    return (a, b)


def collect(*args, **kwargs):
    return args, dict(sorted(kwargs.items()))


def run_locally(dsk, key):
    """Every key of `dsk`, in the graph's order of dependencies, as one program run here;
    the value of `key`."""
    graph, dependencies = sluice_dask._convert(dsk)
    dependents = {k: set() for k in graph}
    for k, deps in dependencies.items():
        for dep in deps:
            dependents[dep].add(k)
    order = sluice_dask._topological(graph, dependencies, dependents)
    program, functions, inputs = sluice_dask._compile(
        order, graph, dependencies, {}, _Executor(), results=[key]
    )
    assert inputs == ()
    # As it travels: the program pickled (bytes, or the structure for the executor to pickle).
    program = pickle.loads(pickle.dumps(program))
    (value,) = _graph.run(program, functions, inputs)
    return value


LEGACY = {
    "nested tasks": (
        {"a": 1, "b": (inc, (inc, "a"), (operator.mul, "a", 10)), "c": (inc, (inc, (inc, "b")))},
        "c",
    ),
    "a key used twice": (
        {"a": (inc, 1), "b": (operator.add, "a", "a"), "c": (pair, "b", ["b", ("b", "a")])},
        "c",
    ),
    "lists and tuples of keys": (
        {"x": 2, ("y", 0): (inc, "x"), ("y", 1): (inc, ("y", 0)), "z": (sum, [("y", 0), ("y", 1), ["x"][0]])},
        "z",
    ),
    "nested lists of keys": (
        {"a": 1, "b": 2, "c": (collect, [["a", "b"], ("a", ["b", 3])], ("a", "b"))},
        "c",
    ),
    "aliases": ({"a": (inc, 1), "b": "a", "c": "b", "d": (operator.add, "b", "c"), "e": "d"}, "e"),
    "an alias of a value": ({"a": 5, "b": "a", "c": (inc, "b")}, "c"),
    "data nodes": ({"a": [1, 2, 3], "b": (sum, "a"), "c": "not a key", "d": (pair, "b", "c")}, "d"),
    # A dict argument is taken as it is: a key among its values is not read (as in dask).
    "a dict argument": ({"a": (inc, 1), "b": (sorted, (dict.items, {"x": "a", "y": 2}))}, "b"),
    "kwargs through apply": (
        {
            "a": (inc, 1),
            "b": (dask.utils.apply, inc, ["a"], (dict, [["by", "a"]])),
            "c": (dask.utils.apply, inc, ["b"], {"by": 7}),
        },
        "c",
    ),
    "a tuple that is no key": ({"a": 1, "b": (pair, ("a", "zz"), ("q", 1))}, "b"),
    "an int key and a float": ({1: 10, "b": (pair, 1, 1.5), "c": (pair, "b", 1.0)}, "c"),
    "sets": ({"a": 1, "b": (sorted, {"a", 2})}, "b"),
}


@pytest.mark.parametrize("name", list(LEGACY))
def test_legacy_graphs_evaluate_as_dasks_scheduler_does(name):
    dsk, key = LEGACY[name]
    assert run_locally(dsk, key) == dask.get(dsk, key)


def spec_graphs():
    return {
        "kwargs and nested tasks": (
            {
                "a": DataNode("a", 3),
                "b": Task("b", inc, TaskRef("a"), by=TaskRef("a")),
                "c": Task(
                    "c", collect, Task(None, inc, TaskRef("b")), 2, k=Task(None, pair, TaskRef("a"), 1)
                ),
            },
            "c",
        ),
        "containers of refs": (
            {
                "a": Task("a", inc, 1),
                "b": Task(
                    "b", collect, List(TaskRef("a"), 2), Tuple(TaskRef("a")), Dict({"k": TaskRef("a")})
                ),
            },
            "b",
        ),
        # A plain list in a Task's arguments is a literal, TaskRefs in it included.
        "a literal list": ({"a": Task("a", inc, 1), "b": Task("b", len, [TaskRef("a"), 2])}, "b"),
        "aliases": (
            {"a": Task("a", inc, 1), "b": Alias("b", "a"), "c": Task("c", pair, TaskRef("b"), TaskRef("a"))},
            "c",
        ),
        "mixed with legacy": ({"a": Task("a", inc, 1), "b": (pair, "a", (inc, "a"))}, "b"),
    }


@pytest.mark.parametrize("name", list(spec_graphs()))
def test_task_spec_graphs_evaluate_as_dasks_scheduler_does(name):
    dsk, key = spec_graphs()[name]
    assert run_locally(dsk, key) == dask.get(dsk, key)


class Doubled(Task):
    """A kind of node sluice.dask does not know: called as dask calls it."""

    def __call__(self, values=()):
        return 2 * super().__call__(values)


def test_a_node_of_an_unknown_kind_is_called_with_its_dependencies():
    dsk = {"a": Task("a", inc, 1), "b": Doubled("b", inc, TaskRef("a")), "c": (inc, "b")}
    assert run_locally(dsk, "c") == dask.get(dsk, "c") == 7


def test_a_task_reading_a_key_outside_the_graph_fails_by_name():
    with pytest.raises(KeyError, match="'missing'"):
        run_locally({"a": Task("a", inc, TaskRef("missing"))}, "a")


def test_every_slot_is_emptied_after_its_last_reader():
    """A chain of large values holds one or two at a time in the worker."""
    dsk = {("c", 0): (inc, 0)}
    for i in range(1, 50):
        dsk[("c", i)] = (inc, ("c", i - 1))
    graph, dependencies = sluice_dask._convert(dsk)
    program, _, _ = sluice_dask._compile(list(dsk), graph, dependencies, {}, _Executor())
    steps, result = pickle.loads(program)
    assert result == 49
    assert [step[4] for step in steps] == [()] + [(i - 1,) for i in range(1, 50)]


def test_programs_travel_pickled_and_literals_of_main_go_with_the_executor():
    """Plain data: one bytes object. A literal of __main__ (pickled by value by the executor)
    or a large array (out of band, in shared memory): the structure, for the executor."""
    import numpy as np

    plain = sluice_dask._pack(([[0, (1, "x"), (), None, ()]], 0))
    assert type(plain) is bytes
    large = ([[0, (np.zeros(1 << 16),), (), None, ()]], 0)
    assert sluice_dask._pack(large) is large


def test_the_worker_side_imports_nothing_of_dask():
    code = "import sys, sluice._graph; print('dask' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(PYTHON_DIR)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_a_batch_is_named_by_its_keys_in_errors():
    assert repr(sluice_dask._Keys([("f", 0)])) == "('f', 0)"
    assert (
        repr(sluice_dask._Keys([("f", i) for i in range(40)])) == "('f', 0), ('f', 1), ('f', 2) and 37 more"
    )


class Box:
    pass


def test_the_worker_lets_go_of_each_value_after_its_last_reader():
    import weakref

    alive = weakref.WeakSet()

    def make(previous):
        box = Box()
        alive.add(box)
        return box

    dsk = {("c", 0): (make, None)}
    for i in range(1, 10):
        dsk[("c", i)] = (make, ("c", i - 1))
    dsk["count"] = (lambda last: len(alive), ("c", 9))
    assert run_locally(dsk, "count") == 1  # only its own input: ("c", 9)


def test_only_functions_that_live_as_long_as_their_module_get_ids():
    """The executor keeps each function it gives an id for its lifetime: not one made per
    graph with an object in it."""
    import functools

    import numpy as np

    lasting = [len, operator.add, np.zeros, inc, lambda: 1]
    made = [np.arange(3).sum, "x".upper, dict.items, functools.partial(inc, by=2), np.add, Box]
    assert [sluice_dask._lasting(fn) for fn in lasting] == [True] * len(lasting)
    assert [sluice_dask._lasting(fn) for fn in made] == [False] * len(made)
