"""Jobs (issue 8 §4): every run, import and query is a job with a history, seen through
bauplan's `job ls/get/logs/stop` and the run/query flags bauplan's CLI has. Titanic-shaped
data with its mixed-case columns (PassengerId, Age, Fare), quoted in SQL and filters until
unquoted names keep their case (issue 8 §1, another branch)."""

import datetime

import pytest

TITANIC_CSV = """PassengerId,Name,Age,Fare,Survived
1,Braund,22,7.25,0
2,Cumings,38,71.2833,1
3,Heikkinen,26,7.925,1
4,Futrelle,35,53.1,1
5,Allen,35,8.05,0
"""

MODELS = """
import bauplan


@bauplan.model(materialization_strategy="REPLACE")
def adults(titanic=bauplan.Model("titanic", columns=["PassengerId", "Age", "Fare"], filter='"Age" >= 30')):
    print(f"adults: {titanic.num_rows} rows, PassengerId first {titanic['PassengerId'][0]}")
    return titanic
"""

FARES_SQL = """-- bauplan: materialization_strategy=REPLACE
SELECT "PassengerId", "Fare" * 2 AS "DoubleFare" FROM adults
"""


@pytest.fixture
def titanic(sluice, tmp_path):
    """A data home with `titanic` imported on branch dev (active)."""
    data = tmp_path / "titanic.csv"
    data.write_text(TITANIC_CSV)
    sluice("checkout", "-b", "dev")
    sluice("table", "create", "titanic", "--search-uri", data)
    sluice("table", "import", "titanic", "--search-uri", data)
    return sluice


def jobs(sluice, *args):
    return sluice.json("job", "ls", *args)


def only_job(sluice, kind):
    found = [j for j in jobs(sluice, "--all-users") if j["kind"] == kind]
    assert len(found) == 1, found
    return found[0]


def test_a_run_is_a_job_with_its_dag_models_prints_and_commit(titanic, make_project):
    project = make_project({"models.py": MODELS, "fares.sql": FARES_SQL})
    titanic("run", "-p", project)
    job = only_job(titanic, "RUN")
    assert job["status"] == "COMPLETE"
    assert job["human_readable_status"] == "complete"
    assert job["user"] == "tester"
    assert job["ref"] == "dev"
    assert job["created_at"].endswith("Z") and job["finished_at"] and job["duration_seconds"] >= 0
    assert job["project_name"] == "test_project"
    assert job["tx_ref"] == f"dev.run-{job['id']}"

    detail = titanic.json("job", "get", job["id"])
    assert {n["name"] for n in detail["dag_nodes"]} == {"adults", "fares"}
    edges = {(e["source_model"], e["destination_model"], e["source_table"]) for e in detail["dag_edges"]}
    assert ("adults", "fares", None) in edges
    assert (None, "adults", "bauplan.titanic") in edges
    models = {m["name"]: m for m in detail["models"]}
    assert models["adults"]["status"] == "SUCCESS" and models["adults"]["rows"] == 3
    assert models["fares"]["output_table"] == "bauplan.fares"
    assert models["adults"]["started_at"] and models["adults"]["finished_at"]

    # What the model printed, tagged with its name; system lines only when asked.
    logs = titanic("job", "logs", job["id"]).stdout
    assert "[adults] adults: 3 rows, PassengerId first 2" in logs
    assert "started" not in logs
    assert "model 'adults' started" in titanic("job", "logs", job["id"], "--system").stdout
    events = titanic.json("job", "logs", job["id"])["logs"]
    assert events[0]["level"] == "INFO" and events[0]["stream"] == "STDOUT" and events[0]["model"] == "adults"

    # The commit the run made names its job with bauplan's property.
    head = titanic.json("commit", "dev", "--max-count", "1")[0]
    assert head["properties"]["bpln_job_id"] == job["id"]
    assert detail["commit_id"] == head["id"]


def test_a_failing_run_is_a_failed_job_with_its_error(titanic, make_project):
    project = make_project(
        {
            "models.py": """
import bauplan


@bauplan.model()
def broken(titanic=bauplan.Model("titanic", columns=["Fare"])):
    print("about to fail")
    raise ValueError("negative Fare found")
"""
        }
    )
    before = titanic.head("dev")
    proc = titanic("run", "-p", project, check=False)
    assert proc.returncode != 0
    assert "its log: sluice job logs" in proc.stderr
    job = only_job(titanic, "RUN")
    assert job["status"] == "FAIL"
    assert "negative Fare found" in job["error"]["message"]
    assert job["error"]["kind"] == "model failed"
    detail = titanic.json("job", "get", job["id"])
    assert detail["models"][0]["status"] == "FAILED"
    logs = titanic("job", "logs", job["id"]).stdout
    assert "[broken] about to fail" in logs
    assert "error: [broken]" in logs and "negative Fare found" in logs
    assert "ValueError" in logs  # the user's traceback is kept
    assert titanic.head("dev") == before
    assert len(jobs(titanic, "--status", "fail")) == 1
    assert jobs(titanic, "--kind", "run", "--status", "complete") == []


def test_a_model_printing_bytes_that_are_not_utf8_cannot_break_its_job(titanic, make_project):
    # Raw bytes, and a line long enough to be cut (16 KiB) in the middle of a 3-byte character.
    project = make_project(
        {
            "models.py": """
import sys

import bauplan


@bauplan.model(materialization_strategy="REPLACE")
def loud(titanic=bauplan.Model("titanic", columns=["PassengerId", "Fare"])):
    print("€" * 6000, flush=True)
    sys.stdout.buffer.write(b"raw \\xff\\xfe Fare\\n")
    sys.stdout.flush()
    return titanic
"""
        }
    )
    proc = titanic("run", "-p", project, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "terminate called" not in proc.stderr
    assert "raw \ufffd\ufffd Fare" in proc.stdout
    job = only_job(titanic, "RUN")
    assert job["status"] == "COMPLETE"
    logs = titanic("job", "logs", job["id"]).stdout
    assert "raw \ufffd\ufffd Fare" in logs
    cut = next(line for line in logs.splitlines() if "line truncated" in line)
    assert cut.count("\u20ac") > 5000 and "\ufffd" not in cut


def test_a_run_that_cannot_plan_is_a_failed_job_too(titanic, make_project):
    project = make_project(
        {
            "models.py": """
import bauplan


@bauplan.model()
def lost(t=bauplan.Model("no_such_table")):
    return t
"""
        }
    )
    proc = titanic("run", "-p", project, check=False)
    assert proc.returncode != 0
    job = only_job(titanic, "RUN")
    assert job["status"] == "FAIL"
    assert "no_such_table" in job["error"]["message"]


def test_imports_and_queries_are_jobs(titanic):
    imported = only_job(titanic, "TABLE_IMPORT")
    assert imported["status"] == "COMPLETE" and imported["operation"] == "table_import"
    assert imported["ref"] == "dev"
    rows = titanic.query(
        'SELECT "PassengerId", "Age" FROM titanic WHERE "Age" > 30 ORDER BY "PassengerId"', "dev"
    )
    assert [r["PassengerId"] for r in rows] == [2, 4, 5]
    query = only_job(titanic, "QUERY")
    assert query["status"] == "COMPLETE"
    bad = titanic("query", "SELECT NoSuchColumn FROM titanic", check=False)
    assert bad.returncode != 0
    failed = [j for j in jobs(titanic, "--kind", "query", "--status", "fail")]
    assert len(failed) == 1 and failed[0]["error"]["message"]


def test_job_ls_filters_like_bauplan(titanic, make_project):
    project = make_project({"models.py": MODELS})
    titanic("run", "-p", project)
    other = dict(titanic.env, SLUICE_USER="someone_else")
    titanic.env, mine = other, titanic.env
    titanic("run", "-p", project)
    titanic.env = mine

    assert {j["user"] for j in jobs(titanic)} == {"tester"}  # own jobs by default
    assert {j["user"] for j in jobs(titanic, "--all-users")} == {"tester", "someone_else"}
    assert [j["user"] for j in jobs(titanic, "-u", "someone_else")] == ["someone_else"]
    assert {j["kind"] for j in jobs(titanic, "--kind", "run")} == {"RUN"}
    assert {j["kind"] for j in jobs(titanic, "-k", "table-import", "-k", "run")} == {"RUN", "TABLE_IMPORT"}
    assert len(jobs(titanic, "--all-users", "--max-count", "1")) == 1
    assert len(jobs(titanic, "--all-users", "--limit", "2")) == 2
    newest = jobs(titanic, "--all-users")
    assert [j["created_at"] for j in newest] == sorted((j["created_at"] for j in newest), reverse=True)
    tomorrow = (datetime.date.today() + datetime.timedelta(days=2)).isoformat()
    assert jobs(titanic, "--all-users", "--created-after", tomorrow) == []
    assert len(jobs(titanic, "--all-users", "--created-before", tomorrow)) == len(newest)
    one = newest[-1]["id"]
    assert [j["id"] for j in jobs(titanic, "--all-users", "--id", one)] == [one]
    table = titanic("job", "ls", "--all-users").stdout
    assert "ID" in table.splitlines()[0] and "TABLE_IMPORT" in table

    # Wrong filters: one clear error each, no traceback.
    for args in (
        ["--kind", "bogus"],
        ["--status", "exploded"],
        ["--created-after", "yesterday"],
        ["--max-count", "501"],
    ):
        proc = titanic("job", "ls", *args, check=False)
        assert proc.returncode != 0, args
        assert proc.stderr.startswith("error:"), proc.stderr
        assert "Traceback" not in proc.stderr


def test_job_get_logs_and_stop_refuse_hostile_and_unknown_ids(titanic):
    for bad in ("../../etc/passwd", "a/b", "x" * 200, "id;DROP TABLE jobs"):
        for command in (["job", "get", bad], ["job", "logs", bad], ["job", "stop", bad]):
            proc = titanic(*command, check=False)
            assert proc.returncode == 1, (command, proc.stderr)
            assert "is not a job id" in proc.stderr
            assert "Traceback" not in proc.stderr
    proc = titanic("job", "kill", "0123456789ab", check=False)
    assert proc.returncode == 1
    assert "job '0123456789ab' not found" in proc.stderr
    # A finished job cannot be stopped.
    done = only_job(titanic, "TABLE_IMPORT")
    proc = titanic("job", "stop", done["id"], check=False)
    assert proc.returncode == 1 and "already ended: COMPLETE" in proc.stderr
    # The jobs table is intact after all that.
    assert only_job(titanic, "TABLE_IMPORT")["id"] == done["id"]


def test_run_flags_preview_args_priority_cache(titanic, make_project):
    project = make_project({"models.py": MODELS})
    proc = titanic(
        "run",
        "-p",
        project,
        "--preview",
        "--arg",
        "team=data",
        "-a",
        "ticket=42",
        "--priority",
        "3",
        "--cache",
        "off",
        "--strict",
        "off",
        "-t",
        "on",
    )
    out = proc.stdout
    assert "=> PREVIEW adults" in out
    assert "PASSENGERID" in out and "FARE" in out
    job = only_job(titanic, "RUN")
    assert job["args"] == {"team": "data", "ticket": "42"}
    assert job["priority"] == 3
    assert job["cache"] == "off"
    assert job["preview"] == "on"

    report = titanic.json("run", "-p", project, "--preview", "tail", "--no-cache")
    preview = report["models"][0]["preview"]
    assert preview["columns"] == ["PassengerId", "Age", "Fare"]
    assert [row[0] for row in preview["rows"]] == ["2", "4", "5"]

    for args in (
        ["--priority", "11"],
        ["--preview", "sideways"],
        ["--cache", "maybe"],
        ["--strict", "perhaps"],
        ["--arg", "novalue"],
        ["--no-transaction", "-t", "on"],
    ):
        proc = titanic("run", "-p", project, *args, check=False)
        assert proc.returncode != 0, args
        assert proc.stderr.startswith("error:"), (args, proc.stderr)
    # None of those became a job: they were refused before anything ran.
    assert len(jobs(titanic, "--kind", "run")) == 2


def test_run_without_transaction_and_strict_on_forms(titanic, make_project):
    project = make_project({"models.py": MODELS})
    titanic("run", "-p", project, "--transaction", "off", "--strict", "on")
    assert "bauplan.adults" in titanic.tables("dev")
    assert not [b for b in titanic.json("branch", "ls", "--runs") if ".run-" in b["name"]]


def test_query_flags(titanic):
    out = titanic(
        "query",
        'SELECT "PassengerId", "Name" FROM titanic ORDER BY "PassengerId"',
        "--max-rows",
        "2",
        "--no-trunc",
        "--no-cache",
        "-a",
        "purpose=test",
        "--priority",
        "5",
    ).stdout
    assert "Braund" in out and "Cumings" in out and "Heikkinen" not in out
    job = only_job(titanic, "QUERY")
    assert job["cache"] == "off" and job["args"] == {"purpose": "test"} and job["priority"] == 5
    everything = titanic("query", 'SELECT "PassengerId" FROM titanic', "--max-rows", "0").stdout
    assert "(5 rows)" in everything
    proc = titanic("query", "SELECT 1", "--priority", "0", check=False)
    assert proc.returncode != 0
    assert "--priority takes a number from 1 to 10, not 0" in proc.stderr  # not 0 taken as "none"
    for flags, message in [
        (("--cache", "maybe"), "--cache takes on or off, not 'maybe'"),
        (("-a", "=x"), "--arg '=x': expected name=value"),
    ]:
        proc = titanic("query", "SELECT 1", *flags, check=False)
        assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture
def served(titanic):
    """`sluice serve` on a free port over the titanic home; stopped after the test."""
    with titanic.serving() as endpoint:
        yield endpoint


def test_detached_runs_and_jobs_through_a_remote_server(titanic, served, make_project):
    project = make_project({"models.py": MODELS})
    detached = titanic.json("--endpoint", served, "run", "-p", project, "--detach")
    assert detached["detached"] is True
    follow = titanic("--endpoint", served, "job", "logs", detached["job_id"], "--follow", timeout=120)
    assert "[adults] adults: 3 rows" in follow.stdout
    assert "COMPLETE" in follow.stderr
    remote = titanic.json("--endpoint", served, "job", "get", detached["job_id"])
    local = titanic.json("job", "get", detached["job_id"])
    assert remote["status"] == local["status"] == "COMPLETE"
    assert remote["detached"] is True
    # The server's background server was not needed: the run went on in `sluice serve`.
    assert titanic.json("server", "status")["running"] is False
