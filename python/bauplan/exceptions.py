"""bauplan.exceptions is sluice.exceptions."""

import sys

from sluice import exceptions as _module

sys.modules[__name__] = _module
