"""bench/query: `sluice query` against DuckDB on the same Parquet files (the table's own data
files in the warehouse), for a selective filter (one day), a full aggregate and a top-k, on
NYC-taxi-like trips.

- DuckDB cold: a new `python -c` that imports duckdb and runs the query over the files, as a
  user without Sluice would. DuckDB warm: the same query again in that live connection.
- Sluice cold: `sluice query` with no server of the data home running (what the first query
  of the day costs). Sluice warm: `bauplan.Client().query` again and again in one live
  process, against the data home's background server (its DuckDB zygote ready and the owner's
  query worker started), the first call not counted, as for DuckDB warm.

With --s3, the warehouse is on an S3 server (versitygw, started and stopped here as the tests
do: scripts/test_s3.sh), and Sluice's query (its scan streamed into DuckDB, issue 10 §4) is
compared with what a user would do without Sluice: a pyarrow.dataset over the same Parquet
objects on the same server (pyarrow.fs.S3FileSystem), registered with DuckDB, which pushes the
query's columns and filter into it. Both in live processes, every byte from S3 (Sluice with
`cache=False`), the first run counted too; Sluice with its column cache as well. It prints the
engine's peak resident memory (the server's VmHWM, a server started per query) and the
machine's peak used memory meanwhile; `--sluice PATH` runs another build (before/after).

Usage: .venv/bin/python bench/query/run.py [--rows 4000000[,40000000]] [--repeat 5]
       .venv/bin/python bench/query/run.py --s3 [--rows 4000000] [--sluice build/sluice]
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
import sluice_run  # noqa: E402
from sluice_run import ROOT, PeakMemory  # noqa: E402

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


def sluice(home, *args, check=True, env=None):
    env = dict(env or os.environ, SLUICE_HOME=str(home))
    return subprocess.run(
        [str(sluice_run.SLUICE), *args], env=env, check=check, capture_output=True, text=True
    )


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


def wait_for_query_worker(home, timeout=60, env=None):
    """Warm means the server's DuckDB zygote is ready and its query worker started: until then
    the last cold run's server answers with a worker of its own per query."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sluice(home, "query", "SELECT 1", env=env)
        status = sluice(home, "-O", "json", "server", "status", check=False, env=env)
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
    env = dict(
        os.environ,
        SLUICE_HOME=str(home),
        PATH=f"{sluice_run.SLUICE.parent}:{os.environ.get('PATH', '')}",
        SLUICE_BINARY=str(sluice_run.SLUICE),
    )
    for name, sql in QUERIES.items():
        duck_cold = [
            timed([sys.executable, "-c", DUCKDB_SCRIPT, ",".join(files), sql, "2"]) for _ in range(repeat)
        ]
        sluice_cold = []
        for _ in range(repeat):
            sluice(home, "server", "stop", check=False)
            sluice_cold.append(timed([str(sluice_run.SLUICE), "query", sql, "--ref", "bench.dev"], env))
        duck_warm = warm_times(DUCKDB_SCRIPT, ",".join(files), sql, str(repeat + 1))
        wait_for_query_worker(home)
        sluice_warm = warm_times(SDK_SCRIPT, sql, str(repeat + 1), env=env)
        dc, sc, dw, sw = (statistics.median(x) for x in (duck_cold, sluice_cold, duck_warm, sluice_warm))
        print(f"{name:12s} {dc:11.3f}s {sc:11.3f}s {sc / dc:5.1f}x   {dw:11.3f}s {sw:11.3f}s {sw / dw:5.1f}x")
    sluice(home, "server", "stop", check=False)


# Without Sluice: DuckDB over a pyarrow.dataset of the table's objects on the S3 server; DuckDB
# pushes the query's projection and filter into the dataset's scan.
PYARROW_S3_SCRIPT = """
import json, resource, sys, time, duckdb, pyarrow.dataset as ds, pyarrow.fs as fs
endpoint, files, sql, repeat = json.loads(sys.argv[1]), sys.argv[2].split(","), sys.argv[3], int(sys.argv[4])
s3 = fs.S3FileSystem(access_key=endpoint["key"], secret_key=endpoint["secret"], scheme="http",
                     endpoint_override=endpoint["host"], region="us-east-1")
times = []
for _ in range(repeat):
    t = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.register("taxi", ds.dataset(files, filesystem=s3, format="parquet"))
    con.sql(sql).fetchall()
    times.append(time.perf_counter() - t)
    con.close()
print(json.dumps({"times": times, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

SDK_S3_SCRIPT = """
import json, sys, time, bauplan
sql, repeat, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "on"
client = bauplan.Client()
times = []
for _ in range(repeat):
    t = time.perf_counter()
    client.query(sql, ref="bench.dev", cache=cache)
    times.append(time.perf_counter() - t)
print(json.dumps(times))
"""


class S3Server:
    """versitygw through scripts/test_s3.sh, in a directory and on a port of its own."""

    def __init__(self, scratch):
        self.env = dict(os.environ, SLUICE_TEST_S3_DIR=str(scratch / "s3"), SLUICE_TEST_S3_PORT="57183")

    def __enter__(self):
        import urllib.parse

        url = subprocess.run(
            [str(ROOT / "scripts" / "test_s3.sh"), "start"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        parts = urllib.parse.urlsplit(url)
        self.endpoint = {
            "key": urllib.parse.unquote(parts.username),
            "secret": urllib.parse.unquote(parts.password),
            "host": f"{parts.hostname}:{parts.port}",
        }
        self.bucket = parts.path.strip("/")
        self.aws = dict(
            AWS_ACCESS_KEY_ID=self.endpoint["key"],
            AWS_SECRET_ACCESS_KEY=self.endpoint["secret"],
            AWS_ENDPOINT_URL=f"http://{self.endpoint['host']}",
            AWS_REGION="us-east-1",
        )
        return self

    def __exit__(self, *exc):
        subprocess.run([str(ROOT / "scripts" / "test_s3.sh"), "stop"], env=self.env, check=False)

    def parquet_objects(self, prefix):
        import pyarrow.fs as pafs

        s3 = pafs.S3FileSystem(
            access_key=self.endpoint["key"],
            secret_key=self.endpoint["secret"],
            scheme="http",
            endpoint_override=self.endpoint["host"],
            region="us-east-1",
        )
        infos = s3.get_file_info(pafs.FileSelector(f"{self.bucket}/{prefix}", recursive=True))
        return sorted((i.path, i.size) for i in infos if i.path.endswith(".parquet"))


def last_json(text):
    """The JSON a bench script printed last (DuckDB may print a progress bar before it)."""
    return json.loads(text.strip().splitlines()[-1])


def server_peak(home, env):
    """The data home's server's peak resident memory (VmHWM), bytes."""
    pid = json.loads(sluice(home, "-O", "json", "server", "status", env=env).stdout)["pid"]
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def bench_s3(rows, repeat, scratch):
    data = scratch / f"data-{rows}"
    data.mkdir()
    sources = generate(data, rows)
    with S3Server(scratch) as s3:
        prefix = f"bench-{rows}"
        env = dict(os.environ, **s3.aws, SLUICE_WAREHOUSE=f"s3://{s3.bucket}/{prefix}")
        home = scratch / f"home-{rows}"
        sluice(home, "checkout", "-b", "bench.dev", env=env)
        sluice(home, "table", "create", "taxi", "--search-uri", f"{data}/*.parquet", env=env)
        sluice(home, "table", "import", "taxi", "--search-uri", f"{data}/*.parquet", env=env)
        for source in sources:
            source.unlink()
        objects = s3.parquet_objects(prefix)
        files = [path for path, _ in objects]
        size = sum(size for _, size in objects)
        print(
            f"\n{rows:,} rows on S3 (versitygw), {len(files)} data files, {size / 2**20:.0f} MiB of Parquet"
        )
        print(f"sluice: {sluice_run.SLUICE}; times are medians of {repeat} (first run counted)")
        print(
            f"{'query':10s} {'pyarrow+duckdb':>15s} {'sluice':>8s} {'ratio':>6s} {'sluice cached':>14s}   "
            f"{'engine peak':>11s} {'machine peak':>12s} {'pyarrow peak':>12s}"
        )
        sdk_env = dict(env, SLUICE_HOME=str(home), SLUICE_BINARY=str(sluice_run.SLUICE))
        for name, sql in QUERIES.items():
            base = last_json(
                subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        PYARROW_S3_SCRIPT,
                        json.dumps(s3.endpoint),
                        ",".join(files),
                        sql,
                        str(repeat),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )
            # A server of its own per query: its peak is this query's.
            sluice(home, "server", "stop", check=False, env=env)
            wait_for_query_worker(home, env=env)
            with PeakMemory() as machine:
                cold = last_json(
                    subprocess.run(
                        [sys.executable, "-c", SDK_S3_SCRIPT, sql, str(repeat), "off"],
                        env=sdk_env,
                        check=True,
                        capture_output=True,
                        text=True,
                    ).stdout
                )
            engine = server_peak(home, env)
            cached = last_json(
                subprocess.run(
                    [sys.executable, "-c", SDK_S3_SCRIPT, sql, str(repeat + 1), "on"],
                    env=sdk_env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
            )[1:]
            b, c, w = (statistics.median(x) for x in (base["times"], cold, cached))
            print(
                f"{name:10s} {b:14.3f}s {c:7.3f}s {c / b:5.1f}x {w:13.3f}s   "
                f"{engine / 2**20:9.0f} MiB {machine.bytes / 2**20:8.0f} MiB {base['peak'] / 2**20:8.0f} MiB"
            )
        sluice(home, "server", "stop", check=False, env=env)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="4000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--s3", action="store_true", help="the warehouse on an S3 server (versitygw)")
    parser.add_argument("--sluice", help="the sluice binary to run (default: this clone's build)")
    args = parser.parse_args()
    if args.sluice:
        sluice_run.SLUICE = pathlib.Path(args.sluice).resolve()
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="sluice-bench-query-"))
    try:
        for rows in (int(r) for r in args.rows.split(",")):
            if args.s3:
                bench_s3(rows, args.repeat, scratch)
            else:
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
