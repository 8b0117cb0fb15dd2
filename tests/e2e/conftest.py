"""Fixtures for end-to-end tests: the real `sluice` binary on real projects, each test with
its own data home."""
import json
import os
import pathlib
import subprocess
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = ROOT / "build" / "sluice"
TAXI = ROOT / "examples" / "taxi"


class Sluice:
    def __init__(self, home: pathlib.Path):
        self.home = home
        self.env = dict(os.environ, SLUICE_HOME=str(home), SLUICE_USER="tester")

    def __call__(self, *args, check=True, cwd=None, timeout=300):
        proc = subprocess.run([str(SLUICE), *map(str, args)], env=self.env, cwd=cwd,
                              capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"sluice {' '.join(map(str, args))} exited {proc.returncode}\n"
                                 f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
        return proc

    def json(self, *args):
        return json.loads(self("-O", "json", *args).stdout)

    def head(self, ref):
        return self.json("commit", ref, "--max-count", "1")[0]["id"]

    def tables(self, ref):
        return {t["name"] for t in self.json("table", "ls", "--ref", ref)}

    def query(self, sql, ref):
        return self.json("query", sql, "--ref", ref, "--all-rows")


@pytest.fixture
def sluice(tmp_path):
    assert SLUICE.exists(), "build first: make build"
    return Sluice(tmp_path / "home")


@pytest.fixture
def lake(sluice):
    """A data home with the example tables imported on branch dev (active)."""
    sluice("checkout", "-b", "dev")
    sluice("table", "import", "taxi_trips", "--search-uri", TAXI / "data" / "taxi_trips.parquet")
    sluice("table", "import", "taxi_zones", "--search-uri", TAXI / "data" / "taxi_zones.csv")
    return sluice


@pytest.fixture
def make_project(tmp_path):
    """Writes a project: make_project({"models.py": "...", "x.sql": "..."}) -> its directory."""
    counter = [0]

    def make(files, project_yml=None):
        counter[0] += 1
        d = tmp_path / f"project{counter[0]}"
        d.mkdir()
        (d / "bauplan_project.yml").write_text(textwrap.dedent(project_yml or """\
            project:
              id: 00000000-0000-4000-8000-000000000001
              name: test_project
            """))
        for name, text in files.items():
            (d / name).write_text(textwrap.dedent(text))
        return d

    return make
