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

import dask
from dask._task_spec import Alias, DataNode, convert_legacy_graph
from dask.core import flatten
from dask.local import nested_get

from sluice import parallel

__all__ = ["get"]


def _run_chain(chain, inputs):
    """Runs tasks [(key, task)] in order in one worker: each sees `inputs` and what the chain
    computed before it. Returns the last one's value."""
    values = dict(inputs)
    inside = {key for key, _ in chain}
    value = None
    for key, task in chain:
        # Only its own dependencies: a task looks at every value it is given.
        value = task({dep: values[dep] for dep in task.dependencies})
        for dep in task.dependencies & inside:
            del values[dep]  # its only reader has run: let it go
        values[key] = value
    return value


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
        if not isinstance(node, Alias) or node.target not in graph:
            break
        key = node.target
    return key


def _is_value(graph, chain):
    """Whether a chain is no call: a data node, or an alias of one (get() keeps its value)."""
    return len(chain) == 1 and isinstance(graph[_target(chain[0], graph)], DataNode)


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
    graph = convert_legacy_graph(dict(dsk))
    wanted = set(flatten(keys)) if isinstance(keys, list) else {keys}
    if executor is None:
        executor = parallel._shared(_run_chain, None, None, num_workers)

    dependencies = {k: set(node.dependencies) & graph.keys() for k, node in graph.items()}
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
            if len(chain) == 1 and isinstance(head, DataNode):
                values[chain[0]] = head.value
                continue
            if len(chain) == 1 and isinstance(head, Alias) and head.target in values:
                values[chain[0]] = values[head.target]
                continue
            inside = set(chain)
            inputs = {}
            for key in chain:
                for dep in dependencies[key] - inside:
                    inputs[dep] = values[dep]
            keep = asked.isdisjoint(chain)
            future = executor._submit(
                _run_chain,
                ([(k, graph[k]) for k in chain], inputs),
                {},
                worker=hints.get(index),
                keep=keep,
                label=chain[-1],
            )
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
