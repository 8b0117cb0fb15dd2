"""The data home's background server (issue 8 §4): `sluice server start|stop|status`, the
owner-only unix socket, idle exit, `run --detach` with `job logs --follow`, and `job kill`
of a running model leaving the target branch as it was."""

import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

import pytest
from cli_harness import SLUICE, Sluice, alive, wait_for

TITANIC_CSV = """PassengerId,Name,Age,Fare
1,Braund,22,7.25
2,Cumings,38,71.2833
3,Heikkinen,26,7.925
"""

TICKING = """
import time

import bauplan


@bauplan.model(materialization_strategy="REPLACE")
def fares(titanic=bauplan.Model("titanic", columns=["PassengerId", "Fare"])):
    for i in range(3):
        print(f"tick {i} of PassengerId {titanic['PassengerId'][i]}")
        time.sleep(0.4)
    return titanic
"""

SLEEPING = """
import time

import bauplan


@bauplan.model(materialization_strategy="REPLACE")
def sleepy(titanic=bauplan.Model("titanic", columns=["PassengerId", "Age"])):
    print("going to sleep", flush=True)
    time.sleep(120)
    return titanic
"""


class UnixHTTPConnection(http.client.HTTPConnection):
    """Plain http.client over the server's unix socket, as an SDK would talk to it."""

    def __init__(self, path):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(str(self.path))


def api(sluice, method, path, body=None):
    conn = UnixHTTPConnection(sluice.home / "server.sock")
    payload = None if body is None else json.dumps(body)
    conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data else None


@pytest.fixture
def home(sluice, tmp_path):
    """A data home with `titanic` on branch dev; its background server is stopped after."""
    data = tmp_path / "titanic.csv"
    data.write_text(TITANIC_CSV)
    sluice("checkout", "-b", "dev")
    sluice("table", "create", "titanic", "--search-uri", data)
    sluice("table", "import", "titanic", "--search-uri", data)
    yield sluice
    sluice("server", "stop", check=False)


def test_start_is_idempotent_owner_only_and_stop_cleans_up(home):
    first = home.json("server", "start")
    sock = pathlib.Path(first["socket"])
    assert sock == home.home / "server.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert (home.home / "server.pid").read_text().strip() == str(first["pid"])
    again = home.json("server", "start")
    assert again["pid"] == first["pid"]  # the same daemon, not a second one
    assert home("server", "start").stdout.strip() == str(sock)
    status = home.json("server", "status")
    # The lock's answer, and the server's own account (issue 10 §5: warm runs).
    assert {"running": True, "socket": str(sock), "pid": first["pid"]}.items() <= status.items()
    assert status["runs"] == 0 and status["uptime_seconds"] >= 0 and status["fingerprint_matches"] is True
    # The limits in force (server_limits.h): the defaults here.
    assert status["limits"] == {
        "remote_workers": 16,
        "remote_workers_per_user": 8,
        "query_timeout_seconds": 600,
        "query_worker_idle_seconds": 300,
    }
    assert "limits    queries 10m" in home("server", "status").stdout

    # The same API as `sluice serve`, over the socket.
    code, branches = api(home, "GET", "/api/v1/branches")
    assert code == 200 and {"main", "dev"} <= {b["name"] for b in branches}
    code, config = api(home, "GET", "/v1/config")
    assert code == 200 and "defaults" in config
    code, error = api(home, "GET", "/api/v1/jobs/..%2F..%2Fetc")
    assert code == 400 and "is not a job id" in error["error"]["message"]

    stopped = home.json("server", "stop")
    assert stopped["stopped"] is True
    assert home.json("server", "status")["running"] is False
    assert not sock.exists() and not (home.home / "server.pid").exists()
    assert "no server was running" in home("server", "stop").stdout
    assert not alive(first["pid"])


def test_the_server_exits_by_itself_when_idle(home):
    home.env["SLUICE_SERVER_IDLE_SECONDS"] = "1.5"
    started = home.json("server", "start")
    sock = pathlib.Path(started["socket"])
    api(home, "GET", "/api/v1/branches")  # a request resets the idle clock
    wait_for(lambda: not home.json("server", "status")["running"], timeout=20)
    assert not sock.exists() and not (home.home / "server.pid").exists()
    assert "idle" in (home.home / "server.log").read_text()


def test_detached_run_returns_at_once_and_logs_follow_to_the_end(home, make_project):
    project = make_project({"models.py": TICKING})
    before = home.head("dev")
    started = time.monotonic()
    proc = home("run", "-p", project, "--detach")
    assert time.monotonic() - started < 20
    assert "running in detached mode" in proc.stdout
    job_id = proc.stdout.split()[1]
    assert home.json("server", "status")["running"]  # --detach started the server

    # The CLI that started it has exited; the run goes on in the server. Follow it.
    follow = home("job", "logs", job_id, "--follow", timeout=120)
    lines = follow.stdout.splitlines()
    ticks = [line for line in lines if "tick" in line]
    assert ticks == [f"[fares] tick {i} of PassengerId {i + 1}" for i in range(3)]
    assert f"job {job_id}: COMPLETE" in follow.stderr
    job = home.json("job", "get", job_id)
    assert job["status"] == "COMPLETE" and job["detached"] is True
    assert job["runner"].endswith(":" + str(home.json("server", "status")["pid"]))
    assert home.head("dev") != before
    assert "bauplan.fares" in home.tables("dev")

    # The context route an SDK reads, with logs and the code as it ran.
    code, context = api(home, "GET", f"/api/v1/jobs/{job_id}/context?include_logs=true&include_snapshot=true")
    assert code == 200
    assert context["ref"] == "dev" and context["dag_nodes"] == [{"id": "fares", "name": "fares"}]
    assert "def fares(" in context["snapshot_dict"]["models.py"]
    assert any("tick 2" in line["message"] for line in context["logs"])

    # -O json for scripts.
    detached = home.json("run", "-p", project, "--detach")
    assert detached["detached"] is True and detached["job_id"]
    final = wait_for(lambda: (j := home.json("job", "get", detached["job_id"]))["status"] == "COMPLETE" and j)
    assert final["kind"] == "RUN"


def shm_leftovers(home, job_id):
    root = pathlib.Path(home.json("info")["shared_memory"])
    return [p for p in root.rglob("*") if job_id in str(p)]


def test_kill_stops_a_long_model_and_leaves_the_target_untouched(home, make_project):
    project = make_project({"models.py": SLEEPING})
    before = home.head("dev")
    job_id = home.json("run", "-p", project, "--detach")["job_id"]
    wait_for(lambda: "going to sleep" in home("job", "logs", job_id).stdout, timeout=60)
    assert home.json("job", "get", job_id)["models"][0]["status"] == "RUNNING"

    started = time.monotonic()
    stopped = home.json("job", "kill", job_id)
    assert stopped["status"] == "ABORT"
    assert time.monotonic() - started < 15
    job = home.json("job", "get", job_id)
    assert job["status"] == "ABORT" and job["human_readable_status"] == "abort"
    assert job["models"][0]["status"] == "CANCELLED"
    assert job["error"]["kind"] == "cancelled"
    assert "job cancelled" in home("job", "logs", job_id).stdout + home("job", "logs", job_id).stderr or any(
        "cancelled" in event["message"] for event in home.json("job", "logs", job_id)["logs"]
    )
    # A transaction: the target never moved, the run's branch is gone, nothing left in memory.
    assert home.head("dev") == before
    assert "bauplan.sleepy" not in home.tables("dev")
    assert not [b for b in home.json("branch", "ls") if job_id in b["name"]]
    assert shm_leftovers(home, job_id) == []
    # The model's process is gone (it slept 120 s).
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert "sluice._worker" not in ps or job_id not in ps
    # Stopping it again: it already ended.
    again = home("job", "stop", job_id, check=False)
    assert again.returncode == 1 and "already ended: ABORT" in again.stderr


def test_stopping_the_server_aborts_its_running_job(home, make_project):
    project = make_project({"models.py": SLEEPING})
    before = home.head("dev")
    job_id = home.json("run", "-p", project, "--detach")["job_id"]
    wait_for(lambda: "going to sleep" in home("job", "logs", job_id).stdout, timeout=60)
    home("server", "stop")
    job = home.json("job", "get", job_id)
    assert job["status"] == "ABORT"
    assert home.head("dev") == before


@pytest.fixture
def shared_home():
    """A data home another user could reach (directories 0755), as a hostile neighbour sees it."""
    root = pathlib.Path(tempfile.mkdtemp(prefix="sluice-peer-"))
    root.chmod(0o755)
    sluice = Sluice(root / "home")
    yield sluice
    sluice("server", "stop", check=False)
    sluice.remove_shared_memory()
    shutil.rmtree(root, ignore_errors=True)


NEIGHBOUR = """
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("refused by the file mode"); sys.exit(0)
try:
    s.sendall(b"GET /api/v1/branches HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
except (BrokenPipeError, ConnectionResetError):
    pass  # refused servers answer first and hang up; the answer is still there to read
print(s.recv(4096).decode(errors="replace").splitlines()[0])
"""


# An interpreter another user may run (the venv's lives under /root).
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")


@pytest.mark.skipif(os.geteuid() != 0 or not SYSTEM_PYTHON, reason="needs root and a system python3")
def test_another_user_cannot_use_the_server(shared_home):
    started = shared_home.json("server", "start")
    sock = started["socket"]
    shared_home.home.chmod(0o755)
    nobody = 65534
    run = dict(capture_output=True, text=True, timeout=30, user=nobody, group=nobody)
    # The socket's mode keeps them out...
    out = subprocess.run([SYSTEM_PYTHON, "-c", NEIGHBOUR, sock], **run)
    assert out.stdout.strip() == "refused by the file mode", out.stderr
    # ...and were the mode loosened, the server's peer check still does.
    os.chmod(sock, 0o666)
    out = subprocess.run([SYSTEM_PYTHON, "-c", NEIGHBOUR, sock], **run)
    assert out.stdout.strip().startswith("HTTP/1.1 403"), (out.stdout, out.stderr)
    # The owner is still served.
    assert shared_home.json("server", "status")["running"]
    code, branches = api(shared_home, "GET", "/api/v1/branches")
    assert code == 200 and [b["name"] for b in branches] == ["main"]


def test_a_home_too_deep_for_a_plain_socket_path_still_gets_its_server(tmp_path, make_project):
    # <home>/server.sock is over the 107 bytes of sun_path: bound and reached through the
    # directory's /proc/self/fd entry, by the daemon, the CLI and the SDK alike.
    deep = Sluice(tmp_path / ("d" * 60) / ("e" * 60) / "home")
    sock = deep.home / "server.sock"
    assert len(str(sock)) > 107
    data = tmp_path / "titanic.csv"
    data.write_text(TITANIC_CSV)
    deep("checkout", "-b", "dev")
    deep("table", "create", "titanic", "--search-uri", data)
    deep("table", "import", "titanic", "--search-uri", data)
    try:
        started = time.monotonic()
        first = deep.json("server", "start")
        assert time.monotonic() - started < 10
        assert pathlib.Path(first["socket"]) == sock
        assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600
        assert deep.json("server", "start")["pid"] == first["pid"]  # found, not started twice
        # The CLI's detached run goes through the socket.
        job_id = deep.json("run", "-p", make_project({"models.py": TICKING}), "--detach")["job_id"]
        final = wait_for(
            lambda: (j := deep.json("job", "get", job_id))["status"] in ("COMPLETE", "FAIL") and j
        )
        assert final["status"] == "COMPLETE", final
        assert final["runner"].endswith(":" + str(first["pid"]))
        # The SDK's transport too.
        sdk = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from sluice._transport import HttpTransport;"
                "print(HttpTransport(socket_path=sys.argv[1]).request('GET', 'branches')[0])",
                str(sock),
            ],
            env=deep.env,
            capture_output=True,
            text=True,
        )
        assert sdk.stdout.strip() == "200", sdk.stderr
    finally:
        deep("server", "stop", check=False)
    assert deep.json("server", "status")["running"] is False
    assert not sock.exists()
    deep.remove_shared_memory()


def test_ctrl_c_on_a_foreground_run_cancels_its_job(home, make_project):
    project = make_project({"models.py": SLEEPING})
    before = home.head("dev")
    proc = subprocess.Popen(
        [str(SLUICE), "run", "-p", str(project)],
        env=home.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    job_id = None
    for line in proc.stdout:
        if line.startswith("job ") and job_id is None:
            job_id = line.split()[1].rstrip(":")
        if "going to sleep" in line:
            break
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert time.monotonic() - started < 20
    assert proc.returncode == 1
    assert f"cancelling job {job_id}" in err
    assert "cancelled" in err
    job = home.json("job", "get", job_id)
    assert job["status"] == "ABORT"
    assert home.head("dev") == before
    assert not [b for b in home.json("branch", "ls") if job_id in b["name"]]
    assert shm_leftovers(home, job_id) == []
