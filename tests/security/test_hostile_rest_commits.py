"""Hostile Iceberg REST commits (issue 9 §5): a snapshot whose manifest list, manifests or data
files are not this table's own files is refused with 400 before anything is written, and the
table stays readable on every branch. Checked from outside with raw requests."""

import json
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest


@pytest.fixture
def server(lake):
    with lake.serving() as uri:
        yield uri


def metadata_of(lake, table):
    location = lake.json("table", "get", table, "--ref", "dev")["metadata_location"]
    with open(location.removeprefix("file://")) as f:
        return json.load(f)


def commit(server, table, metadata, manifest_list):
    current = metadata["current-snapshot-id"]
    snapshot = {
        "snapshot-id": current + 1,
        "parent-snapshot-id": current,
        "sequence-number": metadata["last-sequence-number"] + 1,
        "timestamp-ms": metadata["last-updated-ms"] + 1,
        "manifest-list": manifest_list,
        "summary": {"operation": "append"},
        "schema-id": metadata["current-schema-id"],
    }
    body = {
        "requirements": [{"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": current}],
        "updates": [
            {"action": "add-snapshot", "snapshot": snapshot},
            {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch", "snapshot-id": current + 1},
        ],
    }
    request = urllib.request.Request(
        f"{server}/v1/dev/namespaces/bauplan/tables/{table}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def manifest_list_of(metadata):
    current = metadata["current-snapshot-id"]
    return next(s["manifest-list"] for s in metadata["snapshots"] if s["snapshot-id"] == current)


def test_a_commit_of_files_that_are_not_the_tables_is_refused(lake, server, tmp_path):
    zones = metadata_of(lake, "taxi_zones")
    location = zones["location"].removeprefix("file://")
    trips_list = manifest_list_of(metadata_of(lake, "taxi_trips"))
    # A manifest list inside the table's folder that is not one, and a link from it to elsewhere.
    garbage = f"{location}/metadata/snap-garbage.avro"
    with open(garbage, "w") as f:
        f.write("not avro at all")
    link = f"{location}/metadata/snap-link.avro"
    (tmp_path / "elsewhere.avro").write_bytes(open(trips_list.removeprefix("file://"), "rb").read())
    subprocess.run(["ln", "-s", str(tmp_path / "elsewhere.avro"), link], check=True)
    head = lake.head("dev")
    for manifest_list, words in [
        ("/etc/passwd", "not a file of this table"),
        ("file:///etc/passwd", "not a file of this table"),
        (f"{location}/../../../../etc/passwd", "not a file of this table"),
        (trips_list, "not a file of this table"),  # another table's (another home's alike)
        (link, "not a file of this table"),
        (garbage, "Avro"),
        (f"{location}/metadata/missing.avro", "does not exist"),
        ("s3://bucket/x.avro", "not a file of this table"),
    ]:
        status, answer = commit(server, "taxi_zones", zones, manifest_list)
        assert status == 400, (manifest_list, answer)
        assert words in answer["error"]["message"], (manifest_list, answer)
    assert lake.head("dev") == head
    assert lake.json("table", "get", "taxi_zones", "--ref", "dev")["records"] == 12
    assert len(lake.query("SELECT * FROM taxi_zones", "dev")) == 12


def test_a_manifest_naming_data_files_outside_the_table_is_refused(lake, server, tmp_path):
    """pyiceberg's add_files writes a real manifest list and manifest naming the files it is
    given: a file outside the table's location (here a copy of its own data, as another data
    home's file would be) is refused by the server, and the table keeps its rows."""
    from pyiceberg.catalog.rest import RestCatalog

    dev = RestCatalog("sluice", uri=server, warehouse="dev")
    zones = dev.load_table("bauplan.taxi_zones")
    foreign = dev.load_table("bauplan.taxi_zones").inspect.files()["file_path"].to_pylist()[0]
    outside = tmp_path / "outside.parquet"
    shutil.copy(foreign.removeprefix("file://"), outside)
    head = lake.head("dev")
    for path in (str(outside), "file://" + str(outside)):
        with pytest.raises(Exception) as error:
            zones.add_files([path])
        assert "not a file of this table" in str(error.value), error.value
        zones = dev.load_table("bauplan.taxi_zones")
    assert lake.head("dev") == head
    assert lake.json("table", "get", "taxi_zones", "--ref", "dev")["records"] == 12
