"""bauplan compatibility: projects and scripts written for bauplan import this name; it is
Sluice. `bauplan.schema`, `bauplan.state`, `bauplan.exceptions` and
`bauplan.standard_expectations` are Sluice's modules of the same names."""
import sys as _sys

from sluice import *  # noqa: F401,F403
from sluice import __all__, __version__  # noqa: F401
from sluice import exceptions, schema, standard_expectations, state

for _name, _module in (("exceptions", exceptions), ("schema", schema), ("state", state),
                       ("standard_expectations", standard_expectations)):
    _sys.modules[f"{__name__}.{_name}"] = _module
