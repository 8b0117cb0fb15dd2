"""bauplan compatibility: projects and scripts written for bauplan import this name; it is
Sluice. `bauplan.schema`, `bauplan.state`, `bauplan.exceptions` and
`bauplan.standard_expectations` are Sluice's modules of the same names. As in `sluice`, the
client and its objects load on first use."""

import sluice as _sluice
from sluice import (  # noqa: F401  (the names models use, cheap to import)
    Model,
    ModelCacheStrategy,
    ModelMaterializationStrategy,
    Parameter,
    __all__,
    __version__,
    exceptions,
    expectation,
    extras,
    model,
    pyspark,
    python,
    resources,
    standard_expectations,
    synthetic_model,
)


def __getattr__(name):
    return getattr(_sluice, name)
