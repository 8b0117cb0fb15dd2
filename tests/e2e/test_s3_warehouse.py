"""A data home whose warehouse is an S3 bucket (SLUICE_WAREHOUSE=s3://bucket/prefix): the
bundled example imports, runs and commits there; tables are created and imported from s3://
sources and reference them in place; pyiceberg reads the tables through `sluice serve` with the
FileIO settings its config endpoint hands out; bad storage fails fast and leaves the catalog
on complete files. Against a real S3-compatible server (versitygw, which `make test` starts:
scripts/test_s3.sh)."""

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import time
import uuid

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from cli_harness import SLUICE, TAXI, call
from s3_harness import put_parquet, s3_server, taxi_rows


@pytest.fixture
def s3_lake(sluice):
    """A data home with its warehouse under a fresh prefix of the test bucket, and that
    bucket's filesystem: (sluice, filesystem, "bucket/prefix")."""
    s3 = s3_server()
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    sluice.env.update(s3.env(SLUICE_WAREHOUSE=f"s3://{s3.bucket}/{prefix}"))
    return sluice, s3.fs, f"{s3.bucket}/{prefix}"


def objects(fs, root):
    return sorted(
        i.path[len(root) + 1 :]
        for i in fs.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
        if i.type == pafs.FileType.File
    )


def test_the_example_commits_to_an_s3_warehouse(s3_lake):
    lake, fs, root = s3_lake
    lake("checkout", "-b", "dev")
    lake.load("taxi_trips", TAXI / "data" / "taxi_trips.parquet")
    lake.load("taxi_zones", TAXI / "data" / "taxi_zones.csv")
    lake("run", "--project-dir", TAXI)

    rows = lake.query("SELECT borough, trips FROM borough_stats ORDER BY borough", "dev")
    assert len(rows) == 5 and all(r["trips"] > 0 for r in rows)
    table = lake.json("table", "get", "borough_stats", "--ref", "dev")
    location = table["metadata_location"]
    assert location.startswith(f"s3://{root}/bauplan/borough_stats-"), location

    # Every file of the tables is an object under the prefix; none went to the home's disk.
    stored = objects(fs, root)
    assert location[len(f"s3://{root}/") :] in stored
    assert any(p.startswith("bauplan/borough_stats-") and p.endswith(".parquet") for p in stored)
    assert any(p.startswith("bauplan/taxi_trips-") and p.endswith(".avro") for p in stored)
    assert not [p for p in (lake.home / "warehouse").rglob("*") if p.is_file()]

    # Merging into main and reading there needs nothing local either; the home remembers
    # its warehouse without the variable, and refuses another one.
    lake("branch", "merge", "dev", "--into-branch", "main")
    del lake.env["SLUICE_WAREHOUSE"]
    out = lake("query", "SELECT COUNT(*) AS n FROM borough_stats", "--ref", "main").stdout
    assert "5" in out
    lake.env["SLUICE_WAREHOUSE"] = f"s3://{root}-elsewhere"
    wrong = lake("table", "ls", check=False)
    assert wrong.returncode == 1
    assert f"s3://{root}-elsewhere" in wrong.stderr and f"s3://{root}" in wrong.stderr
    assert "Traceback" not in wrong.stderr and "terminate" not in wrong.stderr


@pytest.fixture(params=["s3-warehouse", "local-warehouse"])
def source_lake(request, sluice):
    """A data home (warehouse on S3 or on local disk) and taxi Parquet objects under
    s3://bucket/PREFIX/raw: (sluice, server, "bucket/PREFIX")."""
    s3 = s3_server()
    root = f"{s3.bucket}/e2e-{uuid.uuid4().hex[:8]}"
    extra = {"SLUICE_WAREHOUSE": f"s3://{root}/warehouse"} if request.param == "s3-warehouse" else {}
    sluice.env.update(s3.env(**extra))
    put_parquet(s3.fs, f"{root}/raw/trips/2024-01.parquet", taxi_rows(1000))
    put_parquet(s3.fs, f"{root}/raw/trips/2024-02.parquet", taxi_rows(500, 1000))
    put_parquet(s3.fs, f"{root}/raw/trips/late/2024-03.parquet", taxi_rows(7, 1500))
    sluice("checkout", "-b", "dev")
    return sluice, s3, root


def test_tables_are_created_and_imported_from_s3(source_lake):
    lake, s3, root = source_lake
    glob = f"s3://{root}/raw/trips/*.parquet"
    # Nothing is read from S3 until the data home's owner allows the prefix.
    refused = lake("table", "create", "trips", "--search-uri", glob, check=False)
    assert refused.returncode == 1 and glob in refused.stderr
    assert "storage.allowed_sources" in refused.stderr and "Traceback" not in refused.stderr
    lake("config", "set", "storage.allowed_sources", f"s3://{root}/raw")
    assert lake("config", "get", "storage.allowed_sources").stdout.strip() == f"s3://{root}/raw"

    created = lake.json("table", "create", "trips", "--search-uri", glob)
    assert created["records"] == 0 if "records" in created else True
    imported = lake.json("table", "import", "trips", "--search-uri", glob)
    assert sorted(imported["files"]) == [
        f"s3://{root}/raw/trips/2024-01.parquet",
        f"s3://{root}/raw/trips/2024-02.parquet",
    ]
    rows = lake.query(
        'SELECT COUNT(*) AS n, SUM("PULocationID") AS s, MAX(tpep_pickup_datetime) AS last FROM trips', "dev"
    )
    expected = taxi_rows(1500)
    assert rows[0]["n"] == 1500 and rows[0]["s"] == pa.compute.sum(expected["PULocationID"]).as_py()
    # The prefix names its own objects, not those below it; both were imported already.
    again = lake.json("table", "import", "trips", "--search-uri", f"s3://{root}/raw/trips/")
    assert not again.get("files") and len(again["skipped"]) == 2
    late = lake.json("table", "import", "trips", "--search-uri", f"s3://{root}/raw/trips/late/*.parquet")
    assert late["files"] == [f"s3://{root}/raw/trips/late/2024-03.parquet"]
    assert lake.query("SELECT COUNT(*) AS n FROM trips", "dev") == [{"n": 1507}]

    # Imported rows are copied into the warehouse: the sources may go.
    table = lake.json("table", "get", "trips", "--ref", "dev")
    if "SLUICE_WAREHOUSE" in lake.env:
        assert table["metadata_location"].startswith(f"s3://{root}/warehouse/")
    else:
        assert table["metadata_location"].startswith(f"file://{lake.home}/warehouse/")

    # A plan with S3 files, applied.
    plan = lake(
        "table", "create-plan", "planned", "--search-uri", glob, "--save-plan", lake.home.parent / "p.yml"
    )
    assert plan.returncode == 0
    text = (lake.home.parent / "p.yml").read_text()
    assert f"s3://{root}/raw/trips/2024-01.parquet" in text
    lake("table", "create-plan-apply", "--plan", lake.home.parent / "p.yml")
    assert "planned" in {t.split(".")[-1] for t in lake.tables("dev")}

    # External: the objects are read where they are.
    lake("table", "create-external", "trips_ext", "--search-pattern", glob)
    ext = lake.json("table", "get", "trips_ext", "--ref", "dev")
    assert ext["kind"] == "EXTERNAL_TABLE" and ext["records"] == 1500
    assert lake.query("SELECT SUM(trip_miles) AS m FROM trips_ext", "dev") == [
        {"m": pa.compute.sum(expected["trip_miles"]).as_py()}
    ]
    s3.fs.delete_file(f"{root}/raw/trips/2024-02.parquet")
    gone = lake("query", "SELECT COUNT(*) FROM trips_ext", "--ref", "dev", check=False)
    assert gone.returncode != 0 and "2024-02.parquet" in gone.stderr
    assert lake.query("SELECT COUNT(*) AS n FROM trips", "dev") == [{"n": 1507}]


def test_an_external_table_from_a_metadata_json_on_s3(sluice, tmp_path):
    """Another data home's table on S3, registered by its metadata.json where the owner
    allowed that prefix; the manifests and data files are read in place."""
    s3 = s3_server()
    root = f"{s3.bucket}/e2e-{uuid.uuid4().hex[:8]}"
    other = type(sluice)(tmp_path / "other-home")
    other.env.update(s3.env(SLUICE_WAREHOUSE=f"s3://{root}/other"))
    other("checkout", "-b", "dev")
    other.load("taxi_trips", TAXI / "data" / "taxi_trips.parquet")
    metadata = other.json("table", "get", "taxi_trips", "--ref", "dev")["metadata_location"]
    assert metadata.startswith(f"s3://{root}/other/")

    sluice.env.update(s3.env(SLUICE_WAREHOUSE=f"s3://{root}/mine"))
    sluice("checkout", "-b", "dev")
    sluice("namespace", "create", "shared")
    refused = sluice("table", "create-external", "shared.trips", "--metadata-json-uri", metadata, check=False)
    assert (
        refused.returncode == 1 and metadata in refused.stderr and "storage.allowed_sources" in refused.stderr
    )
    sluice("config", "set", "storage.allowed_sources", f"s3://{root}/other")
    sluice("table", "create-external", "shared.trips", "--metadata-json-uri", metadata)
    expected = other.query("SELECT COUNT(*) AS n, SUM(fare) AS f FROM taxi_trips", "dev")
    assert sluice.query("SELECT COUNT(*) AS n, SUM(fare) AS f FROM shared.trips", "dev") == expected
    # Access is checked at every read: once the owner withdraws the prefix, the table is not read.
    sluice("config", "set", "storage.allowed_sources", "")
    revoked = sluice("query", "SELECT COUNT(*) FROM shared.trips", "--ref", "dev", check=False)
    assert revoked.returncode == 1 and "storage.allowed_sources" in revoked.stderr
    other.remove_shared_memory()


def test_the_sdk_imports_from_s3(source_lake):
    import sluice as sdk

    lake, s3, root = source_lake
    lake("config", "set", "storage.allowed_sources", f"s3://{root}/raw")
    with lake.serving() as uri:
        client = sdk.Client(endpoint=uri)
        glob = f"s3://{root}/raw/trips/*.parquet"
        client.create_table("sdk_trips", glob, branch="dev")
        state = client.import_data("sdk_trips", glob, branch="dev")
        assert state.error is None
        assert client.get_table("sdk_trips", "dev").records == 1500
        client.create_external_table_from_parquet("sdk_ext", [glob], branch="dev")
        assert client.get_table("sdk_ext", "dev").records == 1500
        with pytest.raises(Exception) as error:
            client.import_data("sdk_trips", f"s3://{s3.bucket}/elsewhere/*.parquet", branch="dev")
        assert "storage.allowed_sources" in str(error.value)


def test_pyiceberg_reads_an_s3_warehouse_through_the_rest_catalog(s3_lake):
    from pyiceberg.catalog.rest import RestCatalog

    lake, fs, root = s3_lake
    lake("checkout", "-b", "dev")
    lake.load("taxi_zones", TAXI / "data" / "taxi_zones.csv")
    clean = dict(lake.env)
    with lake.serving() as uri:
        # The client has no S3 settings of its own: they come from the config endpoint.
        saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
        try:
            table = RestCatalog("sluice", uri=uri, warehouse="dev").load_table("bauplan.taxi_zones")
            assert table.metadata_location.startswith(f"s3://{root}/")
            zones = table.scan().to_arrow()
        finally:
            os.environ.update(saved)
        assert zones.num_rows == 12 and "Queens" in zones["borough"].to_pylist()
        status, config = call(f"{uri}/v1/config?warehouse=dev")
        assert status == 200 and config["defaults"]["s3.endpoint"] == clean["AWS_ENDPOINT_URL"]
        assert config["defaults"]["s3.secret-access-key"] == clean["AWS_SECRET_ACCESS_KEY"]

    # With keys, the server's own secret goes to an admin only; a reader gets where, not how.
    reader = lake("key", "create", "--user", "rita", "--role", "reader").stdout.strip()
    admin = lake("key", "create", "--user", "ada", "--role", "admin").stdout.strip()
    with lake.serving() as uri:
        status, config = call(f"{uri}/v1/config?warehouse=dev", key=reader)
        assert status == 200 and config["defaults"]["s3.endpoint"] == clean["AWS_ENDPOINT_URL"]
        assert (
            "s3.secret-access-key" not in config["defaults"] and "s3.access-key-id" not in config["defaults"]
        )
        assert clean["AWS_SECRET_ACCESS_KEY"] not in json.dumps(config)
        status, config = call(f"{uri}/v1/config?warehouse=dev", key=admin)
        assert config["defaults"]["s3.secret-access-key"] == clean["AWS_SECRET_ACCESS_KEY"]
        assert call(f"{uri}/v1/config?warehouse=dev")[0] == 401


def failing(home, *args):
    """Runs a command that must fail with one clear error; returns (stderr, seconds)."""
    start = time.monotonic()
    out = home(*args, check=False, timeout=60)
    took = time.monotonic() - start
    assert out.returncode == 1, out
    assert "Traceback" not in out.stderr and "terminate" not in out.stderr and out.stderr.startswith("error:")
    return out.stderr, took


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_storage_fails_fast_naming_the_uri(sluice, tmp_path):
    s3 = s3_server()
    source = tmp_path / "trips.parquet"
    pq.write_table(taxi_rows(100), source)
    cases = {
        "wrong credentials": s3.env(AWS_SECRET_ACCESS_KEY="not-the-secret"),
        "a missing bucket": s3.env(),
        "an unreachable endpoint": s3.env(AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}"),
    }
    for i, (case, env) in enumerate(cases.items()):
        home = type(sluice)(tmp_path / f"home-{i}")
        bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}" if case == "a missing bucket" else s3.bucket
        warehouse = f"s3://{bucket}/bad-{uuid.uuid4().hex[:8]}"
        home.env.update(env, SLUICE_WAREHOUSE=warehouse)
        try:
            home("checkout", "-b", "dev")
            error, took = failing(home, "table", "create", "trips", "--search-uri", source)
            assert warehouse in error and "\nhint: " in error, (case, error)
            assert took < 4, (case, took)  # bounded connect timeout and retries (s3_config.h)
            assert home.tables("dev") == set(), case
        finally:
            home.remove_shared_memory()  # a home of its own, which the fixture does not know


VERSITYGW = (
    pathlib.Path(os.environ.get("SLUICE_GO_CACHE", pathlib.Path.home() / ".cache/sluice/go"))
    / "bin/versitygw"
)


class Versitygw:
    """A versitygw of this test's own over `directory`, to kill and start again."""

    def __init__(self, directory):
        self.dir = directory
        self.port = free_port()
        (directory / "data" / "bkt").mkdir(parents=True, exist_ok=True)
        (directory / "meta").mkdir(exist_ok=True)
        self.proc = None

    def start(self):
        env = dict(os.environ, ROOT_ACCESS_KEY="gw-key", ROOT_SECRET_KEY="gw-secret")
        self.proc = subprocess.Popen(
            [
                VERSITYGW,
                "--port",
                f"127.0.0.1:{self.port}",
                "--quiet",
                "posix",
                "--sidecar",
                self.dir / "meta",
                self.dir / "data",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("versitygw did not start")

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def env(self):
        return dict(
            AWS_ACCESS_KEY_ID="gw-key",
            AWS_SECRET_ACCESS_KEY="gw-secret",
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{self.port}",
            AWS_REGION="us-east-1",
        )


@contextlib.contextmanager
def own_gateway_warehouse(sluice, tmp_path):
    """A versitygw of this test's own (to kill mid-command), `sluice`'s warehouse on it and
    branch dev checked out: yields the gateway, killed at the end."""
    if not os.environ.get("SLUICE_TEST_S3_ENDPOINT") or not VERSITYGW.exists():
        pytest.skip("needs versitygw (make test builds it)")
    gw = Versitygw(tmp_path / "gw")
    gw.start()
    try:
        sluice.env.update(gw.env(), SLUICE_WAREHOUSE="s3://bkt/w")
        sluice("checkout", "-b", "dev")
        yield gw
    finally:
        gw.kill()


def interrupted(gw, env, *args):
    """Runs `sluice *args`, kills the gateway as soon as an upload of that command is under
    way, and returns the command's stderr (it must fail)."""
    staging = gw.dir / "data" / "bkt" / ".sgwtmp"
    earlier = set(staging.rglob("*")) if staging.exists() else set()
    proc = subprocess.Popen(
        [str(SLUICE), *map(str, args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if staging.exists() and any(p.is_file() and p not in earlier for p in staging.rglob("*")):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the command ended before its upload could be interrupted"
    gw.kill()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, (out, err)
    assert "Traceback" not in err and "terminate" not in err
    return err


BIG_MODEL = """
import bauplan


@bauplan.model(materialization_strategy="REPLACE")
def big_trips(rows=bauplan.Parameter("rows")):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(3)
    n = int(rows)
    return pa.table({
        "PULocationID": pa.array(rng.integers(1, 264, n, dtype=np.int32)),
        "trip_miles": pa.array(rng.random(n)),
        "trip_id": pa.array(rng.integers(0, 1 << 62, n)),
    })
"""


def test_a_server_that_goes_away_mid_write_leaves_the_tables_as_they_were(sluice, tmp_path, make_project):
    import numpy as np

    with own_gateway_warehouse(sluice, tmp_path) as gw:
        small = tmp_path / "small.parquet"
        pq.write_table(taxi_rows(1000), small)
        sluice.load("trips", small)
        project = make_project(
            {"models.py": BIG_MODEL},
            project_yml="""\
            project:
              id: 00000000-0000-4000-8000-000000000002
              name: big
            parameters:
              rows:
                type: int
                default: 10
            """,
        )
        sluice("run", "-p", project)
        head = sluice.head("dev")

        # An import, its upload under way (random doubles do not compress): killed.
        n = 4_000_000
        rng = np.random.default_rng(7)
        big = pa.table(
            {
                "VendorID": pa.array(np.ones(n, np.int32)),
                "tpep_pickup_datetime": pa.array(np.arange(n, dtype=np.int64), pa.timestamp("us")),
                "PULocationID": pa.array(rng.integers(1, 264, n, dtype=np.int32)),
                "trip_miles": pa.array(rng.random(n)),
                "trip_id": pa.array(rng.integers(0, 1 << 62, n)),
            }
        )
        pq.write_table(big, tmp_path / "big.parquet")
        err = interrupted(
            gw, sluice.env, "table", "import", "trips", "--search-uri", tmp_path / "big.parquet"
        )
        assert "s3://bkt/w/" in err

        # A new server over the same directory: the table is at its previous snapshot, and
        # every file its metadata names is whole. Then a run's write, killed the same way.
        gw.start()
        assert sluice.head("dev") == head
        assert sluice.query("SELECT COUNT(*) AS n FROM trips", "dev") == [{"n": 1000}]
        err = interrupted(gw, sluice.env, "run", "-p", project, "--param", "rows=4000000")
        assert "s3://bkt/w/" in err and "big_trips" in err

        gw.start()
        assert sluice.head("dev") == head
        assert sluice.query("SELECT COUNT(*) AS n FROM big_trips", "dev") == [{"n": 10}]
        assert sluice.json("table", "get", "trips", "--ref", "dev")["records"] == 1000
