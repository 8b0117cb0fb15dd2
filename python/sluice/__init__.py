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
from sluice._decorators import (
    Model,
    Parameter,
    expectation,
    extras,
    model,
    python,
    resources,
)
from sluice import exceptions, schema, standard_expectations, state
from sluice.client import Client
from sluice.info import InfoState, OrganizationInfo, RunnerNodeInfo, UserInfo
from sluice.schema import (
    Branch,
    Commit,
    Job,
    JobContext,
    JobKind,
    JobLogEvent,
    JobState,
    Namespace,
    Ref,
    RefType,
    Table,
    Tag,
)
from sluice.state import (
    ExternalTableCreateState,
    RunState,
    TableCreatePlanApplyState,
    TableCreatePlanState,
    TableDataImportState,
)

__all__ = ["Branch", "Client", "Commit", "ExternalTableCreateState", "InfoState", "Job", "JobContext",
           "JobKind", "JobLogEvent", "JobState", "Model", "Namespace", "OrganizationInfo", "Parameter",
           "Ref", "RefType", "RunState", "RunnerNodeInfo", "Table", "TableCreatePlanApplyState",
           "TableCreatePlanState", "TableDataImportState", "Tag", "UserInfo", "exceptions",
           "expectation", "extras", "model", "python", "resources", "schema", "standard_expectations",
           "state"]
__version__ = "0.1.0"
