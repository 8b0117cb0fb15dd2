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
- only the keys asked for are read here.
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
    dependency's only dependent and the dependency is not wanted by itself."""
    chain_of, chains = {}, []
    for key in _topological(graph, dependencies):
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


def _topological(graph, dependencies):
    order, done, stack = [], set(), []
    for root in graph:
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
            stack.extend((d, False) for d in dependencies[key] if d not in done)
    return order


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

    values = {}  # key -> a Future, or the value itself (data nodes)
    for chain in _chains(graph, dependencies, dependents, wanted):
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
        future = executor.call_async(_run_chain, [(k, graph[k]) for k in chain], inputs)
        for key in chain:
            values[key] = future  # only the last key of a chain is read by others
    results = {}
    for key in wanted:
        value = values[key]
        results[key] = value.result() if isinstance(value, parallel.Future) else value
    return nested_get(keys, results)


# dask.config.set(scheduler="sluice") works too.
try:
    dask.base.named_schedulers.setdefault("sluice", get)
except AttributeError:  # dask without named schedulers: pass scheduler=sluice.dask.get
    pass
