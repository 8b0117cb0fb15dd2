"""What the benchmarks share: the built `sluice` binary, one dry run of a project whose
per-model timings (worker_start, user_start, ...) they read, and the machine's peak used memory
during a step (PeakMemory)."""

import json
import pathlib
import subprocess
import threading

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


def used_memory():
    """The machine's used memory in bytes: MemTotal - MemAvailable (the page cache, which the
    kernel gives back on demand, does not count; shared memory in /dev/shm does)."""
    info = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, value = line.split(":")
            info[key] = int(value.split()[0]) * 1024
    return info["MemTotal"] - info["MemAvailable"]


class PeakMemory:
    """The peak of used memory above its level at the start, sampled every 10 ms: `bytes`
    once the `with` block is over. Machine-wide, so whatever else runs meanwhile counts too."""

    def __enter__(self):
        self.start = used_memory()
        self.peak = self.start
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.01):
            self.peak = max(self.peak, used_memory())

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.bytes = self.peak - self.start
