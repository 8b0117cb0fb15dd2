"""bench/catalog: creating a branch of a lakehouse with N tables, Sluice (one ref row in the
catalog) against what a user does without a versioned catalog: copying the tables' metadata
directories (cp -r of metadata/, data files hard-linked to keep it fair), in one run.

Usage: .venv/bin/python bench/catalog/run.py [--tables 10,100,400]
"""

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLUICE = ROOT / "build" / "sluice"
ZONES = ROOT / "examples" / "taxi" / "data" / "taxi_zones.csv"


def sluice(env, *args):
    subprocess.run([str(SLUICE), *map(str, args)], env=env, check=True, capture_output=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tables", default="10,100,400")
    args = parser.parse_args()
    print(f"{'tables':>7} {'sluice branch create':>21} {'copy metadata':>14} {'ratio':>7}")
    for count in [int(n) for n in args.tables.split(",")]:
        with tempfile.TemporaryDirectory() as home:
            env = dict(os.environ, SLUICE_HOME=home)
            sluice(env, "branch", "create", "load", "--from-ref", "main")
            for i in range(count):
                for verb in ("create", "import"):  # create takes the schema, import the rows
                    sluice(env, "table", verb, f"t{i}", "--search-uri", ZONES, "--branch", "load")
            start = time.monotonic()
            sluice(env, "branch", "create", "copy", "--from-ref", "load")
            ours = time.monotonic() - start
            warehouse = pathlib.Path(home) / "warehouse"
            target = pathlib.Path(home) / "copy"
            start = time.monotonic()
            shutil.copytree(warehouse, target, copy_function=os.link)
            theirs = time.monotonic() - start
            print(f"{count:>7} {ours * 1e3:>19.1f}ms {theirs * 1e3:>12.1f}ms {theirs / ours:>6.1f}x")
            info = subprocess.run(
                [str(SLUICE), "-O", "json", "info"], env=env, check=True, capture_output=True, text=True
            )
            shutil.rmtree(json.loads(info.stdout)["shared_memory"], ignore_errors=True)


if __name__ == "__main__":
    main()
