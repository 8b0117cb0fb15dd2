"""The test S3 server (versitygw, started by `make test` through scripts/test_s3.sh) as the
tests see it: its settings for a `sluice` process, a pyarrow filesystem on it, and taxi-like
Parquet objects to import. Tests skip when SLUICE_TEST_S3_ENDPOINT is not set."""

import os
import urllib.parse

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest


class S3Server:
    def __init__(self, endpoint):
        url = urllib.parse.urlsplit(endpoint)
        self.bucket = url.path.strip("/")
        self.host = f"{url.hostname}:{url.port}"
        self.url = f"{url.scheme}://{self.host}"
        self.key = urllib.parse.unquote(url.username)
        self.secret = urllib.parse.unquote(url.password)
        self.fs = pafs.S3FileSystem(
            access_key=self.key,
            secret_key=self.secret,
            endpoint_override=self.host,
            scheme=url.scheme,
            region="us-east-1",
            allow_bucket_creation=True,
            allow_bucket_deletion=True,
        )

    def env(self, **extra):
        """What a sluice process needs to reach this server with its root credentials."""
        env = dict(
            AWS_ACCESS_KEY_ID=self.key,
            AWS_SECRET_ACCESS_KEY=self.secret,
            AWS_ENDPOINT_URL=self.url,
            AWS_REGION="us-east-1",
        )
        env.update(extra)
        return env

    def objects(self, root):
        """Every object below "bucket/prefix", as keys relative to it."""
        selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
        return sorted(
            i.path[len(root) + 1 :] for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.File
        )


def s3_server():
    endpoint = os.environ.get("SLUICE_TEST_S3_ENDPOINT")
    if not endpoint:
        pytest.skip("SLUICE_TEST_S3_ENDPOINT is not set (make test sets it)")
    return S3Server(endpoint)


def taxi_rows(n, start=0):
    """n taxi trips with the users' mixed-case columns."""
    ids = pa.array(range(start, start + n), pa.int64())
    return pa.table(
        {
            "VendorID": pa.array([i % 2 + 1 for i in range(start, start + n)], pa.int32()),
            "tpep_pickup_datetime": pa.array(
                [1_700_000_000_000_000 + i * 60_000_000 for i in range(start, start + n)],
                pa.timestamp("us"),
            ),
            "PULocationID": pa.array([i % 263 + 1 for i in range(start, start + n)], pa.int32()),
            "trip_miles": pa.array([(i % 40) / 4 for i in range(start, start + n)], pa.float64()),
            "trip_id": ids,
        }
    )


def put_parquet(fs, path, table):
    """Writes `table` as the Parquet object "bucket/key"."""
    pq.write_table(table, path, filesystem=fs)
