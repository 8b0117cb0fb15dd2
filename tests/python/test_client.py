"""The Python SDK against the embedded store, through the real binary."""

import json
import os
import shutil
import subprocess
import textwrap
import warnings

import pyarrow as pa
import pytest
from worker_harness import ROOT

import sluice
from sluice import exceptions

TAXI = ROOT / "examples" / "taxi"


@pytest.fixture(params=["embedded", "remote"])
def client(request, tmp_path):
    """The same tests against the embedded store and against `sluice serve`."""
    home = tmp_path / "home"
    env = dict(os.environ, SLUICE_HOME=str(home))
    binary = str(ROOT / "build" / "sluice")
    server = None
    if request.param == "remote":
        server = subprocess.Popen(
            [binary, "serve", "--port", "0"], env=env, stdout=subprocess.PIPE, text=True
        )
        uri = server.stdout.readline().split()[5]
        c = sluice.Client(endpoint=uri)
    else:
        c = sluice.Client(home=home)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            c.get_branch("main")
    c.create_branch("dev", from_ref="main")
    c.create_table("taxi_zones", str(TAXI / "data" / "taxi_zones.csv"), branch="dev")
    c.import_data("taxi_zones", str(TAXI / "data" / "taxi_zones.csv"), branch="dev")
    yield c
    c.close()
    if server:
        server.terminate()
        server.wait(timeout=10)
    subprocess.run([binary, "server", "stop"], env=env, capture_output=True)
    info = subprocess.run([binary, "-O", "json", "info"], env=env, capture_output=True, text=True)
    shutil.rmtree(json.loads(info.stdout)["shared_memory"], ignore_errors=True)


def test_catalog_methods(client):
    assert {b.name for b in client.get_branches()} == {"main", "dev"}
    assert client.has_table("taxi_zones", ref="dev") and not client.has_table("taxi_zones", ref="main")
    assert client.get_table("taxi_zones", ref="dev").records == 12
    client.create_tag("v1", from_ref="dev")
    assert [t.name for t in client.get_tags()] == ["v1"]
    client.create_namespace("raw", branch="dev")
    assert "raw" in {n.name for n in client.get_namespaces(ref="dev")}
    assert len(list(client.get_commits("dev", limit=1))) == 1
    client.merge_branch("dev", into_branch="main")
    assert [t.fqn for t in client.get_tables(ref="main")] == ["bauplan.taxi_zones"]


def test_typed_errors(client):
    with pytest.raises(exceptions.NotFoundError):
        client.get_table("nope", ref="dev")
    with pytest.raises(exceptions.AlreadyExistsError):
        client.create_branch("dev", from_ref="main")
    with pytest.raises(exceptions.ConflictError, match="protected"):
        client.create_table("t", str(TAXI / "data" / "taxi_zones.csv"), branch="main")
    client.create_branch("other", from_ref="dev")
    client.delete_table("taxi_zones", branch="other")
    client.import_data(
        "taxi_zones", str(TAXI / "data" / "taxi_zones.csv"), branch="dev", import_duplicate_files=True
    )
    with pytest.raises(exceptions.MergeConflictError) as error:
        client.merge_branch("other", into_branch="dev")
    assert "bauplan.taxi_zones" in error.value.message


def test_query_and_scan_return_arrow(client):
    table = client.query("SELECT zone_id, borough FROM taxi_zones ORDER BY zone_id", ref="dev")
    assert isinstance(table, pa.Table) and table.num_rows == 12
    assert table.schema.field("zone_id").type == pa.int64()
    queens = client.scan("taxi_zones", ref="dev", columns=["zone"], filters="borough = 'Queens'")
    assert queens.column_names == ["zone"] and queens.num_rows == 2


def test_run_returns_a_state_instead_of_raising(client, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "bauplan_project.yml").write_text("project:\n  name: p\n")
    (project / "models.py").write_text(
        textwrap.dedent("""
        import bauplan

        @bauplan.model(materialization_strategy="REPLACE")
        def out(z=bauplan.Model("taxi_zones")):
            return z
        """)
    )
    state = client.run(str(project), ref="dev")
    assert state.job_status == "SUCCESS", state.error
    assert client.has_table("out", ref="dev")
    (project / "models.py").write_text(
        "import bauplan\n\n@bauplan.model()\n"
        "def out(z=bauplan.Model('taxi_zones')):\n    raise RuntimeError('boom')\n"
    )
    failed = client.run(str(project), ref="dev")
    assert failed.job_status == "FAILED" and "boom" in failed.error
    with pytest.raises(exceptions.NotFoundError):
        client.run(str(tmp_path / "missing"), ref="dev")


def test_scan_quotes_every_reserved_word_of_duckdb():
    """The SDK's list of names a scan must quote is DuckDB's own (it changes with DuckDB)."""
    import duckdb

    from sluice.client import _RESERVED, _identifier

    rows = duckdb.sql("SELECT keyword_name FROM duckdb_keywords() WHERE keyword_category = 'reserved'")
    assert _RESERVED == {name for (name,) in rows.fetchall()}
    assert _identifier("Order") == '"Order"' and _identifier("PULocationID") == "PULocationID"
