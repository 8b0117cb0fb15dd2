"""bench/s3: reading a 10 M-row taxi-like table from Parquet on S3 (versitygw on loopback),
from Parquet on local disk, and from Arrow IPC in memory (/dev/shm), side by side; the seed's
comparison reproduced here. Two levels:

- raw reads with pyarrow (the floor each storage allows): pq.read_table over Arrow's S3
  filesystem, pq.read_table of the local files, and an IPC file memory-mapped from /dev/shm;
- through Sluice: the same table imported into a data home whose warehouse is on S3 and into
  one on local disk, then one `sluice query` aggregating every column (a cold process each time,
  so it includes start-up, the scan of every data file and DuckDB).

versitygw stores objects on this machine's disk, so "S3" here is the protocol's cost (HTTP,
signing, multipart reads, a gateway) without a network; the page cache is warm for all three.

Usage: .venv/bin/python bench/s3/run.py [--rows 10000000] [--repeat 3]
"""

import argparse
import json
import math
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = ROOT / "build" / "sluice"
FILES = 10

QUERY = (
    'SELECT COUNT(*) AS n, SUM("VendorID") AS v, SUM("PULocationID") AS pu, SUM("DOLocationID") AS do_,'
    " SUM(trip_miles) AS miles, SUM(fare_amount) AS fare, MAX(tpep_pickup_datetime) AS last FROM trips"
)


def taxi(rows, seed):
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "VendorID": pa.array(rng.integers(1, 3, rows, dtype=np.int32)),
            "tpep_pickup_datetime": pa.array(
                1_704_067_200_000_000 + np.sort(rng.integers(0, 31 * 86_400_000_000, rows)),
                pa.timestamp("us"),
            ),
            "PULocationID": pa.array(rng.integers(1, 264, rows, dtype=np.int32)),
            "DOLocationID": pa.array(rng.integers(1, 264, rows, dtype=np.int32)),
            "trip_miles": pa.array(np.round(rng.exponential(3.0, rows), 2)),
            "fare_amount": pa.array(np.round(rng.exponential(15.0, rows), 2)),
        }
    )


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3:
    """versitygw for the bench (scripts/test_s3.sh), stopped at exit."""

    def __init__(self, directory):
        self.env = dict(os.environ, SLUICE_TEST_S3_PORT=str(free_port()), SLUICE_TEST_S3_DIR=str(directory))
        out = subprocess.run(
            [ROOT / "scripts" / "test_s3.sh", "start"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        url = urllib.parse.urlsplit(out.stdout.strip())
        self.bucket = url.path.strip("/")
        self.sluice_env = {
            "AWS_ACCESS_KEY_ID": url.username,
            "AWS_SECRET_ACCESS_KEY": url.password,
            "AWS_ENDPOINT_URL": f"{url.scheme}://{url.hostname}:{url.port}",
            "AWS_REGION": "us-east-1",
        }
        self.fs = pafs.S3FileSystem(
            access_key=url.username,
            secret_key=url.password,
            endpoint_override=f"{url.hostname}:{url.port}",
            scheme=url.scheme,
            region="us-east-1",
        )

    def stop(self):
        subprocess.run([ROOT / "scripts" / "test_s3.sh", "stop"], env=self.env, check=False)


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.monotonic()
        fn()
        times.append(time.monotonic() - start)
    return min(times)


def sluice(env, *args):
    return subprocess.run([str(SLUICE), *map(str, args)], env=env, capture_output=True, text=True, check=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    per_file = args.rows // FILES
    work = pathlib.Path(tempfile.mkdtemp(prefix="sluice-bench-s3-"))
    shm = pathlib.Path(tempfile.mkdtemp(prefix="sluice-bench-s3-", dir="/dev/shm"))
    s3 = S3(work / "versitygw")
    homes = []
    try:
        # The data: FILES Parquet files locally and the same objects on S3, and one IPC file in memory.
        local = work / "parquet"
        local.mkdir()
        for i in range(FILES):
            part = taxi(per_file, i)
            pq.write_table(part, local / f"part-{i:02d}.parquet")
            pq.write_table(part, f"{s3.bucket}/raw/part-{i:02d}.parquet", filesystem=s3.fs)
        table = pq.read_table(local)
        with ipc.new_file(shm / "trips.arrow", table.schema) as writer:
            writer.write_table(table)
        mb = table.nbytes / 2**20
        del table

        def read_s3():
            assert pq.read_table(f"{s3.bucket}/raw", filesystem=s3.fs).num_rows == args.rows

        def read_local():
            assert pq.read_table(local).num_rows == args.rows

        def read_ipc():
            with pa.memory_map(str(shm / "trips.arrow")) as source:
                t = ipc.open_file(source).read_all()
                assert t.num_rows == args.rows
                pa.compute.sum(t["fare_amount"])  # touch the data, as a reader would

        raw = {
            "s3": best(read_s3, args.repeat),
            "local": best(read_local, args.repeat),
            "ipc": best(read_ipc, args.repeat),
        }

        # Through Sluice: one data home per warehouse, the same import, the same query.
        through = {}
        imported = {}
        answers = {}
        for name, extra in (("s3", {"SLUICE_WAREHOUSE": f"s3://{s3.bucket}/warehouse"}), ("local", {})):
            home = work / f"home-{name}"
            homes.append(home)
            env = dict(os.environ, SLUICE_HOME=str(home), SLUICE_USER="bench", **s3.sluice_env, **extra)
            sluice(env, "checkout", "-b", "bench.dev")
            sluice(env, "table", "create", "trips", "--search-uri", local)
            start = time.monotonic()
            sluice(env, "table", "import", "trips", "--search-uri", local)
            imported[name] = time.monotonic() - start
            through[name] = best(
                lambda env=env: sluice(env, "query", QUERY, "--ref", "bench.dev"), args.repeat
            )
            answers[name] = json.loads(sluice(env, "-O", "json", "query", QUERY, "--ref", "bench.dev").stdout)
        # The same rows from both (float sums only up to the order of addition).
        for key, value in answers["s3"][0].items():
            other = answers["local"][0][key]
            assert value == other or math.isclose(value, other, rel_tol=1e-9), (key, value, other)

        print(f"{args.rows:,} rows, {mb:,.0f} MiB in memory, {FILES} Parquet files; best of {args.repeat}")
        header = ["S3 (versitygw)", "local disk", "IPC in memory", "S3/local", "local/IPC"]
        print(f"{'':30}" + "".join(f"{h:>15}" for h in header))
        rows = [
            ("pyarrow read_table", raw["s3"], raw["local"], raw["ipc"]),
            ("sluice query (all columns)", through["s3"], through["local"], None),
            ("sluice table import (write)", imported["s3"], imported["local"], None),
        ]
        for label, on_s3, on_disk, in_memory in rows:
            cells = [f"{on_s3:.2f}s", f"{on_disk:.2f}s", "" if in_memory is None else f"{in_memory:.3f}s"]
            cells += [f"{on_s3 / on_disk:.1f}x", "" if in_memory is None else f"{on_disk / in_memory:.1f}x"]
            print(f"{label:30}" + "".join(f"{c:>15}" for c in cells))
        ratio_s3, ratio_local = through["s3"] / raw["s3"], through["local"] / raw["local"]
        print(f"sluice query over pyarrow's read: S3 {ratio_s3:.1f}x, local disk {ratio_local:.1f}x")
    finally:
        for home in homes:
            info = subprocess.run(
                [str(SLUICE), "-O", "json", "info"],
                env=dict(os.environ, SLUICE_HOME=str(home)),
                capture_output=True,
                text=True,
            )
            if info.returncode == 0:
                shutil.rmtree(json.loads(info.stdout)["shared_memory"], ignore_errors=True)
        s3.stop()
        shutil.rmtree(shm, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
