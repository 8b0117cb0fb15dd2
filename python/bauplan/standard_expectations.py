"""bauplan.standard_expectations is sluice.standard_expectations."""

import sys

from sluice import standard_expectations as _module

sys.modules[__name__] = _module
