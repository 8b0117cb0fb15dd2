"""Dask graphs on Sluice's function workers: `dask.compute(x, scheduler=sluice.dask.get)`.

`get` takes any Dask graph (the low-level graph dict of keys and tasks, legacy tuples or
dask._task_spec nodes) and runs it on a sluice.parallel.Executor, in sandboxed workers:
- linear chains of tasks (a task whose only dependent takes nothing else) run as one call on
  one worker, which "becomes" each next task with its input still in memory (Wukong);
- every other task is a call whose arguments are its dependencies' futures: when they all run
  on one worker (at most 8 of them), the call is placed there and runs right after them from
  the results that worker keeps (sluice.parallel); otherwise it starts as soon as the last of
  them is done, decided as the results arrive, and large intermediate results go from worker
  to worker in shared memory without passing through this process;
- a static schedule (Wukong's) sends the leaves that feed fan-ins (calls with no call among
  their inputs) to the workers in contiguous blocks of the graph's depth-first order, queued
  there even while another worker idles, so that the leaves under a node of a tree run on one
  worker and the node is placed behind them; only the top levels of a tree cross workers.
  Other calls go where the executor's placement or its least loaded worker puts them;
- calls are submitted in depth-first order from the graph's outputs, so a node follows its
  inputs on their worker and each worker keeps few results at a time;
- only the keys asked for are read here: every other task's value stays in its worker
  (Executor._submit(keep=True)): a reader placed there takes it from the worker's store, the
  object itself; a reader on another worker gets it fetched from its holder (pickled once,
  in shared memory); it is dropped once its last reader has run. A worker that dies with
  values kept fails the calls that still had to read them (WorkerDiedError naming the key).
"""

import pickle
import types

import cloudpickle
import dask
from dask._task_spec import (
    Alias,
    DataNode,
    Dict,
    GraphNode,
    List,
    Set,
    Task,
    TaskRef,
    Tuple,
    convert_legacy_task,
)
from dask.core import flatten
from dask.local import nested_get

from sluice import _graph, parallel

__all__ = ["get"]


# -- The graph in sluice's own form: each key's node is a _Call (a task), a _Ref (an alias of
# another key) or a _Data (a value). Arguments of a _Call are _Call (a nested task), _Ref (a
# key's value) or anything else: a literal, passed as it is.


class _Ref:
    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


class _Call:
    __slots__ = ("fn", "args", "kwargs")

    def __init__(self, fn, args, kwargs=None):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs  # a dict, or None


class _Data:
    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


_EXPRESSIONS = (_Ref, _Call)
# Functions that live as long as their module: sent once per worker by id (Executor._function
# keeps each one it is given for the executor's lifetime, which a partial made per graph would
# make a leak).
_LASTING = (types.FunctionType, types.BuiltinFunctionType)


def _convert(dsk):
    """The graph in sluice's form (key -> _Call, _Ref or _Data) and each key's dependencies
    (the keys of the graph it reads). Legacy tasks are read as dask's convert_legacy_graph
    reads them, without making its Task objects (about 10 us a task); dask's own nodes are
    translated. A key that is an alias of itself is dropped, as dask drops it."""
    keys = dsk.keys()
    graph, dependencies = {}, {}
    for key, task in dsk.items():
        deps = set()
        if isinstance(task, GraphNode):
            node = _Data(task.value) if type(task) is DataNode else _from_node(task, keys, deps)
        else:
            node = _from_legacy(task, keys, deps)
            if not isinstance(node, _EXPRESSIONS):
                node = _Data(node)
        if type(node) is _Ref and node.key == key:
            continue
        graph[key] = node
        dependencies[key] = deps
    if len(graph) < len(dsk):
        for deps in dependencies.values():
            deps &= graph.keys()
    return graph, dependencies


def _ref(key, keys, deps):
    if key in keys:
        deps.add(key)
    return _Ref(key)  # a key outside the graph fails when its reader is compiled


def _from_arg(arg, keys, deps):
    """An argument of a dask Task, as Task.__call__ reads it: a node is evaluated, a TaskRef is
    its key's value, anything else (plain containers too) is passed as it is."""
    if isinstance(arg, GraphNode):
        return _from_node(arg, keys, deps)
    if isinstance(arg, TaskRef):
        return _ref(arg.key, keys, deps)
    return arg


def _from_node(node, keys, deps):
    """A dask node as an argument: a _Call, a _Ref, or a data node's value."""
    kind = type(node)
    if kind is Task:
        args = tuple([_from_arg(a, keys, deps) for a in node.args])
        kwargs = {name: _from_arg(a, keys, deps) for name, a in node.kwargs.items()}
        return _Call(node.func, args, kwargs or None)
    if kind is Alias:
        return _ref(node.target, keys, deps)
    if kind is DataNode:
        return node.value
    if kind is List or kind is Tuple or kind is Set:
        return _Call(_graph.build, (kind.klass, *[_from_arg(a, keys, deps) for a in node.args]))
    if kind is Dict:
        return _Call(_graph.build_dict, tuple([_from_arg(a, keys, deps) for a in node.args]))
    # A kind of node this does not know (a subclass of Task that a library defines): called as
    # dask calls it, with a dict of its dependencies' values (its worker imports dask then).
    pairs = []
    for dep in node.dependencies:
        if dep in keys:
            pairs += [dep, _ref(dep, keys, deps)]
    return _Call(node, (_Call(_graph.build_dict, tuple(pairs)),))


def _from_legacy(task, keys, deps):
    """A legacy task (or one of its arguments), as dask's convert_legacy_task reads it: a tuple
    with a callable first is a call, a key of the graph is its value, a list or tuple holding
    either is built from their values; anything else is a literal. The common types here,
    the rest through convert_legacy_task itself."""
    kind = type(task)
    if kind is tuple:
        if task and callable(task[0]):
            return _Call(task[0], tuple([_from_legacy_arg(a, keys, deps) for a in task[1:]]))
        try:
            if task in keys:
                deps.add(task)
                return _Ref(task)
        except TypeError:  # unhashable
            pass
        return _container(task, tuple, keys, deps)
    if kind is str or kind is int or kind is float:
        if task in keys:
            deps.add(task)
            return _Ref(task)
        return task
    if kind is list:
        return _container(task, list, keys, deps)
    if task is None:
        return task
    if isinstance(task, GraphNode):
        return _from_node(task, keys, deps)
    converted = convert_legacy_task(None, task, keys)
    if isinstance(converted, GraphNode):
        return _from_node(converted, keys, deps)
    return converted


def _from_legacy_arg(arg, keys, deps):
    # A dict argument is dask's Dict of its items as they are: keys in it are not read, and
    # only nodes and TaskRefs among them are evaluated.
    if isinstance(arg, dict):
        items = [x for pair in arg.items() for x in pair]
        if any(isinstance(x, (GraphNode, TaskRef)) for x in items):
            return _Call(_graph.build_dict, tuple([_from_arg(x, keys, deps) for x in items]))
        return arg if type(arg) is dict else dict(arg)
    return _from_legacy(arg, keys, deps)


def _container(task, kind, keys, deps):
    items = [_from_legacy(x, keys, deps) for x in task]
    for x in items:
        if isinstance(x, _EXPRESSIONS):
            return _Call(_graph.build, (kind, *items))
    return kind(items)


# -- Compiling a chain into one call


def _direct(chain, graph):
    """The task of a one-task chain that can be its call itself, fn(*args, **kwargs): a
    lasting function (_LASTING) on literals and keys' values, no nested task. None otherwise."""
    if len(chain) != 1:
        return None
    node = graph[chain[0]]
    if type(node) is not _Call or not isinstance(node.fn, _LASTING):
        return None
    for arg in node.args:
        if type(arg) is _Call:
            return None
    if node.kwargs:
        for arg in node.kwargs.values():
            if type(arg) is _Call:
                return None
    return node


def _resolve(arg, values):
    return values[arg.key] if type(arg) is _Ref else arg


def _compile(chain, graph, values, executor):
    """A chain as a program for _graph.run (its docstring has the format): (program, functions,
    inputs), inputs being the futures (or data nodes' values) of the keys it reads from
    outside, each future once."""
    inside = set(chain)
    slot_of, inputs, input_of = {}, [], {}
    steps, functions, function_of = [], [], {}

    def slot(key):
        found = slot_of.get(key)
        if found is not None:
            return found
        if key in inside or key not in values:
            raise KeyError(f"a task reads {key!r}, which is not a key of the graph")
        value = values[key]
        # One input per future: two aliases of one key are one value.
        found = input_of.get(id(value)) if isinstance(value, parallel.Future) else None
        if found is None:
            found = input_of[id(value)] = len(inputs)
            inputs.append(value)
        slot_of[key] = found
        return found

    def emit(call):
        args, refs = list(call.args), []
        for i, arg in enumerate(args):
            kind = type(arg)
            if kind is _Ref:
                refs.append((i, slot(arg.key)))
                args[i] = None
            elif kind is _Call:
                refs.append((i, emit(arg)))
                args[i] = None
        kwargs = call.kwargs
        if kwargs:
            kwargs = dict(kwargs)
            for name, arg in kwargs.items():
                kind = type(arg)
                if kind is _Ref:
                    refs.append((name, slot(arg.key)))
                    kwargs[name] = None
                elif kind is _Call:
                    refs.append((name, emit(arg)))
                    kwargs[name] = None
        index = function_of.get(id(call.fn))
        if index is None:
            index = function_of[id(call.fn)] = len(functions)
            functions.append(call.fn)
            if isinstance(call.fn, _LASTING):
                # Given an id now, it is sent to each worker once and named by its id in the
                # calls (and a function of the user's own files goes by value, not by a
                # reference the worker cannot import).
                executor._function(call.fn)
        steps.append((index, tuple(args), refs, kwargs))
        return -len(steps)  # until the inputs are counted: step n is slot -1 - n

    for key in chain:
        node = graph[key]
        kind = type(node)
        if kind is _Call:
            slot_of[key] = emit(node)
        elif kind is _Ref:
            slot_of[key] = slot(node.key)
        else:
            slot_of[key] = emit(_Call(_graph.value, (node.value,)))

    # Step slots come after the inputs, whose number is known only now.
    base = len(inputs) - 1

    def final(s):
        return s if s >= 0 else base - s

    result = final(slot_of[chain[-1]])
    last_read = {}
    compiled = []
    for index, (fn, args, refs, kwargs) in enumerate(steps):
        refs = tuple([(at, final(s)) for at, s in refs])
        for _, s in refs:
            last_read[s] = index
        compiled.append([fn, args, refs, kwargs, []])
    for s, index in last_read.items():
        if s != result:
            compiled[index][4].append(s)
    program = (
        tuple([(fn, args, refs, kwargs, tuple(frees)) for fn, args, refs, kwargs, frees in compiled]),
        result,
    )
    return _pack(program), tuple(functions), tuple(inputs)


_MAX_IN_BAND = 16 * 1024  # a larger buffer goes out of band through the executor's pickling


def _pack(program):
    """The program pickled here, when plain pickle does it as well as the executor would: one
    bytes object for the executor's pickler (which looks at each object it pickles) instead of
    a tuple per task. Otherwise (a literal of __main__ or of a module pickled by value, a large
    array that should travel in shared memory, or one that plain pickle cannot do) the program
    itself, for the executor to pickle."""
    large = False

    def in_band(buffer):
        nonlocal large
        large = large or buffer.raw().nbytes >= _MAX_IN_BAND
        return True

    try:
        data = pickle.dumps(program, protocol=5, buffer_callback=in_band)
    except (pickle.PicklingError, TypeError, AttributeError):
        return program
    if large or b"__main__" in data:
        return program
    for name in getattr(cloudpickle.cloudpickle, "_PICKLE_BY_VALUE_MODULES", ()):
        if name.encode() in data:
            return program
    return data


def _chains(graph, dependencies, dependents, wanted):
    """Groups keys into chains: a key joins its only dependency's chain when it is that
    dependency's only dependent and the dependency is not wanted by itself. Chains come in
    depth-first order from the outputs."""
    chain_of, chains = {}, []
    for key in _topological(graph, dependencies, dependents):
        deps = dependencies[key]
        if len(deps) == 1:
            (dep,) = deps
            if (
                dep in chain_of
                and len(dependents[dep]) == 1
                and dep not in wanted
                and chains[chain_of[dep]][-1] == dep
            ):
                chain_of[key] = chain_of[dep]
                chains[chain_of[key]].append(key)
                continue
        chain_of[key] = len(chains)
        chains.append([key])
    return chains


def _topological(graph, dependencies, dependents):
    """Depth-first post-order from the outputs (keys nobody reads), dependencies in the
    graph's order: a node comes right after the subtrees it reads, and a tree's leaves come in
    their order, so the leaves of a block are neighbours in the tree."""
    position = {key: i for i, key in enumerate(graph)}
    outputs = [key for key in graph if not dependents[key]]
    order, done, stack = [], set(), []
    for root in outputs + list(graph):  # every key, should a cycle leave one unreached
        if root in done:
            continue
        stack.append((root, False))
        while stack:
            key, expanded = stack.pop()
            if key in done:
                continue
            if expanded:
                done.add(key)
                order.append(key)
                continue
            stack.append((key, True))
            # Reversed: the first dependency is taken from the stack, and ends up, first.
            deps = sorted((d for d in dependencies[key] if d not in done), key=position.__getitem__)
            stack.extend((d, False) for d in reversed(deps))
    return order


def _leaf_workers(chains, chain_inputs, workers):
    """The static schedule: chain index -> worker index, for the leaves (chains with no call
    among their inputs) that feed a fan-in (a chain reading two calls or more), in contiguous
    blocks of the chains' order over `workers` (Wukong gives each leaf's subgraph to one
    executor). A leaf that feeds no fan-in gains nothing from a fixed worker (a map's items):
    it goes to the least loaded one, as before."""
    if len(workers) < 2:
        return {}
    calls_read = [sum(1 for dep in inputs if dep is not None) for inputs in chain_inputs]
    feeds_fan_in = set()
    for index, inputs in enumerate(chain_inputs):
        if calls_read[index] >= 2:
            feeds_fan_in.update(dep for dep in inputs if dep is not None)
    leaves = [i for i in range(len(chains)) if calls_read[i] == 0 and i in feeds_fan_in]
    return {leaf: workers[n * len(workers) // len(leaves)] for n, leaf in enumerate(leaves)}


def _target(key, graph):
    """The key an alias (or a chain of aliases) stands for; `key` itself otherwise."""
    for _ in range(len(graph)):  # bounded: a cycle of aliases is no graph dask makes
        node = graph[key]
        if type(node) is not _Ref or node.key not in graph:
            break
        key = node.key
    return key


def _is_value(graph, chain):
    """Whether a chain is no call: a data node, or an alias of one (get() keeps its value)."""
    return len(chain) == 1 and type(graph[_target(chain[0], graph)]) is _Data


def _call_of(dep, graph, chain_of, is_call):
    """The chain index of the call that computes key `dep` (through aliases), or None for a
    value."""
    index = chain_of[_target(dep, graph)]
    return index if is_call[index] else None


def get(dsk, keys, executor=None, num_workers=None, **kwargs):
    """Computes `keys` of the Dask graph `dsk` (dask's scheduler protocol). Runs on `executor`
    (a sluice.parallel.Executor), else on a shared one with `num_workers` workers."""
    if not hasattr(dsk, "items"):
        dsk = dsk.__dask_graph__()
    graph, dependencies = _convert(dsk)
    wanted = set(flatten(keys)) if isinstance(keys, list) else {keys}
    if executor is None:
        executor = parallel._shared(_graph.run, None, None, num_workers)

    dependents = {k: set() for k in graph}
    for key, deps in dependencies.items():
        for dep in deps:
            dependents[dep].add(key)

    chains = _chains(graph, dependencies, dependents, wanted)
    # Which chains are calls, and which calls each chain reads (None: a data node's value).
    chain_of = {key: index for index, chain in enumerate(chains) for key in chain}
    is_call = [not _is_value(graph, chain) for chain in chains]
    chain_inputs = []
    for chain in chains:
        if len(chain) == 1:
            deps = dependencies[chain[0]]
        else:
            inside = set(chain)
            deps = {dep for key in chain for dep in dependencies[key] - inside}
        chain_inputs.append({_call_of(dep, graph, chain_of, is_call) for dep in deps})
    # Workers alive now: one that ended would only see its hinted calls sent elsewhere.
    workers = [w.index for w in executor._workers if w.alive]
    hints = _leaf_workers(chains, chain_inputs, workers)

    # What no key asked for (through aliases) reads is kept in its worker, never sent here.
    asked = wanted | {_target(key, graph) for key in wanted if key in graph}

    values = {}  # key -> a Future, or the value itself (data nodes)
    kept = []
    try:
        for index, chain in enumerate(chains):
            head = graph[chain[0]]
            if len(chain) == 1 and type(head) is _Data:
                values[chain[0]] = head.value
                continue
            if len(chain) == 1 and type(head) is _Ref and head.key in values:
                values[chain[0]] = values[head.key]
                continue
            keep = asked.isdisjoint(chain)
            direct = _direct(chain, graph)
            if direct is not None:
                # Its own call: the function goes once to each worker, and nothing of it is
                # pickled per call but its arguments.
                args = tuple([_resolve(a, values) for a in direct.args])
                kwargs = {k: _resolve(a, values) for k, a in direct.kwargs.items()} if direct.kwargs else {}
                fn = direct.fn
            else:
                args, kwargs, fn = _compile(chain, graph, values, executor), {}, _graph.run
            future = executor._submit(fn, args, kwargs, worker=hints.get(index), keep=keep, label=chain[-1])
            if keep:
                kept.append(future)
            for key in chain:
                values[key] = future  # only the last key of a chain is read by others
    finally:
        # Every reader is submitted: each kept value goes once they have run.
        executor._unhold(kept)
    # Only the wanted futures are held from here: another one (its result, a memfd of shared
    # memory when large) is let go as soon as its readers are done, not when the graph is.
    results = {key: values[key] for key in wanted}
    del values
    for key, value in results.items():
        if isinstance(value, parallel.Future):
            results[key] = value.result()
    return nested_get(keys, results)


# dask.config.set(scheduler="sluice") works too.
try:
    dask.base.named_schedulers.setdefault("sluice", get)
except AttributeError:  # dask without named schedulers: pass scheduler=sluice.dask.get
    pass
