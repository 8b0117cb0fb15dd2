"""`sluice serve` with a real Iceberg client: pyiceberg's REST catalog reads branches, loads
tables, appends through our commit endpoint, and gets 409 for a stale commit."""

import json
import urllib.error
import urllib.request

import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError


@pytest.fixture
def server(lake):
    with lake.serving() as uri:
        yield uri


def catalog(uri, ref):
    return RestCatalog("sluice", uri=uri, warehouse=ref)


def test_pyiceberg_lists_and_reads_a_branch(lake, server):
    dev = catalog(server, "dev")
    assert ("bauplan",) in dev.list_namespaces()
    assert set(dev.list_tables("bauplan")) == {("bauplan", "taxi_trips"), ("bauplan", "taxi_zones")}
    zones = dev.load_table("bauplan.taxi_zones").scan().to_arrow()
    assert zones.num_rows == 12
    assert sorted(zones["borough"].unique().to_pylist()) == [
        "Bronx",
        "Brooklyn",
        "Manhattan",
        "Queens",
        "Staten Island",
    ]
    # main has nothing yet; a tag is readable too.
    with pytest.raises(NoSuchTableError):
        catalog(server, "main").load_table("bauplan.taxi_zones")
    lake("tag", "create", "v1", "--from-ref", "dev")
    assert catalog(server, "v1").load_table("bauplan.taxi_zones").scan().to_arrow().num_rows == 12


def test_pyiceberg_appends_through_our_commit_endpoint(lake, server):
    table = catalog(server, "dev").load_table("bauplan.taxi_zones")
    extra = pa.table({"zone_id": pa.array([99], pa.int64()), "zone": ["Nowhere"], "borough": ["Queens"]})
    table.append(extra)
    assert lake.json("table", "get", "taxi_zones", "--ref", "dev")["records"] == 13
    head = lake.json("commit", "dev", "--max-count", "1")[0]
    assert "iceberg commit to bauplan.taxi_zones" in head["message"]
    assert lake.query("SELECT zone FROM taxi_zones WHERE zone_id = 99", "dev") == [{"zone": "Nowhere"}]


def test_a_stale_commit_gets_409(lake, server):
    stale = catalog(server, "dev").load_table("bauplan.taxi_zones")
    old_snapshot = stale.metadata.current_snapshot_id
    fresh = catalog(server, "dev").load_table("bauplan.taxi_zones")
    row = pa.table({"zone_id": pa.array([100], pa.int64()), "zone": ["X"], "borough": ["Bronx"]})
    fresh.append(row)
    # A raw commit asserting the old snapshot: 409, nothing changes.
    body = json.dumps(
        {
            "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": old_snapshot}],
            "updates": [{"action": "set-properties", "updates": {"k": "v"}}],
        }
    ).encode()
    request = urllib.request.Request(
        f"{server}/v1/dev/namespaces/bauplan/tables/taxi_zones",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request)
    assert error.value.code == 409
    assert json.loads(error.value.read())["error"]["type"] == "CommitFailedException"
    assert lake.json("table", "get", "taxi_zones", "--ref", "dev")["records"] == 13
    # pyiceberg itself refreshes on 409 and retries: the stale handle's append lands too.
    stale.append(row)
    assert lake.json("table", "get", "taxi_zones", "--ref", "dev")["records"] == 14


def test_main_is_protected_over_rest(lake, server):
    main = catalog(server, "main")
    assert main.list_namespaces() == []
    lake("branch", "merge", "dev", "--into-branch", "main")
    assert ("bauplan", "taxi_zones") in main.list_tables("bauplan")
    table = main.load_table("bauplan.taxi_zones")
    with pytest.raises(CommitFailedException):
        table.append(pa.table({"zone_id": pa.array([1], pa.int64()), "zone": ["a"], "borough": ["b"]}))
