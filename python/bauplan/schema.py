"""bauplan.schema is sluice.schema."""

import sys

from sluice import schema as _module

sys.modules[__name__] = _module
