"""What the benchmarks share: the built `sluice` binary, and one dry run of a project whose
per-model timings (worker_start, user_start, ...) they read."""

import json
import pathlib
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]
SLUICE = ROOT / "build" / "sluice"


def dry_run_models(project, env):
    """`sluice -O json run --dry-run --parallel 1` of `project` on main: its models' reports,
    in the order their workers started."""
    out = subprocess.run(
        [str(SLUICE), "-O", "json", "run", "-p", str(project), "--ref", "main", "--dry-run"]
        + ["--parallel", "1"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return sorted(json.loads(out)["models"], key=lambda m: m["worker_start"])
