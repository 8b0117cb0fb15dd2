"""bench/cache: what a pipeline re-run reads from storage after a change, with the column
cache off and on, on local disk and on S3 (versitygw): the pipeline reads the last weeks of
NYC-taxi-like trips; it is run once, then with its window one week wider, then with one more
column. The goal is bytes from storage equal to the delta (the new week's chunks, the new
column's chunks), computed here from the data files' own Parquet footers.

Usage: .venv/bin/python bench/cache/run.py [--weeks 8] [--rows-per-week 250000] [--storage local,s3]
S3: SLUICE_TEST_S3_ENDPOINT (http://KEY:SECRET@host:port/bucket) when set, else a versitygw
started here (scripts/test_s3.sh, port 57079).
"""

import argparse
import datetime
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from sluice_run import ROOT, SLUICE  # noqa: E402

# The e2e tests' way of pointing a data home at an S3 prefix.
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from cli_harness import use_s3_warehouse  # noqa: E402

START = datetime.datetime(2024, 1, 1)
BASE_COLUMNS = ["PULocationID", "fare_amount"]
FILTER_COLUMN = "tpep_pickup_datetime"
NEW_COLUMN = "trip_miles"
MODEL = """\
import bauplan

@bauplan.model()
@bauplan.python("3.11")
def zone_fares(trips=bauplan.Model("taxi", columns={columns}, filter="tpep_pickup_datetime >= '{since}'")):
    return trips.group_by("PULocationID").aggregate([("fare_amount", "sum")])
"""


def week(n, rows):
    rng = np.random.default_rng(n)
    seconds = np.sort(rng.integers(0, 7 * 86400, rows))
    pickup = np.datetime64(START + datetime.timedelta(weeks=n), "us") + seconds.astype("timedelta64[s]")
    return pa.table(
        {
            "tpep_pickup_datetime": pa.array(pickup),
            "PULocationID": pa.array(rng.integers(1, 265, rows), pa.int64()),
            "DOLocationID": pa.array(rng.integers(1, 265, rows), pa.int64()),
            "passenger_count": pa.array(rng.integers(1, 5, rows), pa.int64()),
            "trip_miles": pa.array(np.round(rng.exponential(3.0, rows), 2)),
            "fare_amount": pa.array(np.round(rng.exponential(15.0, rows), 2)),
            "tip_amount": pa.array(np.round(rng.exponential(2.0, rows), 2)),
            "payment_type": pa.array(rng.choice(["card", "cash", "dispute"], rows)),
        }
    )


def day(n_weeks):
    return (START + datetime.timedelta(weeks=n_weeks)).strftime("%Y-%m-%d")


class Lake:
    def __init__(self, home, env, fs, root):
        self.home, self.env, self.fs, self.root = home, env, fs, root

    def __call__(self, *args):
        return subprocess.run(
            [str(SLUICE), *map(str, args)], env=self.env, check=True, capture_output=True, text=True
        ).stdout

    def run(self, project, columns, since, cache):
        (project / "models.py").write_text(MODEL.format(columns=columns, since=since))
        flags = [] if cache else ["--no-cache"]
        report = json.loads(self("-O", "json", "run", "-p", project, "--ref", "dev", "--dry-run", *flags))
        (scan,) = report["models"][0]["scans"]
        return scan

    def chunk_bytes(self, columns, since=None, until=None):
        """Compressed bytes of `columns` in the row groups with pickups in [since, until)."""
        found = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=True))
        total = 0
        for info in found:
            if not info.path.endswith(".parquet"):
                continue
            with self.fs.open_input_file(info.path) as f:
                meta = pq.ParquetFile(f).metadata
            for rg in range(meta.num_row_groups):
                group = meta.row_group(rg)
                chunks = {group.column(c).path_in_schema: group.column(c) for c in range(group.num_columns)}
                stats = chunks[FILTER_COLUMN].statistics
                if since and stats.max < datetime.datetime.fromisoformat(since):
                    continue
                if until and stats.min >= datetime.datetime.fromisoformat(until):
                    continue
                total += sum(chunks[c].total_compressed_size for c in columns)
        return total


def make_lake(storage, workdir, weeks_dir, weeks, endpoint):
    home = workdir / f"home-{storage}"
    env = dict(os.environ, SLUICE_HOME=str(home), SLUICE_USER="bench")
    env.pop("SLUICE_COLUMN_CACHE_BYTES", None)
    lake = Lake(home, env, pafs.LocalFileSystem(), str(home / "warehouse"))
    if storage == "s3":
        lake.fs, lake.root = use_s3_warehouse(lake, endpoint, "bench-cache")
    lake("checkout", "-b", "dev")
    lake("table", "create", "taxi", "--search-uri", weeks_dir / "week0.parquet")
    for n in range(weeks):
        lake("table", "import", "taxi", "--search-uri", weeks_dir / f"week{n}.parquet")
    return lake


def bench_storage(storage, lake, project, weeks, window, repeat):
    """Per step: (storage, step, scan with the cache off, with it on, delta bytes); scan
    seconds are the median of `repeat` passes over the steps, each pass from an empty cache."""
    since, wider = day(weeks - window), day(weeks - window - 1)
    read = BASE_COLUMNS + [FILTER_COLUMN]
    steps = [
        ("base run", BASE_COLUMNS, since, lake.chunk_bytes(read, since=since)),
        ("window +1 week", BASE_COLUMNS, wider, lake.chunk_bytes(read, since=wider, until=since)),
        ("+1 column", BASE_COLUMNS + [NEW_COLUMN], wider, lake.chunk_bytes([NEW_COLUMN], since=wider)),
        ("same again", BASE_COLUMNS + [NEW_COLUMN], wider, 0),
    ]
    scans = {}
    for _ in range(repeat):
        for cache in (False, True):
            lake("cache", "prune", "--columns")
            for name, columns, window_start, _ in steps:
                scans.setdefault((name, cache), []).append(lake.run(project, columns, window_start, cache))
    rows = []
    for name, _, _, delta in steps:
        off, on = [scans[(name, cache)] for cache in (False, True)]
        for runs in (off, on):
            runs[0]["seconds"] = statistics.median(r["seconds"] for r in runs)
        rows.append((storage, name, off[0], on[0], delta))
    return rows


def megabytes(n):
    return f"{n / 1e6:8.2f} MB"


def start_versitygw():
    env = dict(
        os.environ, SLUICE_TEST_S3_PORT="57079", SLUICE_TEST_S3_DIR=tempfile.mkdtemp(prefix="bench-s3-")
    )
    out = subprocess.run(
        [str(ROOT / "scripts" / "test_s3.sh"), "start"], env=env, check=True, capture_output=True, text=True
    ).stdout
    return out.strip().splitlines()[-1], env


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--window", type=int, default=4, help="weeks the base run reads")
    parser.add_argument("--rows-per-week", type=int, default=250_000)
    parser.add_argument("--storage", default="local,s3")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    storages = args.storage.split(",")
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="sluice-bench-cache-"))
    s3_env = None
    endpoint = os.environ.get("SLUICE_TEST_S3_ENDPOINT")
    try:
        if "s3" in storages and not endpoint:
            endpoint, s3_env = start_versitygw()
        weeks_dir = workdir / "weeks"
        weeks_dir.mkdir()
        for n in range(args.weeks):
            pq.write_table(week(n, args.rows_per_week), weeks_dir / f"week{n}.parquet")
        project = workdir / "project"
        project.mkdir()
        (project / "bauplan_project.yml").write_text(
            textwrap.dedent("""\
                project:
                  id: 00000000-0000-4000-8000-00000000cace
                  name: bench_cache
                """)
        )
        print(
            f"{args.weeks} weeks x {args.rows_per_week:,} trips, one data file per week; the pipeline reads "
            f"the last {args.window} weeks of {BASE_COLUMNS}"
        )
        print(
            f"{'storage':7} {'step':15} {'off: storage':>14} {'on: storage':>14} {'delta':>12} "
            f"{'on/delta':>8} {'from cache':>12} {'scan off':>9} {'scan on':>8} {'speedup':>7}"
        )
        for storage in storages:
            started = time.perf_counter()
            lake = make_lake(storage, workdir, weeks_dir, args.weeks, endpoint)
            for storage_name, name, off, on, delta in bench_storage(
                storage, lake, project, args.weeks, args.window, args.repeat
            ):
                ratio = on["bytes_from_storage"] / delta if delta else on["bytes_from_storage"]
                speedup = off["seconds"] / on["seconds"] if on["seconds"] else float("nan")
                print(
                    f"{storage_name:7} {name:15} {megabytes(off['bytes_from_storage']):>14} "
                    f"{megabytes(on['bytes_from_storage']):>14} {megabytes(delta):>12} {ratio:8.3f} "
                    f"{megabytes(on['bytes_from_cache']):>12} {off['seconds']:8.3f}s {on['seconds']:7.3f}s "
                    f"{speedup:6.1f}x   {', '.join(on['storage_reasons']) or '-'}"
                )
            print(f"  ({storage}: {time.perf_counter() - started:.0f}s including setup)")
            shm = json.loads(lake("-O", "json", "info"))["shared_memory"]
            shutil.rmtree(shm, ignore_errors=True)
        print(
            "on/delta: storage bytes with the cache over the delta; > 1 by the new files' footers "
            "(read once per file, then cached); 'same again': no delta, so the column is the bytes read; "
            f"scan times: median of {args.repeat} passes"
        )
    finally:
        if s3_env:
            subprocess.run([str(ROOT / "scripts" / "test_s3.sh"), "stop"], env=s3_env, capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
