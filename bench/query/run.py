"""bench/query: `sluice query` against DuckDB on the same Parquet files (the table's own data
files in the warehouse), for a selective filter (one day), a full aggregate and a top-k, on
NYC-taxi-like trips.

- DuckDB cold: a new `python -c` that imports duckdb and runs the query over the files, as a
  user without Sluice would. DuckDB warm: the same query again in that live connection.
- Sluice cold: `sluice query` with no server of the data home running (what the first query
  of the day costs). Sluice warm: `bauplan.Client().query` again and again in one live
  process, against the data home's background server (its DuckDB zygote ready and the owner's
  query worker started), the first call not counted, as for DuckDB warm.

Usage: .venv/bin/python bench/query/run.py [--rows 4000000[,40000000]] [--repeat 5]
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
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from sluice_run import ROOT, SLUICE  # noqa: E402,F401

START = datetime.datetime(2024, 1, 1)
DAYS = 60
FILE_ROWS = 2_000_000

QUERIES = {
    "one day": (
        "SELECT count(*) AS trips, avg(fare_amount) AS fare FROM taxi "
        "WHERE tpep_pickup_datetime >= TIMESTAMP '2024-01-15' "
        "AND tpep_pickup_datetime < TIMESTAMP '2024-01-16'"
    ),
    "aggregate": (
        "SELECT PULocationID, count(*) AS trips, sum(total_amount) AS total FROM taxi "
        "GROUP BY PULocationID ORDER BY PULocationID"
    ),
    "top-k": (
        "SELECT tpep_pickup_datetime, PULocationID, trip_distance FROM taxi "
        "ORDER BY trip_distance DESC LIMIT 10"
    ),
}


def generate(directory, rows):
    """`rows` trips over DAYS days in time order, FILE_ROWS to a file."""
    rng = np.random.default_rng(7)
    span = DAYS * 86_400 * 1_000_000
    base = int(START.timestamp() * 1_000_000)
    files = []
    for i, offset in enumerate(range(0, rows, FILE_ROWS)):
        n = min(FILE_ROWS, rows - offset)
        pickup = base + np.sort(rng.integers(offset * span // rows, (offset + n) * span // rows, n))
        distance = rng.gamma(2.0, 1.5, n).round(2)
        table = pa.table(
            {
                "tpep_pickup_datetime": pa.array(pickup, pa.timestamp("us")),
                "PULocationID": pa.array(rng.integers(1, 266, n), pa.int64()),
                "DOLocationID": pa.array(rng.integers(1, 266, n), pa.int64()),
                "passenger_count": pa.array(rng.integers(1, 5, n), pa.int64()),
                "trip_distance": pa.array(distance),
                "fare_amount": pa.array((3 + distance * 2.5).round(2)),
                "total_amount": pa.array((4 + distance * 3.1).round(2)),
            }
        )
        path = directory / f"trips-{i:03d}.parquet"
        pq.write_table(table, path, row_group_size=256 * 1024)
        files.append(path)
    return files


def sluice(home, *args, check=True):
    env = dict(os.environ, SLUICE_HOME=str(home))
    return subprocess.run([str(SLUICE), *args], env=env, check=check, capture_output=True, text=True)


def timed(argv, env=None):
    start = time.perf_counter()
    subprocess.run(argv, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


# Warm: the query again and again in one live session, the first run not counted.
DUCKDB_SCRIPT = """
import sys, time, duckdb
files, sql, repeat = sys.argv[1].split(","), sys.argv[2], int(sys.argv[3])
con = duckdb.connect()
con.execute("CREATE VIEW taxi AS SELECT * FROM read_parquet(%r)" % files)
times = []
for _ in range(repeat):
    t = time.perf_counter(); con.sql(sql).fetchall(); times.append(time.perf_counter() - t)
print(" ".join(str(t) for t in times[1:]))
"""

SDK_SCRIPT = """
import sys, time, bauplan
sql, repeat = sys.argv[1], int(sys.argv[2])
client = bauplan.Client()
times = []
for _ in range(repeat):
    t = time.perf_counter(); client.query(sql, ref="bench.dev"); times.append(time.perf_counter() - t)
print(" ".join(str(t) for t in times[1:]))
"""


def warm_times(script, *args, env=None):
    out = subprocess.run(
        [sys.executable, "-c", script, *args], env=env, check=True, capture_output=True, text=True
    )
    return [float(t) for t in out.stdout.split()]


def wait_for_query_worker(home, timeout=60):
    """Warm means the server's DuckDB zygote is ready and its query worker started: until then
    the last cold run's server answers with a worker of its own per query."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sluice(home, "query", "SELECT 1")
        status = sluice(home, "-O", "json", "server", "status", check=False)
        if status.returncode == 0 and json.loads(status.stdout).get("query_workers"):
            return
        time.sleep(0.2)


def bench_rows(rows, repeat, scratch):
    data = scratch / f"data-{rows}"
    data.mkdir()
    sources = generate(data, rows)
    home = scratch / f"home-{rows}"
    sluice(home, "checkout", "-b", "bench.dev")
    sluice(home, "table", "create", "taxi", "--search-uri", f"{data}/*.parquet")
    sluice(home, "table", "import", "taxi", "--search-uri", f"{data}/*.parquet")
    for source in sources:
        source.unlink()
    files = sorted(str(p) for p in (home / "warehouse").rglob("*.parquet"))
    size = sum(os.path.getsize(f) for f in files)
    print(f"\n{rows:,} rows, {len(files)} data files, {size / 2**20:.0f} MiB of Parquet")
    print(
        f"{'query':12s} {'duckdb cold':>12s} {'sluice cold':>12s} {'ratio':>6s}   "
        f"{'duckdb warm':>12s} {'sluice warm':>12s} {'ratio':>6s}"
    )
    env = dict(os.environ, SLUICE_HOME=str(home), PATH=f"{SLUICE.parent}:{os.environ.get('PATH', '')}")
    for name, sql in QUERIES.items():
        duck_cold = [
            timed([sys.executable, "-c", DUCKDB_SCRIPT, ",".join(files), sql, "2"]) for _ in range(repeat)
        ]
        sluice_cold = []
        for _ in range(repeat):
            sluice(home, "server", "stop", check=False)
            sluice_cold.append(timed([str(SLUICE), "query", sql, "--ref", "bench.dev"], env))
        duck_warm = warm_times(DUCKDB_SCRIPT, ",".join(files), sql, str(repeat + 1))
        wait_for_query_worker(home)
        sluice_warm = warm_times(SDK_SCRIPT, sql, str(repeat + 1), env=env)
        dc, sc, dw, sw = (statistics.median(x) for x in (duck_cold, sluice_cold, duck_warm, sluice_warm))
        print(f"{name:12s} {dc:11.3f}s {sc:11.3f}s {sc / dc:5.1f}x   {dw:11.3f}s {sw:11.3f}s {sw / dw:5.1f}x")
    sluice(home, "server", "stop", check=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="4000000")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="sluice-bench-query-"))
    try:
        for rows in (int(r) for r in args.rows.split(",")):
            bench_rows(rows, args.repeat, scratch)
    finally:
        for home in scratch.glob("home-*"):
            sluice(home, "server", "stop", check=False)
            # The data home's shared memory outlives its directory: give it back too.
            info = sluice(home, "-O", "json", "info", check=False)
            if info.returncode == 0:
                shutil.rmtree(json.loads(info.stdout)["shared_memory"], ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
