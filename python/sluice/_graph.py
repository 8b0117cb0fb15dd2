"""The worker's half of sluice.dask: runs a compiled piece of a Dask graph (a chain of tasks
with their nested tasks, or a batch of sibling chains) as one call. The client compiles it
(python/sluice/dask.py); this module imports nothing of dask, so a graph of plain functions
runs in a worker that never imports dask (0.3-0.4 s on a fresh worker), and nothing here is
pickled per task but data.

A program is (steps, result). Values live in slots: first the call's inputs (the values of the
keys computed elsewhere that the piece reads), then one per step, in order. A step is
(function index, args, refs, kwargs, frees):
- the function is `functions[function index]`, a table sent beside the program: each function
  is in it once however many tasks call it, and a lasting one (a def, a module's builtin) is
  named there by its id, sent once per worker;
- `args` is the tuple of positional arguments with the literal values in place, and `refs`
  says which are slots instead: (position, slot), a position being an index into args or a
  keyword's name (then into `kwargs`, a dict, or None for no keyword);
- `frees` are the slots that no later step reads: emptied once the step has run, so that a
  chain of large values holds one or two of them at a time, as a chain of calls would.
`result` is the slot whose value the call returns, or a tuple of slots (a tuple of values).
The program comes as bytes (pickled by the client: plain data, one object for its pickler to
walk) or, when its literals needed more than plain pickle, as the structure itself.

Contract: `run` evaluates exactly what dask's Task.__call__ would for each task, in the same
order (arguments left to right, keywords after, a nested task before the argument it gives),
calling each function with its arguments' values; it trusts the program as it trusts any call
its client sends (the client sends code already).
"""

import pickle


def run(program, functions, inputs):
    """Runs a compiled program (module docstring) on `inputs`; returns its result slot(s)."""
    if type(program) is bytes:
        program = pickle.loads(program)
    steps, result = program
    slots = list(inputs)
    for fn, args, refs, kwargs, frees in steps:
        if refs:
            args = list(args)
            if kwargs:
                kwargs = dict(kwargs)
            for at, slot in refs:
                if type(at) is int:
                    args[at] = slots[slot]
                else:
                    kwargs[at] = slots[slot]
        slots.append(functions[fn](*args, **kwargs) if kwargs else functions[fn](*args))
        for slot in frees:
            slots[slot] = None
    if type(result) is int:
        return slots[result]
    return tuple(slots[slot] for slot in result)


def build(typ, *items):
    """A list, tuple, set or frozenset of evaluated items (dask's List, Tuple, Set, and the
    containers of a legacy task that hold keys or tasks)."""
    return typ(items)


def build_dict(*pairs):
    """A dict from keys and values alternating (dask's Dict)."""
    return dict(zip(pairs[::2], pairs[1::2]))


def value(x):
    """A data node's value, as a step."""
    return x
