"""@bauplan.python("3.x"): the interpreter is found through uv among the installed ones; a
version that cannot be had fails the run up front with what is installed and how to install
it; where two minor versions exist, one DAG runs a model on each."""

import glob
import os
import platform
import subprocess

import pytest

DEFAULT = ".".join(platform.python_version_tuple()[:2])  # the .venv's, which runs models

MODELS = """\
    import bauplan

    @bauplan.model()
    @bauplan.python("{first}")
    def passengers():
        import sys
        import pyarrow as pa
        print("first on", sys.version.split()[0])
        return pa.table({{"PassengerId": [1, 2, 3], "Fare": [7.25, 71.28, 8.05],
                          "py": [sys.version.split()[0]] * 3}})

    @bauplan.model(materialization_strategy="REPLACE")
    @bauplan.python("{second}")
    def fares(p=bauplan.Model("passengers", columns=["PassengerId", "Fare", "py"])):
        import sys
        import pyarrow as pa
        print("second on", sys.version.split()[0])
        return p.append_column("py_second", pa.array([sys.version.split()[0]] * p.num_rows))
    """


def other_minor_version():
    """(version, bin dir) of an installed CPython of another minor version, or None."""
    candidates = sorted(
        glob.glob("/root/.pyenv/versions/3.*/bin/python3.[0-9]*")
        + glob.glob("/usr/bin/python3.[0-9]*")
        + glob.glob("/usr/local/bin/python3.[0-9]*")
    )
    for path in candidates:
        name = os.path.basename(path)
        if name.endswith("-config") or not os.access(path, os.X_OK):
            continue
        version = name[len("python") :]
        if version == DEFAULT or not version.replace(".", "").isdigit():
            continue
        if tuple(map(int, version.split("."))) < (3, 10):  # pyarrow wheels need 3.10+
            continue
        try:
            subprocess.run([path, "-c", "import ensurepip"], check=True, capture_output=True, timeout=30)
        except (subprocess.SubprocessError, OSError):
            continue
        return version, os.path.dirname(path)
    return None


@pytest.fixture
def no_downloads(lake):
    lake.env = dict(lake.env, SLUICE_PYTHON_DOWNLOADS="never")
    return lake


def test_the_default_interpreters_version_is_found(no_downloads, make_project):
    lake = no_downloads
    project = make_project({"models.py": MODELS.format(first=DEFAULT, second=DEFAULT)})
    out = lake("run", "-p", project).stdout
    assert f"first on {DEFAULT}." in out and f"second on {DEFAULT}." in out
    assert lake.query("SELECT COUNT(*) AS n FROM fares", "dev") == [{"n": 3}]


def test_a_version_that_cannot_be_had_names_what_is_installed(no_downloads, make_project):
    lake = no_downloads
    project = make_project({"models.py": MODELS.format(first=DEFAULT, second="3.4")})
    head = lake.head("dev")
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    first, hint = proc.stderr.splitlines()[:2]
    assert first.startswith("error: model 'fares' (models.py:14) asks for Python 3.4")
    assert "is not installed (installed: " in first and DEFAULT in first
    assert hint == "hint: install it with: uv python install 3.4 (or put a python3.4 on PATH)"
    assert lake.head("dev") == head
    assert "first on" not in proc.stdout  # nothing ran


def test_the_project_default_version_applies_and_is_checked_too(no_downloads, make_project):
    lake = no_downloads
    project = make_project(
        {"models.py": MODELS.replace('    @bauplan.python("{first}")\n', "").format(second=DEFAULT)},
        project_yml="""\
                               project: {id: 00000000-0000-4000-8000-000000000003, name: pv}
                               defaults:
                                 python: {version: "3.4"}
                               """,
    )
    err = lake("run", "-p", project, check=False).stderr
    assert "model 'passengers' (models.py:4) asks for Python 3.4" in err


def test_hostile_version_strings_never_reach_a_shell(no_downloads, make_project, tmp_path):
    lake = no_downloads
    marker = tmp_path / "pwned"
    project = make_project({"models.py": MODELS.format(first=f"3.11; touch {marker}", second=DEFAULT)})
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode == 1
    assert "is not a version such as 3.12" in proc.stderr
    assert not marker.exists()


def test_one_dag_with_a_model_on_each_of_two_minor_versions(lake, make_project):
    other = other_minor_version()
    if other is None:
        pytest.skip("only one minor version of CPython is installed here")
    version, bin_dir = other
    lake.env = dict(lake.env, PATH=bin_dir + os.pathsep + lake.env["PATH"], SLUICE_PYTHON_DOWNLOADS="never")
    project = make_project({"models.py": MODELS.format(first=version, second=DEFAULT)})
    out = lake("run", "-p", project, timeout=900).stdout
    assert f"first on {version}." in out and f"second on {DEFAULT}." in out
    rows = lake.query("SELECT DISTINCT py, py_second FROM fares", "dev")
    assert len(rows) == 1
    assert rows[0]["py"].startswith(version + ".") and rows[0]["py_second"].startswith(DEFAULT + ".")
