"""The SDK with bauplan's arguments and objects, embedded and remote (issue 8 §3): every
catalog, query and run method, the forms of its arguments, what it returns, and the typed
error of each failure."""

import datetime
import inspect
import json
import sys
import types

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import bauplan
from bauplan import exceptions
from bauplan.schema import Actor, Branch, Commit, Namespace, Ref, RefType, Table, TableField, Tag


def test_branches(client):
    dev = client.get_branch("tester.dev")
    assert isinstance(dev, Branch) and dev.name == "tester.dev" and len(dev.hash) >= 8
    assert dev.type == RefType.BRANCH and str(dev) == f"tester.dev@{dev.hash}"
    branches = client.get_branches()
    assert isinstance(branches, types.GeneratorType)  # lazy
    assert {b.name for b in branches} == {"main", "tester.dev"}
    assert [b.name for b in client.get_branches(name="dev")] == ["tester.dev"]
    assert [b.name for b in client.get_branches(user="tester")] == ["tester.dev"]
    assert len(list(client.get_branches(limit=1))) == 1
    # From a Branch object (read at its commit) and from "name@hash".
    feature = client.create_branch("tester.feature", from_ref=dev)
    assert isinstance(feature, Branch) and feature.hash == dev.hash
    pinned = client.create_branch(Branch("tester.pinned"), f"tester.dev@{dev.hash}")
    assert pinned.hash == dev.hash
    assert client.create_branch("tester.feature", "main", if_not_exists=True) == feature
    with pytest.raises(exceptions.BranchExistsError) as error:
        client.create_branch("tester.feature", "main")
    assert isinstance(error.value, exceptions.UpdateConflictError) and error.value.code == 409
    assert error.value.kind == exceptions.ApiErrorKind.BranchExists("tester.feature")
    assert client.has_branch("tester.feature") and not client.has_branch("tester.nope")
    renamed = client.rename_branch("tester.feature", "tester.renamed")
    assert isinstance(renamed, Branch) and renamed.name == "tester.renamed"
    assert client.delete_branch(renamed) is True
    assert client.delete_branch("tester.renamed", if_exists=True) is False
    with pytest.raises(exceptions.BranchNotFoundError):
        client.delete_branch("tester.renamed")
    with pytest.raises(exceptions.BranchNotFoundError):
        client.get_branch("tester.renamed")
    with pytest.raises(exceptions.RefNotFoundError):
        client.create_branch("tester.x", from_ref="no_such_ref")


def test_tags(client):
    tag = client.create_tag("v1", from_ref="tester.dev")
    assert isinstance(tag, Tag) and tag.type == RefType.TAG
    assert tag.hash == client.get_branch("tester.dev").hash
    assert client.get_tag("v1") == tag and client.has_tag(tag) and not client.has_tag("v2")
    assert client.create_tag("v1", "main", if_not_exists=True) == tag
    with pytest.raises(exceptions.TagExistsError):
        client.create_tag("v1", "main")
    client.create_tag("release_2", "main")
    assert isinstance(client.get_tags(), types.GeneratorType)
    assert [t.name for t in client.get_tags(filter_by_name="^v")] == ["v1"]
    assert len(list(client.get_tags(limit=1))) == 1
    renamed = client.rename_tag("v1", "v1_final")
    assert isinstance(renamed, Tag) and renamed.hash == tag.hash
    with pytest.raises(exceptions.TagNotFoundError):
        client.get_tag("v1")
    assert client.delete_tag(renamed) is True
    assert client.delete_tag("v1_final", if_exists=True) is False
    with pytest.raises(exceptions.TagNotFoundError):
        client.delete_tag("v1_final")
    # A tag is readable but is not a branch.
    client.create_tag("frozen", "tester.dev")
    assert client.query("SELECT COUNT(*) AS n FROM titanic", ref="frozen").to_pylist() == [{"n": 6}]
    with pytest.raises(exceptions.NotABranchRefError):
        client.create_namespace("x", branch=client.get_tag("frozen"))


def test_namespaces(client):
    ns = client.create_namespace("Raw_Zone", branch="tester.dev")
    assert isinstance(ns, Namespace) and ns.name == "Raw_Zone"
    assert client.create_namespace(ns, "tester.dev", if_not_exists=True) == ns
    with pytest.raises(exceptions.NamespaceExistsError):
        client.create_namespace("Raw_Zone", "tester.dev")
    assert client.has_namespace("Raw_Zone", ref="tester.dev")
    assert not client.has_namespace("Raw_Zone", ref="main")
    assert client.get_namespace("Raw_Zone", ref=client.get_branch("tester.dev")) == ns
    with pytest.raises(exceptions.NamespaceNotFoundError):
        client.get_namespace("Raw_Zone", ref="main")
    names = client.get_namespaces("tester.dev")
    assert isinstance(names, types.GeneratorType) and "Raw_Zone" in {n.name for n in names}
    assert [n.name for n in client.get_namespaces("tester.dev", filter_by_name="Raw")] == ["Raw_Zone"]
    assert len(list(client.get_namespaces("tester.dev", limit=1))) == 1
    head = client.delete_namespace("Raw_Zone", "tester.dev", commit_body="cleanup")
    assert isinstance(head, Branch) and head.hash == client.get_branch("tester.dev").hash
    assert client.delete_namespace("Raw_Zone", "tester.dev", if_exists=True).name == "tester.dev"
    with pytest.raises(exceptions.NamespaceNotFoundError):
        client.delete_namespace("Raw_Zone", "tester.dev")


def test_tables(client):
    table = client.get_table("titanic", ref="tester.dev", namespace="bauplan")
    assert isinstance(table, Table) and table.fqn == "bauplan.titanic" and table.namespace == "bauplan"
    assert table.records == 6 and table.is_managed() and not table.is_external()
    assert [f.name for f in table.fields] == ["PassengerId", "Name", "Age", "Fare", "Survived"]
    assert all(isinstance(f, TableField) for f in table.fields)
    assert table.metadata_location.endswith(".json") and table.current_snapshot_id is not None
    assert client.get_table("bauplan.titanic", "tester.dev").fields == table.fields
    tables = client.get_tables("tester.dev")
    assert isinstance(tables, types.GeneratorType)
    listed = {t.name: t for t in tables}
    assert set(listed) == {"titanic", "taxi_trips"}
    assert listed["taxi_trips"].records == 8  # details load on first use
    assert "PULocationID" in [f.name for f in listed["taxi_trips"].fields]
    assert [t.name for t in client.get_tables("tester.dev", filter_by_name="^tax")] == ["taxi_trips"]
    assert list(client.get_tables("tester.dev", filter_by_namespace="other")) == []
    assert len(list(client.get_tables("tester.dev", limit=1))) == 1
    assert client.has_table(table, ref="tester.dev") and not client.has_table("titanic", ref="main")
    with pytest.raises(exceptions.TableNotFoundError) as error:
        client.get_table("nope", ref="tester.dev")
    assert error.value.code == 404 and isinstance(error.value, exceptions.ResourceNotFoundError)
    with pytest.raises(exceptions.NamespaceUnresolvedError):
        client.get_table("bauplan.titanic", "tester.dev", namespace="other")
    with pytest.raises(exceptions.RefNotFoundError):
        client.get_table("titanic", ref="no_such_branch")
    client.create_branch("tester.drop", "tester.dev")
    head = client.delete_table(listed["taxi_trips"], branch="tester.drop", commit_body="not needed")
    assert isinstance(head, Branch) and not client.has_table("taxi_trips", "tester.drop")
    assert client.delete_table("taxi_trips", "tester.drop", if_exists=True).name == "tester.drop"
    with pytest.raises(exceptions.TableNotFoundError):
        client.delete_table("taxi_trips", "tester.drop")
    # Revert: bring the table back from the branch it came from.
    branch = client.revert_table(
        "taxi_trips", namespace="bauplan", source_ref="tester.dev", into_branch="tester.drop"
    )
    assert isinstance(branch, Branch) and client.get_table("taxi_trips", "tester.drop").records == 8


def test_commit_body_and_properties_reach_every_commit_they_are_given_to(client):
    note = {"commit_body": "why: ticket 42", "commit_properties": {"ticket": "42", "Team": "Data"}}

    def head():
        commit = next(client.get_commits("tester.notes"))
        assert commit.body == "why: ticket 42" and commit.properties["ticket"] == "42"
        assert commit.properties["Team"] == "Data"
        return commit

    client.create_branch("tester.notes", "tester.dev")
    client.create_namespace("Notes", "tester.notes", **note)
    assert head().subject == "create namespace Notes"
    client.delete_namespace("Notes", "tester.notes", **note)
    assert head().subject == "drop namespace Notes"
    client.delete_table("taxi_trips", "tester.notes", **note)
    assert head().subject == "drop table bauplan.taxi_trips"
    client.revert_table("taxi_trips", source_ref="tester.dev", into_branch="tester.notes", **note)
    assert head().subject.startswith("revert table bauplan.taxi_trips")
    assert head().properties["sluice.operation"] == "revert"  # ours are kept
    # A merge that makes a commit (tester.dev moved too, so no fast-forward).
    client.create_namespace("Moved", "tester.dev")
    client.merge_branch("tester.dev", "tester.notes", commit_message="bring dev in", **note)
    merged = head()
    assert merged.subject == "bring dev in" and "sluice.merge_base" in merged.properties
    # A client cannot write Sluice's own properties, nor bloat the log; nothing is committed.
    before = client.get_branch("tester.notes").hash
    for hostile in ({"sluice.operation": "forged"}, {f"k{i}": "v" for i in range(65)}, {"big": "x" * 70000}):
        with pytest.raises(exceptions.InvalidDataError):
            client.create_namespace("Forged", "tester.notes", commit_properties=hostile)
        with pytest.raises(exceptions.InvalidDataError):
            client.delete_table("titanic", "tester.notes", commit_properties=hostile)
    assert client.get_branch("tester.notes").hash == before


def test_commits(client):
    client.create_namespace("audit", "tester.dev")
    commits = client.get_commits("tester.dev")
    assert isinstance(commits, types.GeneratorType)
    commits = list(commits)
    head = commits[0]
    assert isinstance(head, Commit) and head.ref.hash == client.get_branch("tester.dev").hash
    assert isinstance(head.author, Actor) and head.author.name == "tester"
    assert head.message == "create namespace audit" and head.subject == head.message
    assert head.parent_hashes == [commits[1].ref.hash] and head.authored_date is not None
    assert isinstance(head.properties, dict)
    assert [c.message for c in client.get_commits("tester.dev", limit=1)] == [head.message]
    matched = list(client.get_commits("tester.dev", filter_by_message="^create namespace"))
    assert [c.message for c in matched] == ["create namespace audit"]
    assert list(client.get_commits("tester.dev", filter_by_author_name="^nobody$")) == []
    assert (
        len(
            list(
                client.get_commits(
                    client.get_branch("tester.dev"), filter_by_author_username="tester", limit=2
                )
            )
        )
        == 2
    )
    assert list(client.get_commits("tester.dev", filter_by_parent_hash=commits[1].ref.hash)) == [head]
    # Dates: aware, naive (UTC) or ISO text; an unreadable date is an error, never "no filter".
    since = head.authored_date
    assert list(client.get_commits("tester.dev", filter_by_authored_date_start_at=since)) == [head]
    naive = since.astimezone(datetime.UTC).replace(tzinfo=None)
    assert list(client.get_commits("tester.dev", filter_by_authored_date_start_at=naive)) == [head]
    assert list(client.get_commits("tester.dev", filter_by_authored_date_end_at="2000-01-01")) == []
    for bad in ("yesterday", 12345):
        with pytest.raises(ValueError, match="filter_by_authored_date_start_at"):
            list(client.get_commits("tester.dev", filter_by_authored_date_start_at=bad))
    with pytest.raises(exceptions.RefNotFoundError):
        list(client.get_commits("no_such_branch"))


def test_get_commits_takes_a_cel_filter(client):
    client.create_namespace("audit", "tester.dev", commit_properties={"ticket": "42"})
    commits = list(client.get_commits("tester.dev"))
    head = commits[0]

    def cel(expression, **kwargs):
        return list(client.get_commits("tester.dev", filter=expression, **kwargs))

    assert cel("commit.message.startsWith('create namespace')") == [head]
    assert cel("commit.properties['ticket'] == '42' && commit.authorName == 'tester'") == [head]
    assert cel("commit.message.contains('audit') || commit.message.matches('^never$')") == [head]
    assert cel(f"commit.hash in ['{head.hash}', 'abc']") == [head]
    assert cel("!(commit.properties['ticket'] == '42')") == commits[1:]
    assert cel("commit.authorTime > timestamp('2000-01-01T00:00:00Z')") == commits
    assert cel("commit.authorTime < '2000-01-01T00:00:00Z'") == []
    assert cel("size(commit.parentHashes) >= 1", limit=1) == [head]
    assert cel("commit.subject == 'create namespace audit' ? true : false") == [head]
    # Parsed before anything is asked, evaluated by an interpreter: never code.
    for bad, words in [
        ("commit.message.startsWith(", "expected"),
        ("commit.nope == 1", "no field 'nope'"),
        ("__import__('os').system('true')", "unknown function '__import__'"),
        ("commit.message", "expected a boolean"),
        ("commit.message > 3", "cannot compare"),
        ("exec", "unknown name 'exec'"),
        ("x" * 5000, "at most"),
        ("(" * 100 + "true" + ")" * 100, "nested too deeply"),
        ("commit.message ; true", "unexpected character"),
    ]:
        with pytest.raises(ValueError, match=words):
            list(client.get_commits("tester.dev", filter=bad))


def test_merge(client, sdk_home):
    client.create_branch("tester.side", "tester.dev")
    merged = client.merge_branch("tester.dev", into_branch="main", commit_message="ship titanic")
    assert isinstance(merged, Branch) and merged.name == "main"
    assert merged.hash == client.get_branch("main").hash
    assert client.has_table("titanic", "main")
    # Both sides change the same table: a typed merge conflict, target unchanged.
    client.delete_table("taxi_trips", "tester.side")
    client.create_table("taxi_trips", str(sdk_home.taxi), branch="tester.dev", replace=True)
    before = client.get_branch("tester.dev").hash
    with pytest.raises(exceptions.MergeConflictError) as error:
        client.merge_branch(client.get_branch("tester.side"), "tester.dev")
    assert isinstance(error.value, exceptions.UpdateConflictError) and error.value.code == 409
    assert "taxi_trips" in error.value.message
    assert client.get_branch("tester.dev").hash == before
    with pytest.raises(exceptions.ProtectedBranchError) as error:
        client.import_data("titanic", str(sdk_home.titanic), branch="main")
    assert "protected" in error.value.message and isinstance(error.value, exceptions.ForbiddenError)


def test_query(client, tmp_path):
    sql = "SELECT PassengerId, Age, Fare FROM titanic WHERE Age >= 30 ORDER BY PassengerId"
    table = client.query(sql, ref="tester.dev")
    assert isinstance(table, pa.Table) and table.column_names == ["PassengerId", "Age", "Fare"]
    assert table.column("PassengerId").to_pylist() == [2, 4, 5]
    dev = client.get_branch("tester.dev")
    assert client.query(sql, ref=dev, namespace="bauplan", cache="off").num_rows == 3
    assert client.query(sql, ref="tester.dev", max_rows=2).num_rows == 2
    rows = client.query_to_generator(sql, ref="tester.dev")
    assert isinstance(rows, types.GeneratorType)
    assert next(rows) == {"PassengerId": 2, "Age": 38.0, "Fare": 71.28}
    csv = client.query_to_csv_file(tmp_path / "out.csv", sql, ref="tester.dev")
    assert csv.read_text().splitlines()[0] == '"PassengerId","Age","Fare"'
    out = client.query_to_json_file(str(tmp_path / "out.json"), sql, ref="tester.dev")
    assert json.loads(out.read_text())[0] == {"PassengerId": 2, "Age": 38.0, "Fare": 71.28}
    lines = client.query_to_json_file(
        tmp_path / "out.jsonl", sql, ref="tester.dev", file_format="jsonl", max_rows=1
    )
    assert [json.loads(line) for line in lines.read_text().splitlines()] == [
        {"PassengerId": 2, "Age": 38.0, "Fare": 71.28}
    ]
    parquet = client.query_to_parquet_file(tmp_path / "out.parquet", sql, ref="tester.dev")
    assert pq.read_table(parquet).equals(table)
    with pytest.raises(exceptions.BauplanQueryError):
        client.query("SELECT no_such_column FROM titanic", ref="tester.dev")
    with pytest.raises(exceptions.TableNotFoundError):
        client.query("SELECT * FROM no_such_table", ref="tester.dev")
    with pytest.raises(ValueError):
        client.query_to_json_file(tmp_path / "x", sql, ref="tester.dev", file_format="xml")


def test_scan(client):
    young = client.scan("titanic", ref="tester.dev", columns=["PassengerId", "Name"], filters="Age < 30")
    assert young.column_names == ["PassengerId", "Name"]
    assert sorted(young.column("PassengerId").to_pylist()) == [1, 3]
    trips = client.scan(
        "taxi_trips",
        ref="tester.dev",
        namespace="bauplan",
        filters="PULocationID = 132 AND trip_distance > 5",
        columns=["DOLocationID"],
    )
    assert sorted(trips.column("DOLocationID").to_pylist()) == [138, 236, 237]
    assert client.scan("titanic", ref="tester.dev", columns=["*"]).num_columns == 5
    assert client.scan("titanic", ref="tester.dev", limit=2).num_rows == 2
    table = client.get_table("titanic", "tester.dev")
    assert client.scan(table, ref="tester.dev", filters="Fare > 50").num_rows == 2


NOT_ONE_EXPRESSION = [
    "Age > 1; DROP TABLE titanic",
    "Age > 1) UNION SELECT * FROM taxi_trips WHERE (1 = 1",
    "PassengerId IN (SELECT PULocationID FROM taxi_trips)",
    "Age > 1 /*",
    "Age > 1) LIMIT 1 --",
    "",
    # A comment ends at the newline; the closing parenthesis is on a line of its own.
    "Age > 1 --\n) UNION SELECT * FROM taxi_trips WHERE (1 = 1",
    # Unicode: a line separator is no newline to SQL, a fullwidth parenthesis no parenthesis.
    "Age > 1\u2028) UNION SELECT * FROM taxi_trips --",
    "Age > 1\uff09 UNION SELECT 1",
    # Nested parentheses that close the WHERE and add clauses of the scan's own.
    "((Age > 1)) ) ORDER BY Age --",
    "(Age > 1)) GROUP BY ALL HAVING (true",
    "Age > (SELECT max(PULocationID) FROM taxi_trips)",
    "Age > 1\x00",
]


@pytest.mark.parametrize("bad", NOT_ONE_EXPRESSION)
def test_scan_rejects_a_filter_that_is_not_one_expression(client, bad):
    with pytest.raises(exceptions.InvalidFilterError) as error:
        client.scan("titanic", ref="tester.dev", filters=bad)
    assert isinstance(error.value, exceptions.BadRequestError) and isinstance(error.value, ValueError)
    assert client.get_table("titanic", "tester.dev").records == 6


def test_without_duckdb_the_filter_check_still_refuses(client, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # `import duckdb` fails in this process
    for bad in NOT_ONE_EXPRESSION:
        with pytest.raises(exceptions.InvalidFilterError):
            client.scan("titanic", ref="tester.dev", filters=bad)
    assert client.scan("titanic", ref="tester.dev", filters="Name = 'Braund (x)'").num_rows == 0
    assert client.scan("titanic", ref="tester.dev", filters="(Age < 30) AND (Fare < 10)").num_rows == 2
    assert client.get_table("titanic", "tester.dev").records == 6


def test_a_filter_may_end_in_a_comment(client):
    young = client.scan("titanic", ref="tester.dev", columns=["PassengerId"], filters="Age < 30 -- young")
    assert sorted(young.column("PassengerId").to_pylist()) == [1, 3]


def test_hostile_names_and_arguments(client):
    # A table name with quotes is a name, never SQL.
    with pytest.raises((exceptions.TableNotFoundError, exceptions.BadRequestError)):
        client.scan('titanic" WHERE 1=1; DROP TABLE "titanic', ref="tester.dev")
    with pytest.raises(exceptions.BauplanError):
        client.get_table("ti'tanic\"", ref="tester.dev")
    assert client.get_table("titanic", "tester.dev").records == 6
    # Objects of the wrong type.
    tag = client.create_tag("t1", "tester.dev")
    with pytest.raises(exceptions.NotABranchRefError):
        client.delete_branch(tag)
    with pytest.raises(exceptions.NotABranchRefError):
        client.import_data("titanic", "x.parquet", branch=tag)
    with pytest.raises(exceptions.NotATagRefError):
        client.delete_tag(client.get_branch("tester.dev"))
    with pytest.raises(TypeError):
        client.get_branch(42)
    with pytest.raises(TypeError):
        client.create_branch({"name": "x"}, "main")
    with pytest.raises(ValueError):
        client.create_branch("", "main")
    with pytest.raises(ValueError):
        client.run("/nonexistent", ref="tester.dev", strict="maybe")
    with pytest.raises(ValueError):
        list(client.get_branches(limit=-1))
    with pytest.raises(ValueError):
        client.scan("titanic", ref="tester.dev", columns="Age")
    # Path traversal in a branch name stays a name.
    with pytest.raises(exceptions.BauplanError):
        client.create_branch("../../etc", "main")
    assert {b.name for b in client.get_branches()} == {"main", "tester.dev"}


PROJECT = {
    "models.py": """
        import bauplan

        @bauplan.model(materialization_strategy="REPLACE")
        @bauplan.python("3.11")
        def adults(titanic=bauplan.Model("titanic", columns=["PassengerId", "Age"], filter="Age >= $min_age"),
                   min_age=bauplan.Parameter("min_age")):
            print("adults from", titanic.num_rows)
            return titanic

        @bauplan.expectation()
        @bauplan.python("3.11")
        def everyone_old(data=bauplan.Model("adults")):
            return False
        """,
}
PROJECT_YML = """\
    project:
      id: 00000000-0000-4000-8000-000000000002
      name: sdk_project
    parameters:
      min_age: {type: float, default: 30}
    """


def test_run_takes_bauplans_flags(client, make_project):
    project = make_project(PROJECT, PROJECT_YML)
    # strict="off" is not strict: the failing expectation only warns.
    run = client.run(str(project), ref="tester.dev", strict="off", parameters={"min_age": 36})
    assert isinstance(run, bauplan.RunState) and run.job_status == "SUCCESS", run.error
    assert run.ctx.strict is False and run.ctx.transaction is True and run.ctx.ref == "tester.dev"
    assert run.job_id and run.duration is not None and run.duration_ns > 0
    assert client.query("SELECT PassengerId FROM adults ORDER BY 1", ref="tester.dev").column(
        0
    ).to_pylist() == [2]
    assert any("adults from 1" in e.message and e.model == "adults" for e in run.user_logs)
    assert any("expectation" in e.message and e.level == "WARN" for e in run.user_logs)
    # strict="on" (and strict=True) fails the run on the same expectation; runs do not raise.
    for strict in ("on", True):
        failed = client.run(project, ref="tester.dev", strict=strict)
        assert failed.job_status == "FAILED" and "expectation" in failed.error
        assert failed.ctx.strict is True
    # transaction="off", dry_run, cache="off", preview, namespace, args and priority are accepted.
    dry = client.run(
        str(project),
        ref=client.get_branch("tester.dev"),
        transaction="off",
        dry_run=True,
        cache="off",
        preview="off",
        namespace="bauplan",
        args={"k": "v"},
        priority=5,
    )
    assert dry.job_status == "SUCCESS" and dry.ctx.transaction is False and dry.ctx.dry_run is True
    assert dry.ctx.cache is False
    with pytest.raises(exceptions.NotFoundError):
        client.run(str(project.parent / "missing"), ref="tester.dev")


def test_info(client):
    info = client.info()
    assert isinstance(info, bauplan.InfoState) and info.client_version == bauplan.__version__
    assert info.user.username == "tester" and info.organization is None
    assert len(info.runners) == 1 and info.runners[0].hostname


def test_every_bauplan_method_exists_with_its_keywords():
    """The names and keyword arguments of bauplan's Client (0.2.0-rc.2 stubs)."""
    # method: its parameters after self, in order, as bauplan names them.
    expected = {
        "apply_table_creation_plan": "plan args priority client_timeout",
        "cancel_job": "job_id",
        "create_branch": "branch from_ref if_not_exists",
        "create_external_table_from_metadata": "table metadata_json_uri namespace branch overwrite",
        "create_external_table_from_parquet": (
            "table search_patterns branch namespace overwrite args priority client_timeout detach"
        ),
        "create_namespace": "namespace branch commit_body commit_properties if_not_exists",
        "create_table": (
            "table search_uri branch namespace partitioned_by replace args priority client_timeout"
        ),
        "create_tag": "tag from_ref if_not_exists",
        "delete_branch": "branch if_exists",
        "delete_namespace": "namespace branch if_exists commit_body commit_properties",
        "delete_table": "table branch namespace if_exists commit_body commit_properties",
        "delete_tag": "tag if_exists",
        "get_branch": "branch",
        "get_branches": "name user limit",
        "get_commits": (
            "ref filter_by_message filter_by_author_username filter_by_author_name filter_by_author_email "
            "filter_by_authored_date filter_by_authored_date_start_at filter_by_authored_date_end_at "
            "filter_by_parent_hash filter_by_properties filter limit"
        ),
        "get_job": "job_id",
        "get_job_context": "job include_logs include_snapshot",
        "get_job_contexts": "jobs include_logs include_snapshot",
        "get_job_logs": "job",
        "get_jobs": (
            "all_users filter_by_ids filter_by_users filter_by_kinds filter_by_statuses "
            "filter_by_created_after filter_by_created_before limit"
        ),
        "get_namespace": "namespace ref",
        "get_namespaces": "ref filter_by_name limit",
        "get_table": "table ref namespace",
        "get_tables": "ref filter_by_name filter_by_namespace limit",
        "get_tag": "tag",
        "get_tags": "filter_by_name limit",
        "has_branch": "branch",
        "has_namespace": "namespace ref",
        "has_table": "table ref namespace",
        "has_tag": "tag",
        "import_data": (
            "table search_uri branch namespace continue_on_error import_duplicate_files best_effort preview "
            "args priority client_timeout detach"
        ),
        "info": "client_timeout",
        "merge_branch": "source_ref into_branch commit_message commit_body commit_properties",
        "plan_table_creation": (
            "table search_uri branch namespace partitioned_by replace args priority client_timeout"
        ),
        "query": "query ref max_rows cache namespace args priority client_timeout",
        "query_to_csv_file": "path query ref max_rows cache namespace args priority client_timeout",
        "query_to_generator": "query ref max_rows cache namespace args priority client_timeout",
        "query_to_json_file": (
            "path query file_format ref max_rows cache namespace args priority client_timeout"
        ),
        "query_to_parquet_file": "path query ref max_rows cache namespace args priority client_timeout",
        "rename_branch": "branch new_branch",
        "rename_tag": "tag new_tag",
        "revert_table": "table namespace source_ref into_branch replace commit_body commit_properties",
        "run": (
            "project_dir ref namespace parameters cache transaction dry_run strict preview args priority "
            "client_timeout detach"
        ),
        "scan": "table ref columns filters limit cache namespace args priority client_timeout",
    }
    for method, params in expected.items():
        signature = inspect.signature(getattr(bauplan.Client, method))
        assert list(signature.parameters)[1:] == params.split(), method
    client_params = list(inspect.signature(bauplan.Client).parameters)
    assert client_params[:4] == ["profile", "api_key", "client_timeout", "config_file_path"]


def test_modules_and_exception_hierarchy():
    import bauplan.exceptions as e
    import bauplan.schema
    import bauplan.state

    assert bauplan.schema.Branch is Branch and bauplan.state.RunState is bauplan.RunState
    assert bauplan.state.ImportState is bauplan.state.TableDataImportState
    chain = [
        e.TableNotFoundError,
        e.ResourceNotFoundError,
        e.NotFoundError,
        e.BauplanHTTPError,
        e.BauplanError,
    ]
    assert all(issubclass(a, b) for a, b in zip(chain, chain[1:]))
    chain = [e.BranchExistsError, e.UpdateConflictError, e.ConflictError, e.BauplanHTTPError]
    assert all(issubclass(a, b) for a, b in zip(chain, chain[1:]))
    assert issubclass(e.NotAWriteBranchRefError, e.NotABranchRefError)
    assert issubclass(e.BauplanQueryError, e.BauplanJobError)
    # Sluice's earlier names stay.
    assert e.SluiceError is e.BauplanError and e.InvalidInputError is e.BadRequestError
    assert issubclass(e.BranchExistsError, e.AlreadyExistsError)
    assert issubclass(e.ModelFailedError, e.BauplanError)
    # bauplan's constructor form.
    error = e.BauplanHTTPError(
        404, "TableNotFound", "no table", e.ApiErrorKind.TableNotFound("t", "main", None)
    )
    assert (error.code, error.type, error.message) == (404, "TableNotFound", "no table")
    assert error.kind.table_name == "t"
    match error.kind:
        case e.ApiErrorKind.TableNotFound(name, ref, _):
            assert (name, ref) == ("t", "main")
    assert Ref("main", "abc").type == RefType.DETACHED and RefType.BRANCH == "branch"


def test_one_client_shared_by_threads(client):
    import concurrent.futures

    def work(i):
        name = f"tester.t{i}"
        client.create_branch(name, "tester.dev")
        assert client.get_table("titanic", name).records == 6
        return client.delete_branch(name)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(work, range(8))) == [True] * 8
    assert {b.name for b in client.get_branches()} == {"main", "tester.dev"}
