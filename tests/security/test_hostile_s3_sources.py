"""A client naming s3:// locations the data home's owner did not allow: the server reads
sources with its own S3 credentials, so every such location is refused before anything is
read, with one error naming it, and nothing is written (no commit, no object). Against the
real S3 server of the tests (versitygw; skipped without SLUICE_TEST_S3_ENDPOINT)."""

import json
import uuid

import pytest
from s3_harness import put_parquet, s3_server, taxi_rows


@pytest.fixture
def hostile(sluice, tmp_path):
    """Home A (warehouse s3://bucket/ROOT/home-a, sources allowed under ROOT/raw), home B beside
    it in the same bucket with a table, and a second bucket with a secret."""
    s3 = s3_server()
    root = f"{s3.bucket}/sec-{uuid.uuid4().hex[:8]}"
    other_bucket = "sluice-other-" + uuid.uuid4().hex[:8]
    s3.fs.create_dir(other_bucket)
    put_parquet(s3.fs, f"{other_bucket}/secret.parquet", taxi_rows(5))
    put_parquet(s3.fs, f"{root}/raw/trips.parquet", taxi_rows(10))

    home_b = type(sluice)(tmp_path / "home-b")
    home_b.env.update(s3.env(SLUICE_WAREHOUSE=f"s3://{root}/home-b"))
    home_b("checkout", "-b", "dev")
    home_b("config", "set", "storage.allowed_sources", f"s3://{root}/raw")
    home_b.load("trips", f"s3://{root}/raw/trips.parquet")
    b_metadata = home_b.json("table", "get", "trips", "--ref", "dev")["metadata_location"]

    sluice.env.update(s3.env(SLUICE_WAREHOUSE=f"s3://{root}/home-a"))
    sluice("checkout", "-b", "dev")
    sluice("config", "set", "storage.allowed_sources", f"s3://{root}/raw")
    sluice.load("trips", f"s3://{root}/raw/trips.parquet")
    yield sluice, s3, root, other_bucket, b_metadata
    home_b.remove_shared_memory()
    s3.fs.delete_dir(other_bucket)


def refused(home, *args, name):
    """Runs a command that must fail with one clear error naming `name`; returns stderr."""
    out = home(*args, check=False)
    assert out.returncode == 1, out
    assert name in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "terminate" not in out.stderr
    return out.stderr


def test_locations_outside_the_allowed_prefixes_are_refused(hostile):
    lake, s3, root, other_bucket, b_metadata = hostile
    head = lake.head("dev")
    warehouse_before = s3.objects(f"{root}/home-a")
    b_location = b_metadata.rsplit("/metadata/", 1)[0]
    b_data = [f"s3://{root}/home-b/{k}" for k in s3.objects(f"{root}/home-b") if k.endswith(".parquet")][0]
    attempts = [
        f"s3://{other_bucket}/secret.parquet",  # another bucket
        f"s3://{other_bucket}/*.parquet",
        f"s3://{root}/home-b/",  # another data home's warehouse in the same bucket
        b_data,
        f"s3://{root}/raw/../home-b/*.parquet",  # '..' segments
        f"s3://{root}/raw/%2e%2e/home-b/*.parquet",  # percent-encoded tricks
        f"s3://{root}/raw%2f..%2fhome-b/*.parquet",
        f"s3://{root}/raw-not-really/trips.parquet",  # a prefix of the name, not of the path
    ]
    for uri in attempts:
        for command in (
            ("table", "create", "stolen", "--search-uri", uri),
            ("table", "import", "trips", "--search-uri", uri),
            ("table", "create-external", "stolen_ext", "--search-pattern", uri),
        ):
            refused(lake, *command, name=uri)
    refused(lake, "table", "create-external", "bauplan.b", "--metadata-json-uri", b_metadata, name=b_metadata)

    # The home's own warehouse is never a source, even when a prefix above it is allowed.
    lake("config", "set", "storage.allowed_sources", f"s3://{root}")
    own = lake.json("table", "get", "trips", "--ref", "dev")["metadata_location"].rsplit("/metadata/", 1)[0]
    error = refused(lake, "table", "import", "trips", "--search-uri", f"{own}/data/*.parquet", name=own)
    assert "warehouse" in error
    # A setting that is not an s3:// prefix is refused as such.
    for bad in ("/etc", "s3://", "s3://b/%2e%2e", "s3://b/x/*", "http://example.com/x"):
        refused(lake, "config", "set", "storage.allowed_sources", bad, name=bad)
    assert lake("config", "get", "storage.allowed_sources").stdout.strip() == f"s3://{root}"

    # Nothing was written: no commit, no object in the warehouse.
    assert lake.head("dev") == head
    assert s3.objects(f"{root}/home-a") == warehouse_before
    assert b_location.startswith(f"s3://{root}/home-b/")


def test_a_metadata_file_whose_manifests_lie_outside_is_refused(hostile):
    """The metadata.json is in an allowed place, but names files elsewhere: refused before
    those are read."""
    lake, s3, root, other_bucket, b_metadata = hostile
    head = lake.head("dev")
    lake("namespace", "create", "ext")
    with s3.fs.open_input_stream(b_metadata[len("s3://") :]) as f:
        metadata = json.loads(f.read())
    evil = f"{root}/raw/evil"

    def register(version, name):
        """Writes `metadata` as version N under the evil prefix; registering it must fail."""
        key = f"{evil}/metadata/v{version}.metadata.json"
        with s3.fs.open_output_stream(key) as f:
            f.write(json.dumps(metadata).encode())
        uri = f"s3://{key}"
        return refused(
            lake, "table", "create-external", f"ext.t{version}", "--metadata-json-uri", uri, name=name
        )

    # 1. Its location claims the allowed place; the manifest list is home B's.
    metadata["location"] = f"s3://{evil}"
    assert "home-b" in register(1, "manifest list")

    # 2. The manifest list copied in too: the manifests it names are still home B's.
    snapshot = next(s for s in metadata["snapshots"] if s["snapshot-id"] == metadata["current-snapshot-id"])
    original_list = snapshot["manifest-list"]
    copied_list = f"{evil}/metadata/{original_list.rsplit('/', 1)[1]}"
    s3.fs.copy_file(original_list[len("s3://") :], copied_list)
    snapshot["manifest-list"] = f"s3://{copied_list}"
    assert "home-b" in register(2, "manifest")

    # 3. A location outside every allowed prefix: its own files are not readable either.
    metadata["location"] = f"s3://{other_bucket}"
    snapshot["manifest-list"] = original_list
    register(3, "manifest list")
    assert lake.head("dev") != head  # the namespace only
    assert {t for t in lake.tables("dev")} == {"bauplan.trips"}


def test_a_remote_client_is_refused_by_the_server(hostile):
    lake, s3, root, other_bucket, _ = hostile
    with lake.serving() as uri:
        error = refused(
            lake,
            "--endpoint",
            uri,
            "table",
            "import",
            "trips",
            "--search-uri",
            f"s3://{other_bucket}/secret.parquet",
            name=f"s3://{other_bucket}/secret.parquet",
        )
        assert "storage.allowed_sources" in error
        # The setting is the local home's: a remote `config set` cannot widen it.
        assert lake("config", "get", "storage.allowed_sources").stdout.strip() == f"s3://{root}/raw"


def test_a_metadata_file_rewritten_after_registration_is_refused_at_read(hostile):
    """The table was registered from an honest metadata.json under an allowed prefix; the
    user then rewrites it to name another home's manifest list. Reads check again."""
    lake, s3, root, other_bucket, b_metadata = hostile
    lake("namespace", "create", "ext")
    honest = f"{root}/raw/honest"
    with s3.fs.open_input_stream(b_metadata[len("s3://") :]) as f:
        metadata = json.loads(f.read())
    snapshot = next(s for s in metadata["snapshots"] if s["snapshot-id"] == metadata["current-snapshot-id"])
    original_list = snapshot["manifest-list"]
    # An honest copy: every file of the table under its own (allowed) location. Manifests
    # name their data files, so this one is empty (no snapshot) to stay honest.
    metadata["location"] = f"s3://{honest}"
    kept = dict(metadata)
    kept["current-snapshot-id"] = None
    kept["snapshots"] = []
    kept["snapshot-log"] = []
    kept["refs"] = {}
    with s3.fs.open_output_stream(f"{honest}/metadata/v1.metadata.json") as f:
        f.write(json.dumps(kept).encode())
    lake(
        "table", "create-external", "ext.t", "--metadata-json-uri", f"s3://{honest}/metadata/v1.metadata.json"
    )
    assert lake.query("SELECT COUNT(*) AS n FROM ext.t", "dev") == [{"n": 0}]

    # Rewritten in place to name home B's manifest list.
    snapshot["manifest-list"] = original_list
    with s3.fs.open_output_stream(f"{honest}/metadata/v1.metadata.json") as f:
        f.write(json.dumps(metadata).encode())
    error = refused(lake, "query", "SELECT COUNT(*) FROM ext.t", "--ref", "dev", name="manifest list")
    assert "home-b" in error


def test_a_rest_commit_naming_objects_outside_the_table_is_refused(hostile):
    """An Iceberg REST commit to a table of an S3 warehouse whose manifest list is another
    table's, another home's or another bucket's object: 400 before anything is read or written."""
    from test_hostile_rest_commits import commit

    lake, s3, root, other_bucket, b_metadata = hostile
    location = lake.json("table", "get", "trips", "--ref", "dev")["metadata_location"]
    with s3.fs.open_input_stream(location[len("s3://") :]) as f:
        metadata = json.loads(f.read())
    with s3.fs.open_input_stream(b_metadata[len("s3://") :]) as f:
        b_list = next(s["manifest-list"] for s in json.loads(f.read())["snapshots"])
    s3.fs.copy_file(b_list[len("s3://") :], f"{other_bucket}/list.avro")
    own = metadata["location"]
    head = lake.head("dev")
    before = s3.objects(f"{root}/home-a")
    with lake.serving() as uri:
        for manifest_list in (
            b_list,  # another data home's, same bucket
            f"s3://{other_bucket}/list.avro",  # another bucket
            f"{own}-other/metadata/list.avro",  # a longer name beside the table's
            f"{own}/metadata/../../../home-b/x.avro",
            "file:///etc/passwd",
        ):
            status, answer = commit(uri, "trips", metadata, manifest_list)
            assert status == 400, (manifest_list, answer)
            assert "not a file of this table" in answer["error"]["message"], answer
    assert lake.head("dev") == head
    assert s3.objects(f"{root}/home-a") == before
