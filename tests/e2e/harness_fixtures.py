"""Fixtures for tests that drive the real `sluice` binary on real projects, each test with
its own data home. Shared by the end-to-end and compatibility suites (their conftest.py)."""

import textwrap

import pytest
from cli_harness import SLUICE, TAXI, Sluice


@pytest.fixture(autouse=True)
def stop_background_servers():
    """`run` and `query` start their home's background server: none outlives its test."""
    yield
    Sluice.stop_all_servers()


@pytest.fixture
def sluice(tmp_path):
    assert SLUICE.exists(), "build first: make build"
    home = Sluice(tmp_path / "home")
    yield home
    home.stop_server()
    home.remove_shared_memory()


@pytest.fixture
def lake(sluice):
    """A data home with the example tables created and imported on branch dev (active)."""
    sluice("checkout", "-b", "dev")
    sluice.load("taxi_trips", TAXI / "data" / "taxi_trips.parquet")
    sluice.load("taxi_zones", TAXI / "data" / "taxi_zones.csv")
    return sluice


@pytest.fixture
def make_project(tmp_path):
    """Writes a project: make_project({"models.py": "...", "x.sql": "..."}) -> its directory."""
    counter = [0]

    def make(files, project_yml=None):
        counter[0] += 1
        d = tmp_path / f"project{counter[0]}"
        d.mkdir()
        (d / "bauplan_project.yml").write_text(
            textwrap.dedent(
                project_yml
                or """\
            project:
              id: 00000000-0000-4000-8000-000000000001
              name: test_project
            """
            )
        )
        for name, text in files.items():
            (d / name).write_text(textwrap.dedent(text))
        return d

    return make
