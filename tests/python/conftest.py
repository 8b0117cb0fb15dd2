"""Python-side tests: the package users import, and the worker run as its own process."""

import pytest
import worker_harness  # noqa: F401  (puts python/ on sys.path)


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "arena").mkdir()
    (tmp_path / "project").mkdir()
    return tmp_path
