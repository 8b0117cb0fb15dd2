"""Sluice: decorators and values a project's models are written with.

    import sluice            # or: import bauplan

    @sluice.model(materialization_strategy="REPLACE")
    @sluice.python("3.11", pip={"polars": "1.37"})
    def trips(data=sluice.Model("taxi_trips", columns=["miles"], filter="miles > 1")):
        return data

Importing this package is cheap (no pyarrow, pandas or polars): discovery and workers start
fast. The decorators only record their arguments on the function, which stays callable.
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
from sluice import exceptions, standard_expectations
from sluice.client import Client, RunState

__all__ = ["Client", "Model", "Parameter", "RunState", "exceptions", "expectation", "extras",
           "model", "python", "resources", "standard_expectations"]
__version__ = "0.1.0"
