"""Sluice: decorators and values a project's models are written with, and the client.

    import sluice            # or: import bauplan

    @sluice.model(materialization_strategy="REPLACE")
    @sluice.python("3.11", pip={"polars": "1.37"})
    def trips(data=sluice.Model("taxi_trips", columns=["miles"], filter="miles > 1")):
        return data

Importing this package is cheap (no pyarrow, pandas or polars): discovery and workers start
fast. The decorators only record their arguments on the function, which stays callable.
`sluice.schema`, `sluice.state` and `sluice.exceptions` hold what `Client` returns and raises.
"""

from sluice import exceptions, standard_expectations
from sluice._decorators import (
    Model,
    ModelCacheStrategy,
    ModelMaterializationStrategy,
    Parameter,
    expectation,
    extras,
    model,
    pyspark,
    python,
    resources,
    synthetic_model,
)

# The SDK loads on first use, so models and workers that never touch it import fast.
_LAZY = {
    "Client": "sluice.client",
    "schema": "sluice",
    "state": "sluice",
    "parallel": "sluice",
    "dask": "sluice",
    "InfoState": "sluice.info",
    "OrganizationInfo": "sluice.info",
    "RunnerNodeInfo": "sluice.info",
    "UserInfo": "sluice.info",
    **{
        name: "sluice.schema"
        for name in (
            "Branch",
            "Commit",
            "Executor",
            "FIRST_COMPLETED",
            "Future",
            "Job",
            "JobContext",
            "JobKind",
            "JobLogEvent",
            "JobState",
            "Namespace",
            "Ref",
            "RefType",
            "Table",
            "Tag",
        )
    },
    **{
        name: "sluice.state"
        for name in (
            "ExternalTableCreateState",
            "RunState",
            "TableCreatePlanApplyState",
            "TableCreatePlanState",
            "TableDataImportState",
        )
    },
    # Parallel functions (PyWren / Lithops surface): sluice.map(fn, items) and friends.
    **{
        name: "sluice.parallel"
        for name in (
            "ALL_COMPLETED",
            "ALWAYS",
            "ANY_COMPLETED",
            "FIRST_COMPLETED",
            "Executor",
            "Future",
            "call_async",
            "get_result",
            "map",
            "map_reduce",
            "wait",
        )
    },
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sluice' has no attribute '{name}'")
    import importlib

    value = importlib.import_module(f"sluice.{name}" if module == "sluice" else module)
    if module != "sluice":
        value = getattr(value, name)
    globals()[name] = value
    return value


__all__ = [
    "ALL_COMPLETED",
    "ALWAYS",
    "ANY_COMPLETED",
    "Branch",
    "Client",
    "Commit",
    "ExternalTableCreateState",
    "InfoState",
    "Job",
    "JobContext",
    "JobKind",
    "JobLogEvent",
    "JobState",
    "Model",
    "ModelCacheStrategy",
    "ModelMaterializationStrategy",
    "Namespace",
    "OrganizationInfo",
    "Parameter",
    "Ref",
    "RefType",
    "RunState",
    "RunnerNodeInfo",
    "Table",
    "TableCreatePlanApplyState",
    "TableCreatePlanState",
    "TableDataImportState",
    "Tag",
    "UserInfo",
    "call_async",
    "exceptions",
    "expectation",
    "extras",
    "get_result",
    "map",
    "map_reduce",
    "model",
    "pyspark",
    "python",
    "resources",
    "schema",
    "standard_expectations",
    "state",
    "synthetic_model",
    "wait",
]
__version__ = "0.1.0"
