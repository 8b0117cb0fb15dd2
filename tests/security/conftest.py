"""Fixtures for the hostile suites: the same real-binary harness as the end-to-end tests."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))

from harness_fixtures import lake, make_project, sluice, stop_background_servers  # noqa: E402,F401  (fixtures)
