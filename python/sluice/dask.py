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
- a wide fan-in (a task reading at least 32 siblings per worker that read the same calls,
  each read by it alone) gets its siblings in batches: about 16 calls per worker, each running
  a run of consecutive siblings and keeping their values together for the fan-in, rather than
  a call (about 100 us of this process's time) per sibling;
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

How a call is made (the client's time is what bounds small tasks: its submitting thread and
the executor's dispatcher share one interpreter). The graph is read into a form of its own
(_Call, _Ref, _Data) without making dask's Task objects. A task that is a lasting function
(a def, or a module's builtin function) applied to literals and keys is submitted as that
function's own call, `fn(*args)`, the function sent once per worker. Any other chain (or
batch) is compiled into a program of plain lists for sluice._graph.run, pickled here in one
piece, with its functions in a table beside it (lasting ones named by their ids, sent once
per worker); the worker imports nothing of dask for it, unless a task's own function or a
node dask defines needs it.
"""

import operator
import types

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

from sluice import _channel, _graph, parallel

__all__ = ["get"]


# -- The graph in sluice's own form: each key's node is a _Call (a task), a _Ref (an alias of
# another key) or a _Data (a value).


class _Ref:
    """The value of the key `key`."""

    __slots__ = ("key",)

    def __init__(self, key):
        self.key = key


class _Call:
    """fn(*args, **kwargs), where the arguments at `refs` are computed: (position, _Ref or
    _Call), a position being an index into `args` or a keyword's name; `args` (a tuple) and
    `kwargs` (a dict or None) hold None there and literals everywhere else."""

    __slots__ = ("fn", "args", "kwargs", "refs")

    def __init__(self, fn, args, kwargs, refs):
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.refs = refs


class _Data:
    """A data node: its value is the key's value, computed by nobody."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class _Member:
    """A key computed in a batch: element `index` of the batch's call's value (a tuple)."""

    __slots__ = ("future", "index")

    def __init__(self, future, index):
        self.future = future
        self.index = index


class _Keys(tuple):
    """The keys of a batch, as its call's label in errors."""

    def __repr__(self):
        shown = ", ".join(repr(key) for key in self[:3])
        return shown if len(self) <= 3 else f"{shown} and {len(self) - 3} more"


def _lasting(fn):
    """Whether `fn` lives as long as its module, a def or a builtin function: named by an id in
    calls and sent once per worker. Not a builtin bound to an object (`array.sum`), a partial
    or a callable object, which dask makes per graph: Executor._function keeps what it is
    given for the executor's lifetime."""
    kind = type(fn)
    if kind is types.FunctionType:
        return True
    if kind is not types.BuiltinFunctionType:
        return False
    return fn.__self__ is None or type(fn.__self__) is types.ModuleType


def _call(fn, args, kwargs=None):
    """A _Call from arguments where computed ones are _Ref or _Call."""
    refs = [(i, arg) for i, arg in enumerate(args) if type(arg) is _Ref or type(arg) is _Call]
    if refs:
        args = list(args)
        for i, _ in refs:
            args[i] = None
    if kwargs:
        computed = [(k, arg) for k, arg in kwargs.items() if type(arg) is _Ref or type(arg) is _Call]
        if computed:
            kwargs = dict(kwargs)
            for k, _ in computed:
                kwargs[k] = None
            refs += computed
    return _Call(fn, tuple(args), kwargs or None, tuple(refs))


# -- Reading a dask graph


def _convert(dsk):
    """The graph in sluice's form (key -> _Call, _Ref or _Data) and each key's dependencies
    (the keys of the graph it reads). Legacy tasks are read as dask's convert_legacy_graph
    reads them, without making its Task objects (about 10 us a task); dask's own nodes are
    translated. A key that is an alias of itself is dropped, as dask drops it."""
    keys = dsk.keys()
    graph, dependencies = {}, {}
    for key, task in dsk.items():
        deps = dependencies[key] = set()
        if type(task) is tuple and task and callable(task[0]):
            graph[key] = _legacy_call(task, keys, deps)
            continue
        if isinstance(task, GraphNode):
            node = _Data(task.value) if type(task) is DataNode else _from_node(task, keys, deps)
        else:
            node = _from_legacy(task, keys, deps)
            if type(node) is not _Ref and type(node) is not _Call:
                node = _Data(node)
        if type(node) is _Ref and node.key == key:
            del dependencies[key]
            continue
        graph[key] = node
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
        args = [_from_arg(a, keys, deps) for a in node.args]
        return _call(node.func, args, {k: _from_arg(a, keys, deps) for k, a in node.kwargs.items()})
    if kind is Alias:
        return _ref(node.target, keys, deps)
    if kind is DataNode:
        return node.value
    if kind is List or kind is Tuple or kind is Set:
        return _call(_graph.build, [kind.klass] + [_from_arg(a, keys, deps) for a in node.args])
    if kind is Dict:
        return _call(_graph.build_dict, [_from_arg(a, keys, deps) for a in node.args])
    # A kind of node this does not know (a subclass of Task that a library defines): called as
    # dask calls it, with a dict of its dependencies' values (its worker imports dask then).
    pairs = []
    for dep in node.dependencies:
        if dep in keys:
            pairs += [dep, _ref(dep, keys, deps)]
    return _call(node, [_call(_graph.build_dict, pairs)])


def _legacy_call(task, keys, deps):
    """A legacy task (fn, *args), as dask's convert_legacy_task reads it. Keys (the common
    arguments) are looked at here, the rest in _from_legacy_arg."""
    args, refs = list(task[1:]), []
    for i, arg in enumerate(args):
        kind = type(arg)
        if kind is str or kind is int:
            if arg in keys:
                deps.add(arg)
                refs.append((i, _Ref(arg)))
                args[i] = None
            continue
        if kind is tuple and arg and not callable(arg[0]) and _in(arg, keys):
            deps.add(arg)
            refs.append((i, _Ref(arg)))
            args[i] = None
            continue
        if arg is None:
            continue
        arg = _from_legacy_arg(arg, keys, deps)
        if type(arg) is _Call or type(arg) is _Ref:
            refs.append((i, arg))
            args[i] = None
        else:
            args[i] = arg
    return _Call(task[0], tuple(args), None, tuple(refs))


def _in(key, keys):
    try:
        return key in keys
    except TypeError:  # unhashable
        return False


def _from_legacy(task, keys, deps):
    """A legacy task or argument, as dask's convert_legacy_task reads it: a tuple with a
    callable first is a call, a key of the graph is its value, a list or tuple holding either
    is built from their values; anything else is a literal. The common types here, the rest
    through convert_legacy_task itself."""
    kind = type(task)
    if kind is tuple:
        if task and callable(task[0]):
            return _legacy_call(task, keys, deps)
        if _in(task, keys):
            deps.add(task)
            return _Ref(task)
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
            return _call(_graph.build_dict, [_from_arg(x, keys, deps) for x in items])
        return arg if type(arg) is dict else dict(arg)
    return _from_legacy(arg, keys, deps)


def _container(task, kind, keys, deps):
    items = [_from_legacy(x, keys, deps) for x in task]
    for x in items:
        if type(x) is _Ref or type(x) is _Call:
            return _call(_graph.build, [kind] + items)
    return kind(items)


# -- Compiling chains and batches into calls


def _direct(chain, graph, values):
    """The task of a one-task chain that can be its call itself, fn(*args, **kwargs): a
    lasting function (_lasting) on literals and the values of keys computed by calls or given
    (not in a batch); no nested task. None otherwise."""
    if len(chain) != 1:
        return None
    node = graph[chain[0]]
    if type(node) is not _Call or not _lasting(node.fn):
        return None
    for _, arg in node.refs:
        if type(arg) is not _Ref or type(values.get(arg.key)) is _Member:
            return None
    return node


def _direct_arguments(node, values):
    args, kwargs = list(node.args), dict(node.kwargs) if node.kwargs else {}
    for at, ref in node.refs:
        if type(at) is int:
            args[at] = values[ref.key]
        else:
            kwargs[at] = values[ref.key]
    return tuple(args), kwargs


def _compile(keys, graph, dependencies, values, executor, results=None):
    """Keys (a chain, or the chains of a batch one after the other) as a program for
    _graph.run (its docstring has the format): (program, functions, inputs). The call returns
    the last key's value, or with `results` (a list of keys) a tuple of theirs. Inputs are the
    futures (or data nodes' values) of the keys read from outside, each future once."""
    inside = set(keys)
    inputs, input_of, slot_of = [], {}, {}
    members = {}  # key -> (input slot of its batch, index)
    for key in keys:
        for dep in dependencies[key]:
            if dep in inside or dep in slot_of or dep in members:
                continue
            value = values[dep]
            member = type(value) is _Member
            if member:
                value = value.future
            # One input per future: the keys of a batch, or aliases of one key, share it.
            found = input_of.get(id(value)) if isinstance(value, parallel.Future) else None
            if found is None:
                found = input_of[id(value)] = len(inputs)
                inputs.append(value)
            if member:
                members[dep] = (found, values[dep].index)
            else:
                slot_of[dep] = found
    base = len(inputs)
    steps, functions, function_of = [], [], {}

    def function(fn):
        index = function_of[id(fn)] = len(functions)
        functions.append(fn)
        if _lasting(fn):
            # Given an id now: sent to each worker once and named by its id in calls, and a
            # function of the user's own files goes by value, which the worker needs.
            executor._function(fn)
        return index

    def member(key):
        if key not in members:
            raise KeyError(f"a task reads {key!r}, which is not a key of the graph")
        batch, index = members[key]
        fn = function_of.get(id(operator.getitem))
        if fn is None:
            fn = function(operator.getitem)
        steps.append([fn, (None, index), ((0, batch),), None, ()])
        found = slot_of[key] = base + len(steps) - 1
        return found

    # (The loops below run once per task: written out, not calling helpers.)
    def emit(call):
        refs = call.refs
        if refs:
            compiled = []
            for at, arg in refs:
                if type(arg) is _Ref:
                    found = slot_of.get(arg.key)
                    compiled.append((at, member(arg.key) if found is None else found))
                else:
                    compiled.append((at, emit(arg)))
            refs = compiled
        fn = function_of.get(id(call.fn))
        if fn is None:
            fn = function(call.fn)
        steps.append([fn, call.args, refs, call.kwargs, ()])
        return base + len(steps) - 1

    for key in keys:
        node = graph[key]
        kind = type(node)
        if kind is _Call:
            slot_of[key] = emit(node)
        elif kind is _Ref:
            found = slot_of.get(node.key)
            slot_of[key] = member(node.key) if found is None else found
        else:
            slot_of[key] = emit(_Call(_graph.value, (node.value,), None, ()))

    result = slot_of[keys[-1]] if results is None else tuple(slot_of[key] for key in results)
    returned = set(result) if type(result) is tuple else {result}
    # Each slot is emptied by the last step that reads it (the inputs too: a chain of large
    # values holds one or two at a time).
    last_read = {}
    for index, step in enumerate(steps):
        for _, s in step[2]:
            last_read[s] = index
    for s, index in last_read.items():
        if s not in returned:
            steps[index][4] += (s,)
    return _pack((steps, result)), tuple(functions), tuple(inputs)


def _pack(program):
    """The program pickled here, when plain pickle does it as well as the executor would: one
    bytes object for the executor's pickler (which looks at each object it pickles) instead of
    a list per task. Otherwise (a literal of __main__ or of a module pickled by value, a large
    array that should travel in shared memory, or one that plain pickle cannot do) the program
    itself, for the executor to pickle."""
    data = _channel.plain_pickle(program)
    return program if data is None else data


# -- The graph's shape: chains, the order, the static schedule, batches


def _chains(graph, dependencies, dependents, wanted):
    """Groups keys into chains: a key joins its only dependency's chain when it is that
    dependency's only dependent and the dependency is not wanted by itself. Chains come in
    depth-first order from the outputs."""
    chain_of, chains = {}, []
    for key in _topological(graph, dependencies, dependents):
        deps = dependencies[key]
        if len(deps) == 1:
            for dep in deps:
                index = chain_of.get(dep)
                if (
                    index is not None
                    and len(dependents[dep]) == 1
                    and dep not in wanted
                    and chains[index][-1] == dep
                ):
                    chain_of[key] = index
                    chains[index].append(key)
                    break
            else:
                chain_of[key] = len(chains)
                chains.append([key])
            continue
        chain_of[key] = len(chains)
        chains.append([key])
    return chains


def _topological(graph, dependencies, dependents):
    """Depth-first post-order from the outputs (keys nobody reads), dependencies in the
    graph's order: a node comes right after the subtrees it reads, and a tree's leaves come in
    their order, so the leaves of a block are neighbours in the tree."""
    position = None
    outputs = [key for key in graph if not dependents[key]]
    order, done, expanded = [], set(), set()
    for root in outputs + list(graph):  # every key, should a cycle leave one unreached
        if root in done:
            continue
        stack = [root]
        while stack:
            key = stack[-1]
            if key in expanded:  # the keys it reads are done (or it is done already)
                stack.pop()
                if key not in done:
                    done.add(key)
                    order.append(key)
                continue
            expanded.add(key)
            deps = dependencies[key]
            if len(deps) == 1:
                for dep in deps:
                    if dep not in expanded:
                        stack.append(dep)
            elif deps:
                # Not those expanded already: done, or (in a cycle) being expanded below.
                deps = [d for d in deps if d not in expanded]
                if position is None:
                    position = {k: i for i, k in enumerate(graph)}
                # Reversed: the first dependency is taken from the stack, and ends up, first.
                deps.sort(key=position.__getitem__, reverse=True)
                stack += deps
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


# Batches: a fan-in's siblings go in about this many calls per worker (enough for the workers
# to balance unequal ones), and only when that makes at least 2 siblings a call.
_BATCHES_PER_WORKER = 16


def _batches(chains, graph, dependents, chain_of, chain_inputs, hints, asked, workers):
    """Runs of sibling chains to submit as one call each: chains that are calls, not asked for,
    whose last key is read by one task only, the same for all (a fan-in), and that read the
    same calls and have the same hint; consecutive in the chains' order, in about
    _BATCHES_PER_WORKER runs per worker. Every value of a batch is read by the fan-in only,
    which reads them all, so keeping them together in one value moves nothing it would not
    read. A list of runs of chain indexes."""
    siblings = {}
    for index, chain in enumerate(chains):
        last = chain[-1]
        readers = dependents[last]
        if len(readers) != 1 or not asked.isdisjoint(chain):
            continue
        if len(chain) == 1 and type(graph[last]) is not _Call:
            continue  # a value, or an alias the client resolves
        (reader,) = readers
        group = (chain_of[reader], frozenset(chain_inputs[index]), hints.get(index))
        siblings.setdefault(group, []).append(index)
    batches = []
    for (_, _, hint), run in siblings.items():
        # Hinted siblings all go to one worker: their batches need not balance the others.
        size = len(run) // (_BATCHES_PER_WORKER * (1 if hint is not None else max(1, len(workers))))
        if size >= 2:
            batches += [run[i : i + size] for i in range(0, len(run), size)]
    return batches


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
    if type(dsk) is not dict:
        dsk = dict(dsk)  # a HighLevelGraph looks a key up in each of its layers
    if executor is None:
        executor = parallel._shared(_graph.run, None, None, num_workers)
    # Each task makes a dozen objects; with the collector on it scanned them again and again
    # (half of this process's time for a chain of 2,000 no-ops), or ran a full collection in
    # the middle.
    with parallel.gc_paused():
        results = _submit(dsk, keys, executor)
    for key, value in results.items():
        if isinstance(value, parallel.Future):
            results[key] = value.result()
    return nested_get(keys, results)


def _submit(dsk, keys, executor):
    """Submits the calls of the graph `dsk`; {wanted key: its future, or its value}."""
    graph, dependencies = _convert(dsk)
    wanted = set(flatten(keys)) if isinstance(keys, list) else {keys}
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
    batch_of = {}
    for batch in _batches(chains, graph, dependents, chain_of, chain_inputs, hints, asked, workers):
        for index in batch:
            batch_of[index] = batch

    # key -> a Future, a _Member of a batch's, or the value itself (data nodes, and their
    # aliases: known from the start)
    values = {}
    for index, chain in enumerate(chains):
        if not is_call[index]:
            values[chain[0]] = graph[_target(chain[0], graph)].value
    kept = []
    try:
        for index, chain in enumerate(chains):
            head = graph[chain[0]]
            if not is_call[index]:
                continue
            if len(chain) == 1 and type(head) is _Ref and head.key in values:
                values[chain[0]] = values[head.key]
                continue
            batch = batch_of.get(index)
            if batch is not None:
                if batch[-1] != index:
                    continue  # submitted with the last of its batch, when all they read is
                # The siblings in one call, which returns a tuple of their values (they read
                # nothing of each other: their chains one after the other).
                members = [chains[i] for i in batch]
                program = _compile(
                    [key for member in members for key in member],
                    graph,
                    dependencies,
                    values,
                    executor,
                    results=[member[-1] for member in members],
                )
                label = _Keys(member[-1] for member in members)
                hint = hints.get(index)
                future = executor._submit(_graph.run, program, {}, worker=hint, keep=True, label=label)
                kept.append(future)
                for n, member in enumerate(members):
                    for key in member:
                        values[key] = _Member(future, n)
                continue
            keep = asked.isdisjoint(chain)
            direct = _direct(chain, graph, values)
            if direct is not None:
                # Its own call: the function goes once to each worker, and nothing of it is
                # pickled per call but its arguments.
                fn = direct.fn
                args, kwargs = _direct_arguments(direct, values)
            else:
                fn, kwargs = _graph.run, {}
                args = _compile(chain, graph, dependencies, values, executor)
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
    return {key: values[key] for key in wanted}


# dask.config.set(scheduler="sluice") works too.
try:
    dask.base.named_schedulers.setdefault("sluice", get)
except AttributeError:  # dask without named schedulers: pass scheduler=sluice.dask.get
    pass
