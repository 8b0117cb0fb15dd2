"""Files that would make an unreadable table, and writers racing on one table (issue 9 §7):
refused with the file named, or all committed with every row, never half of either."""

import os
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import StaticTable


@pytest.fixture
def dev(sluice):
    sluice("checkout", "-b", "dev")
    return sluice


def bad_files(tmp_path):
    duplicated = tmp_path / "duplicated.parquet"
    pq.write_table(
        pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["PULocationID", "PULocationID"]),
        duplicated,
    )
    no_columns = tmp_path / "no_columns.parquet"
    pq.write_table(pa.table({}), no_columns)
    binary = tmp_path / "binary.csv"
    binary.write_bytes(bytes(range(256)) * 8 + os.urandom(512))
    return [
        (duplicated, "has the column 'PULocationID' twice"),
        (no_columns, "has no columns"),
        (binary, "not a CSV file"),
    ]


def test_files_that_cannot_make_a_readable_table_are_refused_naming_the_file(dev, tmp_path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"PULocationID": [1, 2]}), good)
    dev("table", "create", "trips", "--search-uri", good)
    head = dev.head("dev")
    for path, words in bad_files(tmp_path):
        attempts = [
            ("table", "create", "t_" + path.stem, "--search-uri", path),
            ("table", "import", "trips", "--search-uri", path),
        ]
        if path.suffix == ".parquet":
            attempts.append(("table", "create-external", "x_" + path.stem, "--search-pattern", path))
        for args in attempts:
            proc = dev(*args, check=False)
            assert proc.returncode == 1, (args, proc.stderr)
            assert str(path) in proc.stderr and words in proc.stderr, (args, proc.stderr)
            assert "json.exception" not in proc.stderr and "\ufffd" not in proc.stderr.split(words)[0]
    assert dev.head("dev") == head and dev.tables("dev") == {"bauplan.trips"}


def test_eight_parallel_imports_into_one_table_all_land(dev, tmp_path):
    files = []
    for i in range(8):
        path = tmp_path / f"part{i}.parquet"
        pq.write_table(pa.table({"PULocationID": list(range(i * 100, i * 100 + 100))}), path)
        files.append(path)
    dev("table", "create", "trips", "--search-uri", files[0])

    def load(path):
        return dev("table", "import", "trips", "--search-uri", path, check=False)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(load, files))
    assert [r.returncode for r in results] == [0] * 8, [r.stderr for r in results if r.returncode]
    rows = dev.query('SELECT count(*) AS n, count(DISTINCT "PULocationID") AS d FROM trips', "dev")
    assert rows == [{"n": 800, "d": 800}]
    # Another Iceberg reader sees the same table.
    location = dev.json("table", "get", "trips", "--ref", "dev")["metadata_location"]
    assert StaticTable.from_metadata(location).scan().to_arrow().num_rows == 800
    # And a branch holding rebased appends merges into one that appended too.
    dev("branch", "create", "other", "--from-ref", "dev")
    extra = tmp_path / "extra.parquet"
    pq.write_table(pa.table({"PULocationID": [9001, 9002]}), extra)
    dev("table", "import", "trips", "--search-uri", extra, "--branch", "other")
    more = tmp_path / "more.parquet"
    pq.write_table(pa.table({"PULocationID": [9003]}), more)
    dev("table", "import", "trips", "--search-uri", more)
    dev("branch", "merge", "other", "--into-branch", "dev")
    assert dev.query("SELECT count(*) AS n FROM trips", "dev") == [{"n": 803}]


def test_a_worker_killed_by_a_signal_is_reported_as_killed_not_as_out_of_memory(dev, make_project, tmp_path):
    source = tmp_path / "z.parquet"
    pq.write_table(pa.table({"a": [1]}), source)
    dev("table", "create", "z", "--search-uri", source)
    project = make_project(
        {
            "models.py": """
import os
import signal

import bauplan


@bauplan.model(materialization_strategy="REPLACE")
def killed(z=bauplan.Model("z")):
    os.kill(os.getpid(), signal.SIGKILL)
    return z
"""
        }
    )
    head = dev.head("dev")
    proc = dev("run", "-p", project, check=False)
    assert proc.returncode == 1
    assert "killed by signal 9 (Killed)" in proc.stderr and "out of memory" not in proc.stderr
    assert dev.head("dev") == head
