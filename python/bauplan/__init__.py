"""bauplan compatibility: projects written for bauplan import this name; it is Sluice."""
import sys as _sys

from sluice import *  # noqa: F401,F403
from sluice import __all__, __version__  # noqa: F401
from sluice import exceptions, standard_expectations

_sys.modules[__name__ + ".standard_expectations"] = standard_expectations
_sys.modules[__name__ + ".exceptions"] = exceptions
