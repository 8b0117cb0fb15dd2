"""Warm local runs (issue 10 §5): `sluice run` and `sluice query` on a local data home go to
its background server, started on first use; a server started with another environment or
build is replaced when idle and passed by when busy; a dead, wedged or impostor server is
replaced; SLUICE_SERVER=off and `config set server.auto off` keep everything in-process.
Warmth is asserted through the server's own counters (`server status --json`), never timing."""

import os
import pathlib
import signal
import socket
import subprocess
import threading

import pytest
from cli_harness import SLUICE, TAXI, alive, wait_for

SLEEPY = """
import time

import bauplan


@bauplan.model(materialization_strategy="REPLACE")
def sleepy_zones(zones=bauplan.Model("taxi_zones", columns=["zone_id", "borough"])):
    print("going to sleep", flush=True)
    time.sleep(120)
    return zones
"""

QUICK = """
import bauplan


@bauplan.model(materialization_strategy="REPLACE")
def PULocation_boroughs(zones=bauplan.Model("taxi_zones", columns=["zone_id", "borough"])):
    return zones
"""


def processes_naming(text):
    """Pids of processes whose command line mentions `text` (a project directory)."""
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text in (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def start_run(home, project, *args):
    """`sluice run` in the background; returns the process once its model has started."""
    return home.start_run(project, *args)


def test_the_first_run_starts_the_server_and_the_second_is_served_warm(lake):
    assert lake.server_status()["running"] is False
    first = lake("run", "-p", TAXI)
    assert "succeeded" in first.stdout and first.stderr == ""
    status = lake.server_status()
    assert status["running"] is True and status["runs"] == 1 and status["fingerprint_matches"] is True
    assert status["binary"] == str(SLUICE.resolve())

    second = lake("run", "-p", TAXI)
    assert "succeeded" in second.stdout
    again = lake.server_status()
    assert again["pid"] == status["pid"] and again["runs"] == 2  # the same, warm server
    assert again["uptime_seconds"] >= status["uptime_seconds"]

    # Queries too, in every output format.
    tty = lake("query", "SELECT borough, count(*) AS n FROM taxi_zones GROUP BY borough ORDER BY borough")
    assert "Manhattan" in tty.stdout
    rows = lake.query('SELECT count(*) AS "PULocationIDs" FROM taxi_trips', "dev")
    assert rows[0]["PULocationIDs"] > 0
    arrow = lake.home.parent / "zones.arrow"
    lake("query", "SELECT zone_id, borough FROM taxi_zones", "--arrow-out", arrow)
    import pyarrow as pa

    table = pa.ipc.open_file(str(arrow)).read_all()
    assert table.column_names == ["zone_id", "borough"] and table.num_rows > 0
    served = lake.server_status()
    assert served["pid"] == status["pid"] and served["queries"] == 3

    text = lake("server", "status").stdout
    for word in (f"pid {status['pid']}", "uptime", "idle for", "2 runs", "3 queries", str(SLUICE.resolve())):
        assert word in text, text


def test_a_changed_variable_restarts_an_idle_server_and_the_run_sees_it(lake, make_project):
    project = make_project({"models.py": QUICK})
    lake("run", "-p", project)
    before = lake.server_status()["pid"]

    lake.env["SLUICE_MAX_OUTPUT_BYTES"] = "100"  # what the new server must enforce
    proc = lake("run", "-p", project, check=False)
    assert proc.returncode == 1 and "more than the limit of 100 bytes" in proc.stderr, proc.stderr
    after = lake.server_status()
    assert after["pid"] != before and not alive(before)
    assert "SLUICE_MAX_OUTPUT_BYTES" in after["fingerprint_variables"]

    del lake.env["SLUICE_MAX_OUTPUT_BYTES"]
    assert "succeeded" in lake("run", "-p", project).stdout
    third = lake.server_status()["pid"]
    assert third != after["pid"]

    # An AWS key is part of the environment too: never used by a server started without it.
    lake.env["AWS_SECRET_ACCESS_KEY"] = "another-secret"
    lake("query", "SELECT count(*) FROM taxi_zones")
    status = lake.server_status()
    assert status["pid"] != third and "AWS_SECRET_ACCESS_KEY" in status["fingerprint_variables"]
    assert "another-secret" not in str(status)  # names only, never values


def test_a_busy_server_with_another_environment_is_passed_by(lake, make_project):
    sleepy = make_project({"models.py": SLEEPY})
    quick = make_project({"models.py": QUICK})
    detached = lake.json("run", "-p", sleepy, "--detach")
    server = lake.server_status()
    assert server["busy"] is True and server["detached_jobs"] == 1

    lake.env["SLUICE_COLUMN_CACHE_BYTES"] = "1000000"
    proc = lake("run", "-p", quick)
    assert "succeeded" in proc.stdout
    notes = [line for line in proc.stderr.splitlines() if line]
    assert len(notes) == 1 and "another environment and is busy" in notes[0] and "in this process" in notes[0]
    still = lake.server_status()
    assert still["pid"] == server["pid"] and still["runs"] == server["runs"]  # not run there
    assert still["fingerprint_matches"] is False

    # A detached run cannot go in-process: it says what to do instead.
    refused = lake("run", "-p", quick, "--detach", check=False)
    assert refused.returncode == 1 and "another environment and is busy" in refused.stderr
    assert "sluice server stop" in refused.stderr

    lake("job", "kill", detached["job_id"])


def test_a_server_killed_between_runs_is_replaced(lake, make_project):
    project = make_project({"models.py": QUICK})
    lake("run", "-p", project)
    first = lake.server_status()["pid"]
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not alive(first))
    assert (lake.home / "server.sock").exists()  # left behind, as after any SIGKILL
    assert "succeeded" in lake("run", "-p", project).stdout
    second = lake.server_status()
    assert second["running"] and second["pid"] != first and second["runs"] == 1


def test_a_server_killed_during_a_run_fails_it_clearly_and_the_branch_is_unchanged(lake, make_project):
    sleepy = make_project({"models.py": SLEEPY})
    before = lake.head("dev")
    proc, _ = start_run(lake, sleepy)
    pid = lake.server_status()["pid"]
    os.kill(pid, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1
    lines = stderr.strip().splitlines()
    assert (
        lines[0].startswith("error: run ")
        and f"background server (pid {pid}) died during the run" in lines[0]
    )
    assert "'dev' is unchanged" in stderr and "sluice job get" in stderr and "Traceback" not in stderr
    assert lake.head("dev") == before
    # The model's worker went with the server.
    wait_for(lambda: not processes_naming(str(sleepy)), timeout=30)

    quick = make_project({"models.py": QUICK})
    assert "succeeded" in lake("run", "-p", quick).stdout
    assert lake.server_status()["pid"] != pid


def test_ctrl_c_cancels_the_job_in_the_server(lake, make_project):
    sleepy = make_project({"models.py": SLEEPY})
    before = lake.head("dev")
    proc, out = start_run(lake, sleepy)
    job_id = out.split()[1].rstrip(":")
    server = lake.server_status()["pid"]
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert f"cancelling job {job_id}" in stderr
    job = lake.json("job", "get", job_id)
    assert job["status"] in ("ABORT", "CANCELLED"), job
    status = lake.server_status()
    assert status["pid"] == server and status["runs_in_flight"] == 0  # the server lives on, idle
    assert lake.head("dev") == before
    # (The project's zygote stays, warm for the next run: that is the point of the server.)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGHUP])
def test_a_killed_cli_takes_its_run_with_it(lake, make_project, how):
    """In-process, killing `sluice run` (kill -9, a closed terminal) killed the run; through
    the server it must too: the server finds the client gone at its next heartbeat."""
    sleepy = make_project({"models.py": SLEEPY})
    before = lake.head("dev")
    proc, out = start_run(lake, sleepy)
    job_id = out.split()[1].rstrip(":")
    proc.send_signal(how)
    proc.communicate(timeout=60)
    assert proc.returncode != 0
    job = wait_for(lambda: (j := lake.json("job", "get", job_id))["status"] != "RUNNING" and j, timeout=60)
    assert job["status"] in ("ABORT", "CANCELLED"), job
    assert lake.head("dev") == before
    assert wait_for(lambda: lake.server_status()["runs_in_flight"] == 0, timeout=30)


def test_a_wedged_server_is_replaced(lake, make_project):
    project = make_project({"models.py": QUICK})
    lake("run", "-p", project)
    wedged = lake.server_status()["pid"]
    os.kill(wedged, signal.SIGSTOP)
    try:
        assert "succeeded" in lake("run", "-p", project, timeout=120).stdout
    finally:
        if alive(wedged):
            os.kill(wedged, signal.SIGCONT)
    wait_for(lambda: not alive(wedged))
    assert lake.server_status()["pid"] != wedged


@pytest.mark.parametrize("how", ["environment", "setting"])
def test_opting_out_starts_no_server(lake, make_project, how):
    project = make_project({"models.py": QUICK})
    if how == "environment":
        lake.env["SLUICE_SERVER"] = "off"
    else:
        lake("config", "set", "server.auto", "off")
        assert lake("config", "get", "server.auto").stdout.strip() == "off"
    proc = lake("run", "-p", project)
    assert "succeeded" in proc.stdout and proc.stderr == ""
    lake("query", "SELECT count(*) FROM taxi_zones")
    status = lake.server_status()
    assert status["running"] is False and status["auto"] is False
    assert not (lake.home / "server.sock").exists()
    bad = lake("config", "set", "server.auto", "sometimes", check=False)
    assert bad.returncode == 1 and "server.auto takes on or off" in bad.stderr


class Impostor:
    """A listener on a unix socket that records whatever a client sends it."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o600)
        self.sock.listen(16)
        self.received = b""
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.settimeout(2)
            try:
                while chunk := conn.recv(4096):
                    self.received += chunk
            except OSError:
                pass
            conn.close()

    def close(self):
        self.sock.close()


def test_hostile_a_planted_socket_or_pid_file_is_never_trusted(lake, make_project, tmp_path):
    project = make_project({"models.py": QUICK})
    innocent = subprocess.Popen(["sleep", "300"])
    impostor = Impostor(tmp_path / "impostor.sock")
    try:
        # No server runs; the home holds a symlink to someone's socket and a pid file naming
        # an unrelated process.
        (lake.home / "server.sock").symlink_to(tmp_path / "impostor.sock")
        (lake.home / "server.pid").write_text(f"{innocent.pid}\n")
        assert "succeeded" in lake("run", "-p", project).stdout
        first = lake.server_status()["pid"]
        assert first != innocent.pid and innocent.poll() is None  # never signalled
        assert not (lake.home / "server.sock").is_symlink()

        # A live server whose socket file is swapped for another listener: the client talks
        # to neither; it replaces the server.
        (lake.home / "server.sock").unlink()
        (lake.home / "server.sock").symlink_to(tmp_path / "impostor.sock")
        assert "succeeded" in lake("run", "-p", project).stdout
        second = lake.server_status()["pid"]
        assert second != first and not alive(first)

        (lake.home / "server.sock").unlink()
        os.rename(tmp_path / "impostor.sock", lake.home / "server.sock")  # a real socket, this uid
        assert "succeeded" in lake("run", "-p", project).stdout
        assert lake.server_status()["pid"] != second
        assert impostor.received == b""  # not one byte of any request
    finally:
        impostor.close()
        innocent.kill()
        innocent.wait()


def test_hostile_another_users_socket_is_not_trusted(lake, make_project, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to make a socket owned by another uid")
    project = make_project({"models.py": QUICK})
    impostor = Impostor(tmp_path / "theirs.sock")
    try:
        lake("run", "-p", project)
        first = lake.server_status()["pid"]
        (lake.home / "server.sock").unlink()
        os.rename(tmp_path / "theirs.sock", lake.home / "server.sock")
        os.chown(lake.home / "server.sock", 4242, 4242)
        assert "succeeded" in lake("run", "-p", project).stdout
        assert lake.server_status()["pid"] != first
        assert impostor.received == b""
    finally:
        impostor.close()


def test_teardown_leaves_no_server_and_no_shared_memory(lake, make_project):
    project = make_project({"models.py": QUICK})
    lake("run", "-p", project)
    pid = lake.server_status()["pid"]
    shared = pathlib.Path(lake.json("info")["shared_memory"])
    assert lake.stop_server() == pid
    assert not alive(pid) and not processes_naming(str(project))
    lake.remove_shared_memory()
    assert not shared.exists()


def test_a_changed_aws_key_restarts_the_server_and_the_run_uses_the_new_key(sluice, make_project):
    from cli_harness import use_s3_warehouse
    from s3_harness import s3_server

    s3_server()  # skips without the test S3 server
    use_s3_warehouse(sluice, os.environ["SLUICE_TEST_S3_ENDPOINT"], "warm")
    sluice("checkout", "-b", "dev")
    sluice.load("taxi_zones", TAXI / "data" / "taxi_zones.csv")
    project = make_project({"models.py": QUICK})
    assert "succeeded" in sluice("run", "-p", project).stdout
    first = sluice.server_status()["pid"]
    before = sluice.head("dev")

    good = sluice.env["AWS_SECRET_ACCESS_KEY"]
    sluice.env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    proc = sluice("run", "-p", project, check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "s3://" in proc.stderr, proc.stderr  # the new server read S3 with the wrong key
    second = sluice.server_status()["pid"]
    assert second != first and sluice.head("dev") == before

    sluice.env["AWS_SECRET_ACCESS_KEY"] = good
    assert "succeeded" in sluice("run", "-p", project).stdout
    assert sluice.server_status()["pid"] != second
