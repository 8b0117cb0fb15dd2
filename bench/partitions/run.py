"""Partition pruning: a one-day model input on synthetic NYC taxi rows (31 days, 263 zones),
the table partitioned by day(tpep_pickup_datetime), bucket(8, PULocationID) beside the same
rows unpartitioned. Prints import time, bytes read from storage and run time (cache off), and
the ratios. Usage: bench/partitions/run.py [rows] (default 4,000,000)."""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from sluice_run import SLUICE  # noqa: E402

SPEC = "day(tpep_pickup_datetime), bucket(8, PULocationID)"
ONE_DAY = "tpep_pickup_datetime >= '2024-01-15' AND tpep_pickup_datetime < '2024-01-16'"


def main():
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 4_000_000
    with tempfile.TemporaryDirectory() as tmp:
        tmp = pathlib.Path(tmp)
        rng = np.random.default_rng(1)
        start = np.datetime64("2024-01-01T00:00:00", "us")
        at = start + (rng.integers(0, 31 * 86400, rows) * 1_000_000).astype("timedelta64[us]")
        source = tmp / "taxi.parquet"
        pq.write_table(
            pa.table(
                {
                    "tpep_pickup_datetime": at,
                    "PULocationID": rng.integers(1, 264, rows),
                    "fare_amount": rng.random(rows) * 50,
                }
            ),
            source,
        )
        env = dict(
            os.environ,
            SLUICE_HOME=str(tmp / "home"),
            SLUICE_USER="bench",
            SLUICE_CONFIG_PATH=str(tmp / "c.yml"),
        )

        def sluice(*args):
            return subprocess.run(
                [str(SLUICE), *map(str, args)], env=env, check=True, capture_output=True, text=True
            )

        sluice("checkout", "-b", "dev")
        results = {}
        for table, spec in [("plain", None), ("parted", SPEC)]:
            sluice(
                "table",
                "create",
                table,
                "--search-uri",
                source,
                *(["--partitioned-by", spec] if spec else []),
            )
            began = time.perf_counter()
            sluice("table", "import", table, "--search-uri", source)
            imported = time.perf_counter() - began
            project = tmp / f"p_{table}"
            project.mkdir()
            (project / "bauplan_project.yml").write_text(
                "project:\n  id: 00000000-0000-4000-8000-000000000009\n  name: bench\n"
            )
            (project / "models.py").write_text(
                "import bauplan\n\n@bauplan.model()\n"
                f'def one_day(t=bauplan.Model("{table}", filter="{ONE_DAY}")):\n    return t.slice(0, 1)\n'
            )
            began = time.perf_counter()
            report = json.loads(sluice("-O", "json", "run", "-p", project, "--no-cache").stdout)
            ran = time.perf_counter() - began
            scan = report["models"][0]["scans"][0]
            results[table] = (
                imported,
                scan["bytes_from_storage"],
                scan["files_read"],
                scan["files_total"],
                ran,
            )
        print(f"{rows:,} rows; one-day input, cache off")
        print(f"{'':8} {'import s':>9} {'read MB':>9} {'files':>11} {'run s':>7}")
        for table, (imported, read, files_read, files_total, ran) in results.items():
            print(
                f"{table:8} {imported:9.2f} {read / 1e6:9.1f} {files_read:>5} of {files_total:<3} {ran:7.2f}"
            )
        plain, parted = results["plain"], results["parted"]
        print(
            f"ratio partitioned/plain: import {parted[0] / plain[0]:.2f}x, bytes read "
            f"{parted[1] / plain[1]:.3f}x, run {parted[4] / plain[4]:.2f}x"
        )


if __name__ == "__main__":
    main()
