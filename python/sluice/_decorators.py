"""The decorators and default-value markers of models (bauplan-compatible signatures).

Sluice plans from the source (see _discover.py), not from these objects: they record what
they were given on `fn.__sluice__` so tools and tests can inspect it, and return the
function unchanged so it can still be called directly.
"""

import functools
from typing import Literal

_STRATEGIES = ("NONE", "REPLACE", "APPEND", "OVERWRITE_PARTITIONS")

# bauplan's names for the strategy strings, for type hints in user code.
ModelMaterializationStrategy = Literal["NONE", "REPLACE", "APPEND", "OVERWRITE_PARTITIONS"]
ModelCacheStrategy = Literal["NONE", "DEFAULT"]


def _record(fn, key, value):
    if not callable(fn):
        raise TypeError(f"@{key} decorates a function, not {type(fn).__name__}")
    # Foreign decorators may wrap ours: record on the outermost callable we are given.
    meta = dict(getattr(fn, "__sluice__", {}))
    meta[key] = value
    try:
        fn.__sluice__ = meta
    except (AttributeError, TypeError):
        wrapped = functools.wraps(fn)(lambda *a, **k: fn(*a, **k))
        wrapped.__sluice__ = meta
        return wrapped
    return fn


def _string_list(value, what):
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{what} must be a list of strings")
    return list(value)


class Model:
    """An input of a model: a model of the project or a lake table, with optional columns,
    a filter (an SQL predicate pushed down to the scan) and a ref."""

    def __init__(self, name, columns=None, filter=None, ref=None, **kwargs):
        if not isinstance(name, str) or not name:
            raise TypeError("Model() needs a table or model name")
        if filter is not None and not isinstance(filter, str):
            raise TypeError("Model(filter=...) must be an SQL predicate string")
        self.name = name
        self.columns = _string_list(columns, "Model(columns=...)")
        self.filter = filter
        self.ref = ref
        self.options = kwargs

    def __repr__(self):
        parts = [repr(self.name)]
        if self.columns is not None:
            parts.append(f"columns={self.columns!r}")
        if self.filter:
            parts.append(f"filter={self.filter!r}")
        if self.ref:
            parts.append(f"ref={self.ref!r}")
        return f"Model({', '.join(parts)})"


class Parameter:
    """A project parameter (bauplan_project.yml or --param name=value) as an argument."""

    def __init__(self, name):
        if not isinstance(name, str) or not name:
            raise TypeError("Parameter() needs a parameter name")
        self.name = name

    def __repr__(self):
        return f"Parameter({self.name!r})"


def model(
    name=None,
    columns=None,
    partitioned_by=None,
    materialization_strategy=None,
    cache_strategy=None,
    internet_access=None,
    overwrite_filter=None,
    **kwargs,
):
    """Marks a function as a model. Usable as @model, @model() or @model(...)."""
    if callable(name) and columns is None and materialization_strategy is None:
        return model()(name)
    if name is not None and not isinstance(name, str):
        raise TypeError("model(name=...) must be a string")
    if materialization_strategy is not None and materialization_strategy.upper() not in _STRATEGIES:
        raise ValueError(
            f"materialization_strategy={materialization_strategy!r}: expected one of "
            + ", ".join(_STRATEGIES)
        )
    options = dict(
        name=name,
        columns=_string_list(columns, "model(columns=...)"),
        partitioned_by=partitioned_by,
        materialization_strategy=materialization_strategy,
        cache_strategy=cache_strategy,
        internet_access=internet_access,
        overwrite_filter=overwrite_filter,
        **kwargs,
    )

    def decorate(fn):
        return _record(fn, "model", options)

    return decorate


def python(version=None, pip=None):
    """The interpreter version and pip packages (name -> version) a model needs."""
    if version is not None and not isinstance(version, str):
        raise TypeError("python(version) must be a string such as '3.11'")
    if pip is not None and not isinstance(pip, dict):
        raise TypeError("python(pip=...) must be a dict of package -> version")

    def decorate(fn):
        return _record(fn, "python", {"version": version, "pip": dict(pip or {})})

    return decorate


def resources(cpus=None, memory=None, memory_swap=None, timeout=None):
    """Limits for a model's run: cpus, memory ("4G"), memory_swap, timeout (seconds)."""

    def decorate(fn):
        return _record(
            fn, "resources", {"cpus": cpus, "memory": memory, "memory_swap": memory_swap, "timeout": timeout}
        )

    return decorate


def extras(*names):
    """Optional feature sets a model needs (recorded; no effect yet)."""

    def decorate(fn):
        return _record(fn, "extras", list(names))

    return decorate


def expectation(**kwargs):
    """Marks a function returning a bool as a data check (warn, or fail under --strict)."""
    if callable(kwargs.get("fn")):
        return expectation()(kwargs["fn"])

    def decorate(fn):
        return _record(fn, "expectation", dict(kwargs))

    return decorate


def pyspark(version=None, conf=None, **kwargs):
    """bauplan's Spark session for a model (`spark=None` argument). Sluice has no Spark
    runtime: this exists so a project that uses it imports, and planning refuses the model
    with its file and line (see _discover.py)."""

    def decorate(fn):
        return _record(fn, "pyspark", {"version": version, "conf": dict(conf or {}), **kwargs})

    return decorate


def synthetic_model(name, columns, **kwargs):
    """bauplan's synthetic model (a declared output with no code Sluice can run). Recorded so
    the project imports; planning refuses it with its file and line."""

    def decorate(fn):
        return _record(fn, "synthetic_model", {"name": name, "columns": list(columns), **kwargs})

    return decorate
