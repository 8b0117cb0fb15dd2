"""Fixtures for the bauplan compatibility suite: the same real-binary harness as the
end-to-end tests (tests/e2e), shared rather than repeated."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))

from harness_fixtures import lake, make_project, sluice, stop_background_servers  # noqa: E402,F401  (fixtures)
from sdk_fixtures import client, sdk_home  # noqa: E402,F401  (fixtures of the test_sdk*.py files)
