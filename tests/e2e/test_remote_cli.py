"""The CLI against `sluice serve` (--endpoint / SLUICE_ENDPOINT): the same commands, answered
by the server's JSON API; the lake lives where the server runs."""

import subprocess

import pytest
from cli_harness import SLUICE, TAXI, Sluice


@pytest.fixture
def remote(tmp_path):
    server_home = Sluice(tmp_path / "server")
    with server_home.serving() as uri:
        client = Sluice(tmp_path / "client")  # only the active branch lives here
        client.env["SLUICE_ENDPOINT"] = uri
        yield client, server_home
    server_home.remove_shared_memory()


def test_the_cli_works_remotely(remote):
    client, server = remote
    client("checkout", "-b", "dev")
    client.load("taxi_trips", TAXI / "data" / "taxi_trips.parquet")
    client.load("taxi_zones", TAXI / "data" / "taxi_zones.csv")
    assert client.tables("dev") == {"bauplan.taxi_trips", "bauplan.taxi_zones"}
    out = client("run", "--project-dir", TAXI).stdout
    assert "borough_stats" in out and "succeeded" in out
    # Progress streams from the server as a local run prints it: the DAG, what models print.
    assert out.startswith("job ") and "trips_with_zones.sql" in out
    assert "[clean_trips] clean_trips: kept" in out
    assert client.json("table", "get", "borough_stats")["records"] == 5
    assert "~TABLE" not in client("branch", "diff", "main", "dev").stdout
    assert "+TABLE bauplan.borough_stats" in client("branch", "diff", "main", "dev").stdout
    client("branch", "merge", "dev", "--into-branch", "main")
    assert client.query("SELECT COUNT(*) AS n FROM borough_stats", "main") == [{"n": 5}]
    assert "(5 rows)" in client("query", "SELECT * FROM borough_stats", "--ref", "main").stdout
    # The server's own data home has it all; the client's has none of it.
    assert "bauplan.borough_stats" in server.tables("main")
    assert not (client.home / "catalog.db").exists()


def test_remote_errors_keep_their_kind_and_hint(remote):
    client, _ = remote
    proc = client("table", "get", "nope", "--ref", "main", check=False)
    assert proc.returncode == 1 and "nope" in proc.stderr
    proc = client("branch", "create", "main", check=False)
    assert proc.returncode == 1 and "already exists" in proc.stderr
    proc = client(
        "table",
        "create",
        "t",
        "--search-uri",
        TAXI / "data" / "taxi_zones.csv",
        "--branch",
        "main",
        check=False,
    )
    assert proc.returncode == 1 and "protected" in proc.stderr and "hint:" in proc.stderr


def test_an_unreachable_endpoint_is_one_clear_error(tmp_path):
    client = Sluice(tmp_path / "client")
    client.env["SLUICE_ENDPOINT"] = "http://127.0.0.1:9"
    proc = client("branch", "ls", check=False)
    assert proc.returncode == 1
    assert "cannot reach http://127.0.0.1:9" in proc.stderr and "sluice serve" in proc.stderr


@pytest.fixture
def remote_zones(remote):
    """A client of `sluice serve` on branch dev, which has taxi_zones."""
    client, _ = remote
    client("checkout", "-b", "dev")
    client.load("taxi_zones", TAXI / "data" / "taxi_zones.csv")
    return client


def one_model_project(make_project, name, body):
    """A project with one model `name` over taxi_zones; `body` is its code, one indent in."""
    return make_project(
        {
            "models.py": "import os\nimport time\nimport bauplan\n\n"
            "@bauplan.model(materialization_strategy='REPLACE')\n"
            f"def {name}(z=bauplan.Model('taxi_zones')):\n" + body
        }
    )


def test_a_server_keeps_zygotes_warm_from_one_run_to_the_next(remote_zones, make_project):
    client = remote_zones
    project = one_model_project(
        make_project,
        "who",
        "    started = open('/proc/self/stat').read().split()[21]  # in its own PID namespace: pid 1\n"
        "    return [{'zygote': os.environ['SLUICE_ZYGOTE'], 'worker': started}]\n",
    )
    seen = []
    for _ in range(2):
        client("run", "-p", project)
        seen.append(client.query("SELECT * FROM who", "dev")[0])
    assert seen[0]["zygote"] == seen[1]["zygote"]  # the same warm interpreter forked both
    assert seen[0]["worker"] != seen[1]["worker"]  # each call its own process


def test_a_server_answers_while_a_run_is_in_progress(remote_zones, make_project):
    import time

    client = remote_zones
    project = one_model_project(make_project, "slow", "    time.sleep(8)\n    return z\n")
    run = subprocess.Popen(
        [str(SLUICE), "run", "-p", str(project)],
        env=client.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The run's own branch shows up while it runs: seeing it means the server answered.
        deadline = time.monotonic() + 60
        while "dev.run-" not in client("branch", "ls", "--runs").stdout:
            assert run.poll() is None and time.monotonic() < deadline, run.communicate()
            time.sleep(0.1)
        assert "bauplan.taxi_zones" in client.tables("dev")
        assert run.stdout.readline().startswith("job ")  # the plan streamed as the run began
        assert run.poll() is None  # all of that came while the run was still going
        _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err
    finally:
        if run.poll() is None:
            run.kill()
    assert "bauplan.slow" in client.tables("dev")
