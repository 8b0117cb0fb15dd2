"""A data home whose warehouse is an S3 bucket (SLUICE_WAREHOUSE=s3://bucket/prefix): the
bundled example imports, runs and commits there, against a real S3-compatible server
(versitygw, which `make test` starts: scripts/test_s3.sh)."""

import os

import pyarrow.fs as pafs
import pytest
from cli_harness import TAXI, use_s3_warehouse


@pytest.fixture
def s3_lake(sluice):
    """A data home with its warehouse under a fresh prefix of the test bucket, and that
    bucket's filesystem: (sluice, filesystem, "bucket/prefix")."""
    endpoint = os.environ.get("SLUICE_TEST_S3_ENDPOINT")
    if not endpoint:
        pytest.skip("SLUICE_TEST_S3_ENDPOINT is not set (make test sets it)")
    fs, root = use_s3_warehouse(sluice, endpoint, "e2e")
    return sluice, fs, root


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
