"""Hostile queries against the query worker (issue 10 §4): DuckDB reads a local table's own
Parquet files through descriptors the engine opened (/proc/self/fd/N), so a query must reach
those files and nothing else the worker holds (its socket, task, result), must not write to
them, and must not get around the allow-list by path tricks. Checked from outside, in-process
and through a server whose query workers fork from a long-lived zygote."""

import hashlib

import pytest

import bauplan


def digests(home):
    return {
        p: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((home / "warehouse").rglob("*"))
        if p.is_file()
    }


PATH_TRICKS = [
    "/proc/self/fd/../environ",
    "/proc/self/environ",
    "/proc/self/fd/0/../../cmdline",
    "/dev/fd/0",
    "/proc/1/root/etc/passwd",
    "/proc/self/fd/./0",
]


def test_a_query_reads_nothing_but_the_tables_it_names(lake):
    before = digests(lake.home)
    # No table named: no descriptor of any data file is in the allow-list.
    for n in range(0, 8):
        proc = lake("query", f"SELECT * FROM read_text('/proc/self/fd/{n}')", "--ref", "dev", check=False)
        assert proc.returncode != 0, n
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: query failed")
    # A table named: its files are readable (they are the table), nothing else is.
    for path in PATH_TRICKS + [f"/proc/self/fd/{n}" for n in range(0, 6)]:
        sql = f"SELECT count(*) FROM taxi_zones, read_blob('{path}')"
        proc = lake("query", sql, "--ref", "dev", check=False)
        if proc.returncode == 0:
            # Only a data file of taxi_zones itself may be read this way.
            blob = lake(
                "query",
                f"SELECT hex(content[1:4]) AS magic FROM read_blob('{path}'), taxi_zones LIMIT 1",
                "--ref",
                "dev",
            ).stdout
            assert "50415231" in blob, path  # b"PAR1": a Parquet file, the table's
        else:
            assert "Traceback" not in proc.stderr, path
    # Writing through the descriptors: not a query, refused before anything runs.
    for n in range(3, 8):
        for sql in (
            f"COPY taxi_zones TO '/proc/self/fd/{n}' (FORMAT parquet)",
            f"ATTACH '/proc/self/fd/{n}' AS x",
        ):
            proc = lake("query", sql, "--ref", "dev", check=False)
            assert proc.returncode != 0 and "Traceback" not in proc.stderr, sql
    assert digests(lake.home) == before
    # The table still reads as it did.
    assert "(12 rows)" in lake("query", "SELECT * FROM taxi_zones", "--ref", "dev", "--all-rows").stdout


def test_a_servers_query_workers_hold_nothing_of_the_server(lake):
    before = digests(lake.home)
    with lake.serving() as url:
        client = bauplan.Client(endpoint=url)
        # The server holds its catalog, sockets and logs open; a forked query worker must not.
        for n in range(0, 64):
            with pytest.raises(bauplan.exceptions.BauplanError):
                client.query(f"SELECT * FROM read_blob('/proc/self/fd/{n}')", ref="dev")
        for path in PATH_TRICKS:
            with pytest.raises(bauplan.exceptions.BauplanError):
                client.query(f"SELECT * FROM taxi_trips, read_blob('{path}') LIMIT 1", ref="dev")
        # Many queries in a row: every worker is fresh (a fork), none sees another's tables.
        for _ in range(3):
            assert client.query("SELECT count(*) AS n FROM taxi_trips", ref="dev").column(
                "n"
            ).to_pylist() == [20000]
            with pytest.raises(bauplan.exceptions.BauplanError):
                client.query("SELECT count(*) FROM __sluice_files_0", ref="dev")
    assert digests(lake.home) == before
