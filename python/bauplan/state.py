"""bauplan.state is sluice.state."""

import sys

from sluice import state as _module

sys.modules[__name__] = _module
