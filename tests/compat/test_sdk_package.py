"""The SDK is a package of the venv: `import bauplan` / `import sluice` from anywhere without
PYTHONPATH, and a `bauplan` command that takes the same commands as `sluice`."""

import json
import os
import pathlib
import subprocess
import sys

from cli_harness import ROOT, Sluice

VENV_BIN = pathlib.Path(sys.executable).parent


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra)
    return env


def test_import_without_pythonpath(tmp_path):
    code = (
        "import bauplan, sluice, bauplan.schema, bauplan.state, bauplan.exceptions;"
        "from bauplan.exceptions import TableNotFoundError;"
        "from bauplan.schema import Branch;"
        "print(bauplan.Client is sluice.Client, bauplan.__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=clean_env(), capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    shown, path = proc.stdout.split()
    assert shown == "True" and pathlib.Path(path).is_relative_to(ROOT / "python")


def test_the_bauplan_command_is_sluice(tmp_path):
    home = Sluice(tmp_path / "home")
    env = clean_env(SLUICE_HOME=str(home.home), SLUICE_USER="tester")
    try:
        made = subprocess.run(
            [str(VENV_BIN / "bauplan"), "branch", "create", "tester.dev", "--from-ref", "main"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert made.returncode == 0, made.stderr
        listed = subprocess.run(
            [str(VENV_BIN / "bauplan"), "-O", "json", "branch", "ls"], env=env, capture_output=True, text=True
        )
        assert {b["name"] for b in json.loads(listed.stdout)} == {"main", "tester.dev"}
        assert home.json("branch", "ls") == json.loads(listed.stdout)
        failed = subprocess.run(
            [str(VENV_BIN / "bauplan"), "branch", "create", "tester.dev", "--from-ref", "main"],
            env=env,
            capture_output=True,
            text=True,
        )
        assert (
            failed.returncode == 1 and "already exists" in failed.stderr and "Traceback" not in failed.stderr
        )
    finally:
        home.remove_shared_memory()


def test_setup_is_idempotent():
    before = (VENV_BIN / "bauplan").read_text()
    proc = subprocess.run([str(ROOT / "scripts" / "install_sdk.sh")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (VENV_BIN / "bauplan").read_text() == before and os.access(VENV_BIN / "bauplan", os.X_OK)
