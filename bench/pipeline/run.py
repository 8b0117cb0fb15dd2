"""bench/pipeline: a taxi pipeline of synthetic trips (4 M and 40 M rows, 12 monthly Parquet
files, bench/pipeline/taxi_data.py): an SQL scan with a time-window filter (3 of the 12 months) ->
a pandas join with the zones and two derived columns (Python model) -> an SQL group-by per
pickup zone, materialized with REPLACE (bench/pipeline/project/). Sluice runs it cold
(SLUICE_SERVER=off: every run starts its interpreters and DuckDB) and warm (the data home's
background server, after one warm-up run), against the same pipeline written by hand as one
DuckDB + pandas script (bench/pipeline/by_hand.py, a fresh `python` each time, as a user runs
it) and against the same three steps in dbt-duckdb (bench/pipeline/dbt/: a source over the same
Parquet files, an SQL view for the window, a Python model in pandas, the group-by as a table in
a DuckDB file of the temp dir), a fresh `dbt run` process each time, after one untimed `dbt parse`
(so every timed run parses partially, as a user's repeated runs do). The tables are loaded as
users do: `table create` then `table import`.

All variants must give the same group-by (row count and the sum of every numeric column,
within float tolerance), or the benchmark fails. Times are the wall time of the whole command,
medians of --runs; memory is the machine's used memory (MemTotal - MemAvailable) at its peak
during a run above where it started, the highest over the runs (a warm run's server is already
up when the run starts: what it holds between runs is not counted). Also printed: where a warm
run's time goes, per model (from the run's `-O json` report).

Usage: .venv/bin/python bench/pipeline/run.py [--rows 4000000,40000000] [--runs 3]
(Sluice's settings come from the environment: SLUICE_SHARED_HEAP=off runs it with copied
outputs, and the table says so.)
"""

import argparse
import json
import math
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import duckdb
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from sluice_run import ROOT, SLUICE, PeakMemory  # noqa: E402
from taxi_data import generate  # noqa: E402

PROJECT = HERE / "project"
DBT_PROJECT = HERE / "dbt"
PYTHON = ROOT / ".venv" / "bin" / "python"
DBT = ROOT / ".venv" / "bin" / "dbt"
RESULT = "zone_stats"
KEYS = ("Borough", "Zone")
TIMEOUT = 3600


def timed(args, env):
    """Runs `args`; returns (wall seconds, peak memory bytes, stdout). Fails loudly."""
    with PeakMemory() as memory:
        start = time.perf_counter()
        proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stderr}")
    return seconds, memory.bytes, proc.stdout


def numeric_sums(rows):
    """Row count and, per numeric column, the sum over rows: what the variants must agree on."""
    sums = {}
    for row in rows:
        for name, value in row.items():
            if name not in KEYS and value is not None:
                sums[name] = sums.get(name, 0.0) + float(value)
    return len(rows), sums


def same_result(name, got, want):
    """Fails loudly unless `got` and `want` (row count, column sums) agree."""
    (got_rows, got_sums), (want_rows, want_sums) = got, want
    problems = []
    if got_rows != want_rows:
        problems.append(f"{got_rows} rows against {want_rows}")
    if set(got_sums) != set(want_sums):
        problems.append(f"columns {sorted(got_sums)} against {sorted(want_sums)}")
    for column in sorted(set(got_sums) & set(want_sums)):
        if not math.isclose(got_sums[column], want_sums[column], rel_tol=1e-9, abs_tol=1e-9):
            problems.append(f"sum({column}) = {got_sums[column]!r} against {want_sums[column]!r}")
    if problems:
        raise SystemExit(f"bench/pipeline: {name} differs from the script by hand: {'; '.join(problems)}")


def dbt_env(env, data, tmp):
    """The environment of `dbt`: the data directory and the DuckDB file for profiles.yml and
    sources.yml, its target/ and logs/ in `tmp`, and nothing sent anywhere."""
    return dict(
        env,
        PIPELINE_DBT_DATA=str(data),
        PIPELINE_DBT_DATABASE=f"{tmp}/dbt/pipeline.duckdb",
        DBT_TARGET_PATH=f"{tmp}/dbt/target",
        DBT_LOG_PATH=f"{tmp}/dbt/logs",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        DBT_VERSION_CHECK="false",
    )


def dbt_models_seconds(stdout):
    """dbt's own time for its models ("Finished running ... (1.23s)"): the rest of a `dbt run`
    is its start (imports, partial parse, connection)."""
    found = re.search(r"Finished running .*\((\d+(?:\.\d+)?)s\)", stdout)
    return float(found.group(1)) if found else math.nan


def breakdown(report):
    """Where a run's time went, from its `-O json` report: per model, its table scans (row
    groups read of all; done before the worker starts), worker start to user code, the user
    code, and its output written; the rest of the run is planning and commit."""
    models = sorted(report["models"], key=lambda m: m["worker_start"])
    parts = []
    for m in models:
        scans = "".join(
            f"scan {s['table']} {s['seconds']:.2f} ({s['row_groups_read']}/{s['row_groups_total']} "
            "row groups), "
            for s in m["scans"]
            if s["row_groups_total"] > 1
        )
        parts.append(
            f"{m['name']} ({scans}start {m['user_start'] - m['worker_start']:.2f}, "
            f"user {m['user_return'] - m['user_start']:.2f}, "
            f"output {m['output_written'] - m['user_return']:.2f})"
        )
    span = models[-1]["output_written"] - models[0]["worker_start"]
    return "; ".join(parts), span


def bench_size(rows, runs):
    data = generate(rows)
    # Every trips column is fixed-width: the table's size in memory, as Arrow holds it.
    schema = pq.read_schema(next((data / "trips").glob("*.parquet")))
    in_memory = rows * sum(field.type.bit_width for field in schema) // 8
    runs = runs if rows < 20_000_000 else 1
    with tempfile.TemporaryDirectory(prefix="sluice-bench-pipeline-") as tmp:
        env = dict(os.environ, SLUICE_HOME=f"{tmp}/home", SLUICE_USER="bench")
        env["SLUICE_CONFIG_PATH"] = f"{tmp}/sluice_config.yml"
        env.pop("SLUICE_SERVER", None)
        env.pop("SLUICE_ENDPOINT", None)
        off = dict(env, SLUICE_SERVER="off")

        def sluice(*args, extra=off):
            return timed([str(SLUICE), *map(str, args)], extra)

        sluice("checkout", "-b", "bench.dev")
        load = 0.0
        for table, uri in (
            ("taxi_trips", data / "trips" / "*.parquet"),
            ("taxi_zones", data / "zones.parquet"),
        ):
            load += sluice("table", "create", table, "--search-uri", uri)[0]
            load += sluice("table", "import", table, "--search-uri", uri)[0]
        run = ("-O", "json", "run", "-p", PROJECT)
        sluice(*run)  # the environment resolved and stored once, for both variants

        cold = [sluice(*run) for _ in range(runs)]
        first = sluice(*run, extra=env)  # starts the server
        warm = [sluice(*run, extra=env) for _ in range(runs)]
        answer = sluice("-O", "json", "query", f"SELECT * FROM {RESULT}", "--ref", "bench.dev", "--all-rows")
        sluice("server", "stop", extra=env)
        ours = numeric_sums(json.loads(answer[2]))
        # Shared memory outlives the data home's directory: give it back (GBs at 40 M).
        shutil.rmtree(json.loads(sluice("-O", "json", "info")[2])["shared_memory"], ignore_errors=True)

        out = f"{tmp}/{RESULT}.parquet"
        by_hand = [timed([str(PYTHON), str(HERE / "by_hand.py"), str(data), out], env) for _ in range(runs)]
        theirs = numeric_sums(pq.read_table(out).to_pylist())

        denv = dbt_env(env, data, tmp)
        where = ("--project-dir", DBT_PROJECT, "--profiles-dir", DBT_PROJECT)
        timed([str(DBT), "parse", *map(str, where)], denv)  # the manifest, for partial parsing
        dbt = [timed([str(DBT), "run", *map(str, where)], denv) for _ in range(runs)]
        with duckdb.connect(denv["PIPELINE_DBT_DATABASE"], read_only=True) as con:
            cursor = con.execute(f"SELECT * FROM {RESULT}")
            names = [d[0] for d in cursor.description]
            dbt_result = numeric_sums([dict(zip(names, row)) for row in cursor.fetchall()])

    same_result("Sluice", ours, theirs)
    same_result("dbt-duckdb", dbt_result, theirs)

    def median(results):
        return statistics.median(r[0] for r in results)

    def peak(results):
        return max(r[1] for r in results)

    warm_report = json.loads(sorted(warm, key=lambda r: r[0])[len(warm) // 2][2])
    dbt_median_run = sorted(dbt, key=lambda r: r[0])[len(dbt) // 2]
    return {
        "rows": rows,
        "in_memory": in_memory,
        "runs": runs,
        "load": load,
        "result_rows": theirs[0],
        "cold": (median(cold), peak(cold)),
        "first": first[0],
        "warm": (median(warm), peak(warm)),
        "by_hand": (median(by_hand), peak(by_hand)),
        "dbt": (median(dbt), peak(dbt)),
        "dbt_models": dbt_models_seconds(dbt_median_run[2]),
        "warm_breakdown": breakdown(warm_report),
    }


def print_table(r):
    def gib(b):
        return f"{b / (1 << 30):6.2f} GiB"

    print(
        f"bench/pipeline: {r['rows']:,} trips ({r['in_memory'] / 1e9:.1f} GB in memory; the window keeps "
        f"3 of 12 months), {r['result_rows']} zones, medians of {r['runs']} run(s); loading the "
        f"tables (create + import) took {r['load']:.1f} s"
    )
    heap = os.environ.get("SLUICE_SHARED_HEAP", "")
    handoff = "copied (SLUICE_SHARED_HEAP=off)" if heap == "off" else "zero-copy (the default)"
    print(f"  Sluice's model outputs: {handoff}")
    print(f"  {'':44} {'time':>9}   {'peak memory':>11}")
    for label, key in (
        ("sluice run, in-process (SLUICE_SERVER=off)", "cold"),
        ("sluice run, warm server", "warm"),
        ("by hand: one DuckDB + pandas script", "by_hand"),
        ("dbt-duckdb: dbt run (Python model)", "dbt"),
    ):
        seconds, memory = r[key]
        print(f"  {label:44} {seconds:7.2f} s   {gib(memory)}")
    print(f"  {'(sluice run, first: starts the server)':44} {r['first']:7.2f} s")
    warm, by_hand = r["warm"][0], r["by_hand"][0]
    verdict = "ok" if warm <= 1.2 * by_hand else "over the 1.2x goal"
    print(f"  warm sluice / by hand   {warm / by_hand:5.2f}x   (goal <= 1.2x: {verdict})")
    print(f"  cold sluice / by hand   {r['cold'][0] / by_hand:5.2f}x")
    dbt = r["dbt"][0]
    print(f"  dbt-duckdb / warm sluice {dbt / warm:5.2f}x")
    print(f"  dbt-duckdb / by hand    {dbt / by_hand:5.2f}x")
    print(
        f"  the median dbt run: {dbt:.2f} s, of which dbt's models {r['dbt_models']:.2f} s "
        "(the rest: its start, imports and partial parse)"
    )
    models, span = r["warm_breakdown"]
    print(f"  the median warm run: {warm:.2f} s, first worker to last output {span:.2f} s:")
    print(f"    {models}")
    print(flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="4000000,40000000")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for rows in (int(n) for n in args.rows.split(",")):
        print_table(bench_size(rows, args.runs))


if __name__ == "__main__":
    main()
