"""The real `sluice` binary driven from tests, each with its own data home."""

import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = ROOT / "build" / "sluice"
TAXI = ROOT / "examples" / "taxi"


class Sluice:
    # Every data home a test made: `run` and `query` start its background server, which the
    # test's teardown stops (stop_all_servers), so no daemon outlives its test.
    made = []

    def __init__(self, home: pathlib.Path):
        self.home = home
        # The client config file (profiles) is the test's own, never the user's. A short idle
        # timeout as well, in case a teardown does not run (a killed pytest).
        self.env = dict(
            os.environ,
            SLUICE_HOME=str(home),
            SLUICE_USER="tester",
            SLUICE_CONFIG_PATH=str(home.parent / "sluice_config.yml"),
        )
        self.env.setdefault("SLUICE_SERVER_IDLE_SECONDS", "120")
        Sluice.made.append(self)

    def stop_server(self):
        """Stops this home's background server if one runs; returns its pid or None."""
        if not (self.home / "server.lock").exists():
            return None
        proc = subprocess.run(
            [str(SLUICE), "-O", "json", "server", "stop"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0:
            raise AssertionError(f"sluice server stop exited {proc.returncode}: {proc.stderr}")
        return json.loads(proc.stdout)["pid"]

    def server_status(self):
        """`sluice server status --json` of this home (the server's own account when it runs)."""
        return self.json("server", "status")

    @classmethod
    def stop_all_servers(cls):
        """Stops the servers of every home made so far and forgets the homes."""
        homes, cls.made = cls.made, []
        for home in homes:
            home.stop_server()

    def __call__(self, *args, check=True, cwd=None, timeout=300):
        proc = subprocess.run(
            [str(SLUICE), *map(str, args)],
            env=self.env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"sluice {' '.join(map(str, args))} exited {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    @contextlib.contextmanager
    def serving(self, *args):
        """`sluice serve` on a free port over this data home: yields its URL, stops it after."""
        proc = subprocess.Popen(
            [str(SLUICE), "serve", "--port", "0", *map(str, args)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            line = proc.stdout.readline()
            if "serving" not in line:
                raise AssertionError(f"sluice serve did not start: {proc.stderr.read()}")
            yield line.split()[5]
        finally:
            proc.terminate()
            proc.wait(timeout=30)

    def remove_shared_memory(self):
        """Shared memory outlives the data home's directory: give it back."""
        shutil.rmtree(self.json("info")["shared_memory"], ignore_errors=True)

    def start_query(self, sql, *args):
        """`sluice query sql *args` in the background: the process (text pipes)."""
        return subprocess.Popen(
            [str(SLUICE), "query", sql, *map(str, args)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def start_run(self, project, *args, marker="going to sleep"):
        """`sluice run` in the background; returns (the process, its output so far) once a model
        printed `marker`."""
        proc = subprocess.Popen(
            [str(SLUICE), "run", "-p", str(project), *map(str, args)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if marker in line:
                return proc, "".join(lines)
        raise AssertionError(f"the run ended early:\n{''.join(lines)}\n{proc.stderr.read()}")

    def json(self, *args):
        return json.loads(self("-O", "json", *args).stdout)

    def head(self, ref):
        return self.json("commit", ref, "--max-count", "1")[0]["id"]

    def tables(self, ref):
        return {t["name"] for t in self.json("table", "ls", "--ref", ref)}

    def query(self, sql, ref):
        return self.json("query", sql, "--ref", ref, "--all-rows")

    def load(self, table, search_uri, *args):
        """`table create` then `table import` (bauplan's two steps), with the same flags."""
        self("table", "create", table, "--search-uri", search_uri, *args)
        return self("table", "import", table, "--search-uri", search_uri, *args)


def alive(pid):
    """Running, not merely a zombie waiting for a parent (init, here) to reap it."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def wait_for(predicate, timeout=30, interval=0.1):
    """Polls until `predicate()` is truthy (returning it), else fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def call(url, method="GET", body=None, key=None):
    """One JSON request to a server, with an API key when given: (status, decoded answer)."""
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def use_s3_warehouse(home, endpoint, prefix_stem):
    """Points `home` (a Sluice) at a fresh prefix of the test bucket at `endpoint`
    (SLUICE_TEST_S3_ENDPOINT: http://KEY:SECRET@host:port/bucket); returns that bucket's
    pyarrow filesystem and "bucket/prefix"."""
    from s3_harness import S3Server

    s3 = S3Server(endpoint)
    prefix = f"{prefix_stem}-{uuid.uuid4().hex[:8]}"
    home.env.update(s3.env(SLUICE_WAREHOUSE=f"s3://{s3.bucket}/{prefix}"))
    return s3.fs, f"{s3.bucket}/{prefix}"
