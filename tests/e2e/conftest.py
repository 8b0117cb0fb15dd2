"""Fixtures for end-to-end tests: the real `sluice` binary on real projects."""

from harness_fixtures import lake, make_project, sluice, stop_background_servers  # noqa: F401  (fixtures)
