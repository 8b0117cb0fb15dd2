"""Runs the worker as its own process, the way the engine does."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PYTHON_DIR = ROOT / "python"
sys.path.insert(0, str(PYTHON_DIR))


def run_worker(task, project_dir, *extra, stdin=None):
    """Runs `python -m sluice._worker` on a task; returns (result dict, process)."""
    task_path = pathlib.Path(task["result_path"]).with_suffix(".task.json")
    task_path.write_text(json.dumps(task))
    env = dict(os.environ, PYTHONPATH=f"{PYTHON_DIR}:{project_dir}")
    if extra:
        proc = subprocess.run(
            [sys.executable, "-m", "sluice._worker", "--stdin", *extra],
            input=f"{task_path}\n",
            env=env,
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=120,
        )
    else:
        proc = subprocess.run(
            [sys.executable, "-m", "sluice._worker", str(task_path)],
            env=env,
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    return json.loads(pathlib.Path(task["result_path"]).read_text()), proc
