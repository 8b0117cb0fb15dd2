"""The differential column cache (data/column_cache.h): a re-run reads nothing from storage,
a new column reads that column's chunks, a wider time window the new weeks', an appended
file that file; --no-cache reads everything. On a local warehouse and on S3 (versitygw), read
from outside through the data files' own Parquet footers."""

import datetime
import os

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from cli_harness import use_s3_warehouse

WEEK_ROWS = 3000
START = datetime.datetime(2024, 1, 1)


def week(n):
    """NYC-taxi-like rows of week n (0-based) of January 2024, sorted by pickup time."""
    rng = np.random.default_rng(n)
    seconds = np.sort(rng.integers(0, 7 * 86400, WEEK_ROWS))
    pickup = np.datetime64(START + datetime.timedelta(weeks=n), "us") + seconds.astype("timedelta64[s]")
    return pa.table(
        {
            "tpep_pickup_datetime": pa.array(pickup),
            "PULocationID": pa.array(rng.integers(1, 265, WEEK_ROWS), pa.int64()),
            "trip_miles": pa.array(np.round(rng.exponential(3.0, WEEK_ROWS), 2)),
            "fare_amount": pa.array(np.round(rng.exponential(15.0, WEEK_ROWS), 2)),
        }
    )


def day(n_weeks):
    return (START + datetime.timedelta(weeks=n_weeks)).strftime("%Y-%m-%d")


MODEL = """\
import bauplan

@bauplan.model()
@bauplan.python("3.11")
def zone_fares(trips=bauplan.Model("taxi", columns={columns}, filter="tpep_pickup_datetime >= '{since}'")):
    return trips.group_by("PULocationID").aggregate([("fare_amount", "sum")])
"""


class Warehouse:
    """The table's data files as pyarrow sees them (local disk or the S3 bucket)."""

    def __init__(self, fs, root):
        self.fs, self.root = fs, root

    def data_files(self):
        found = self.fs.get_file_info(pafs.FileSelector(self.root, recursive=True, allow_not_found=True))
        return sorted(i.path for i in found if i.path.endswith(".parquet") and "/taxi-" in i.path)

    def chunk_bytes(self, columns, since=None, files=None):
        """Compressed bytes of `columns` in row groups that may hold pickups at or after `since`."""
        total = 0
        for path in files or self.data_files():
            with self.fs.open_input_file(path) as f:
                meta = pq.ParquetFile(f).metadata
            for rg in range(meta.num_row_groups):
                group = meta.row_group(rg)
                chunks = {group.column(c).path_in_schema: group.column(c) for c in range(group.num_columns)}
                newest = chunks["tpep_pickup_datetime"].statistics.max
                if since is not None and newest < datetime.datetime.fromisoformat(since):
                    continue
                total += sum(chunks[c].total_compressed_size for c in columns)
        return total

    def size(self, path):
        return self.fs.get_file_info(path).size


def scan_of(report):
    """The one scan of the run (its only model reads one table)."""
    (model,) = [m for m in report["models"] if m["name"] == "zone_fares"]
    (scan,) = model["scans"]
    return scan


@pytest.fixture(params=["local", "s3"])
def taxi_lake(request, sluice, tmp_path):
    """A data home whose table `taxi` holds weeks 0-2 as three data files, and its warehouse."""
    if request.param == "s3":
        endpoint = os.environ.get("SLUICE_TEST_S3_ENDPOINT")
        if not endpoint:
            pytest.skip("SLUICE_TEST_S3_ENDPOINT is not set (make test sets it)")
        warehouse = Warehouse(*use_s3_warehouse(sluice, endpoint, "cache"))
    else:
        warehouse = Warehouse(pafs.LocalFileSystem(), str(sluice.home / "warehouse"))
    sluice("checkout", "-b", "dev")
    weeks = tmp_path / "weeks"
    weeks.mkdir()
    for n in range(4):
        pq.write_table(week(n), weeks / f"week{n}.parquet")
    sluice("table", "create", "taxi", "--search-uri", weeks / "week0.parquet")
    for n in range(3):
        sluice("table", "import", "taxi", "--search-uri", weeks / f"week{n}.parquet")
    return sluice, warehouse, weeks


def run(lake, make_project, columns, since, *flags):
    project = make_project({"models.py": MODEL.format(columns=columns, since=since)})
    return lake.json("run", "-p", project, *flags)


def test_runs_read_from_storage_only_what_changed(taxi_lake, make_project):
    lake, warehouse, weeks = taxi_lake
    columns = ["PULocationID", "fare_amount"]
    read = columns + ["tpep_pickup_datetime"]  # the filter's column is read too

    cold = scan_of(run(lake, make_project, columns, day(1)))
    assert cold["storage_reasons"] == ["cold cache"]
    assert cold["bytes_from_storage"] >= warehouse.chunk_bytes(read, since=day(1))
    assert cold["bytes_from_cache"] == 0

    # The same pipeline again: nothing from storage.
    warm = scan_of(run(lake, make_project, columns, day(1)))
    assert warm["bytes_from_storage"] == 0 and warm["storage_reasons"] == []
    assert warm["bytes_from_cache"] == cold["bytes_from_storage"]

    # One more column: its chunks only, and said so.
    added = scan_of(run(lake, make_project, columns + ["trip_miles"], day(1)))
    assert added["bytes_from_storage"] == warehouse.chunk_bytes(["trip_miles"], since=day(1))
    assert added["storage_reasons"] == ["new column trip_miles"]

    # The window one week wider: that week's row groups only.
    widened = scan_of(run(lake, make_project, columns, day(0)))
    older = [f for f in warehouse.data_files() if warehouse.chunk_bytes(read, files=[f], since=day(1)) == 0]
    assert len(older) == 1
    assert widened["bytes_from_storage"] == warehouse.chunk_bytes(read, files=older)
    assert widened["storage_reasons"] == ["1 new row group"]

    # A new snapshot appends week 3: that file only (its footer and its chunks).
    before = set(warehouse.data_files())
    lake("table", "import", "taxi", "--search-uri", weeks / "week3.parquet")
    (new_file,) = set(warehouse.data_files()) - before
    appended_report = run(lake, make_project, columns, day(0))
    appended = scan_of(appended_report)
    assert appended["storage_reasons"] == ["1 new data file"]
    new_chunks = warehouse.chunk_bytes(read, files=[new_file])
    assert new_chunks <= appended["bytes_from_storage"] <= new_chunks + warehouse.size(new_file)

    # --no-cache: everything from storage, and the same answer.
    uncached_report = run(lake, make_project, columns, day(0), "--no-cache")
    uncached = scan_of(uncached_report)
    assert uncached["bytes_from_cache"] == 0 and uncached["storage_reasons"] == ["cache off"]
    assert uncached["bytes_from_storage"] >= warehouse.chunk_bytes(read)
    assert uncached["bytes_from_storage"] == appended["bytes_from_storage"] + appended["bytes_from_cache"]
    assert uncached_report["models"][0]["rows"] == appended_report["models"][0]["rows"] > 0


def test_the_run_output_says_where_bytes_came_from(taxi_lake, make_project):
    lake, _, _ = taxi_lake
    project = make_project({"models.py": MODEL.format(columns=["PULocationID", "fare_amount"], since=day(0))})
    first = lake("run", "-p", project).stdout
    assert "reads bauplan.taxi: " in first and "from storage (cold cache)" in first
    second = lake("run", "-p", project).stdout
    assert "all from cache" in second
    wider = make_project(
        {"models.py": MODEL.format(columns=["PULocationID", "fare_amount", "trip_miles"], since=day(0))}
    )
    third = lake("run", "-p", wider).stdout
    assert "(new column trip_miles)" in third
    assert "from storage (cache off)" in lake("run", "-p", project, "--cache", "off").stdout
    # The job record keeps it.
    job_id = lake.json("job", "ls", "--max-count", "1")[0]["id"]
    assert "cache off" in lake("job", "get", job_id).stdout


def test_queries_on_s3_share_the_cache_with_models(taxi_lake, make_project):
    lake, warehouse, _ = taxi_lake
    columns = lake.json("cache", "ls", "--columns")
    assert columns["entries"] == 0
    sql = "SELECT PULocationID, sum(fare_amount) AS f FROM taxi GROUP BY 1"
    lake("query", sql, "--ref", "dev", "--cache", "off")
    assert lake.json("cache", "ls", "--columns")["entries"] == 0
    lake("query", sql, "--ref", "dev")
    after = lake.json("cache", "ls", "--columns")
    if warehouse.fs.type_name == "local":
        # DuckDB reads a local table's own Parquet files in place: a copy would gain nothing.
        assert after["entries"] == 0
        return
    assert after["entries"] > 0 and 0 < after["bytes"] <= after["budget"]
    # An SQL model reading the columns the query read finds them cached.
    project = make_project({"fares.sql": sql})
    (scan,) = lake.json("run", "-p", project, "--dry-run")["models"][0]["scans"]
    assert scan["bytes_from_storage"] == 0 and scan["bytes_from_cache"] > 0


def test_a_query_on_s3_reads_only_the_row_groups_its_where_can_match(taxi_lake):
    lake, warehouse, weeks = taxi_lake
    if warehouse.fs.type_name == "local":
        pytest.skip("DuckDB reads a local table's files in place: its own statistics prune them")

    def cached():
        return lake.json("cache", "ls", "--columns")["entries"]

    since = "TIMESTAMP '2024-01-15'"  # the last of the three weeks
    sql = f"SELECT count(*) AS n, sum(fare_amount) AS f FROM taxi WHERE tpep_pickup_datetime >= {since}"
    (row,) = lake.query(sql, "dev")
    last = pq.read_table(weeks / "week2.parquet")
    assert int(row["n"]) == last.num_rows
    assert float(row["f"]) == pytest.approx(sum(last["fare_amount"].to_pylist()))
    # The three files' footers, and two column chunks of the one file whose statistics can
    # match: the other weeks' chunks were not read.
    assert cached() == 3 + 2, lake("cache", "ls", "--columns").stdout
    # The same two columns without the WHERE: every week's.
    everything_sql = "SELECT count(*) AS n, sum(fare_amount) AS f, max(tpep_pickup_datetime) AS t FROM taxi"
    (everything,) = lake.query(everything_sql, "dev")
    assert int(everything["n"]) == 3 * WEEK_ROWS
    assert cached() == 3 + 3 * 2
    # As a user writes it: a mixed-case column in lower case, DuckDB's casts. The pushed filter
    # must keep every row DuckDB's WHERE keeps.
    (user,) = lake.query(
        "SELECT count(*) AS n FROM taxi "
        "WHERE pulocationid < 50 AND tpep_pickup_datetime >= '2024-01-15'::TIMESTAMP",
        "dev",
    )
    assert int(user["n"]) == sum(1 for z in last["PULocationID"].to_pylist() if z < 50) > 0


def test_both_model_languages_share_the_cache(lake, make_project):
    def usage():
        return lake.json("cache", "ls", "--columns")

    assert usage()["entries"] == 0
    # Queries of a local table read its files in place and leave the cache alone.
    lake("query", "SELECT zone_id, count(*) AS n FROM taxi_trips GROUP BY 1", "--ref", "dev")
    assert usage()["entries"] == 0
    first = make_project(
        {
            "pickups.py": "import bauplan\n\n"
            "@bauplan.model()\n"
            "def pickups(t=bauplan.Model('taxi_trips', columns=['zone_id'])):\n"
            "    return t\n"
        }
    )
    lake("run", "-p", first, "--dry-run")
    after_query = usage()
    assert after_query["entries"] > 0 and 0 < after_query["bytes"] <= after_query["budget"]
    # An SQL model reading the column the query read finds it cached.
    project = make_project({"pickups.sql": "SELECT zone_id, count(*) AS n FROM taxi_trips GROUP BY 1"})
    report = lake.json("run", "-p", project, "--dry-run")
    (scan,) = report["models"][0]["scans"]
    assert scan["bytes_from_storage"] == 0 and scan["bytes_from_cache"] > 0
    # ls shows packages and columns; prune --columns empties the column cache only.
    text = lake("cache", "ls").stdout
    assert "package(s)" in text and "column cache: " in text
    assert lake.json("cache", "prune", "--columns", "--dry-run")["entries"] == after_query["entries"]
    assert usage()["entries"] == after_query["entries"]
    removed = lake.json("cache", "prune", "--columns")
    assert removed["entries"] == after_query["entries"] and usage()["entries"] == 0
    assert lake.json("cache", "budget", "5M")["budget"] == 5 << 20
    assert usage()["budget"] == 5 << 20
    bad = lake("cache", "budget", "lots", check=False)
    assert bad.returncode == 1 and "budget 'lots'" in bad.stderr and "Traceback" not in bad.stderr
    # Against a server: its data home's cache, through the API.
    lake("run", "-p", first, "--dry-run")
    with lake.serving() as url:
        remote = lake.json("--endpoint", url, "cache", "ls", "--columns")
        assert remote["directory"] == str(lake.home / "cache" / "columns") and remote["entries"] > 0
        removed = lake.json("--endpoint", url, "cache", "prune", "--columns")
        assert removed["entries"] == remote["entries"]
    assert usage()["entries"] == 0


def test_damaged_cache_files_are_read_again_from_storage(lake, make_project):
    project = make_project({"pickups.sql": "SELECT zone_id, sum(fare) AS f FROM taxi_trips GROUP BY 1"})
    expected = lake.json("run", "-p", project, "--dry-run")
    entries = [p for p in (lake.home / "cache" / "columns" / "entries").rglob("*.chunk")]
    assert entries
    # Tampered on disk: a byte changed in every second entry, every third one cut short.
    for i, path in enumerate(entries):
        data = bytearray(path.read_bytes())
        if i % 3 == 0:
            path.write_bytes(bytes(data[: len(data) // 2]))
        elif i % 2 == 0:
            data[-1] ^= 0xFF
            path.write_bytes(bytes(data))
    report = lake.json("run", "-p", project, "--dry-run")
    (scan,) = report["models"][0]["scans"]
    assert scan["bytes_from_storage"] > 0
    assert any("damaged cache entr" in r for r in scan["storage_reasons"]), scan
    assert report["models"][0]["rows"] == expected["models"][0]["rows"]
    # A cache directory others could write to is not used; the run still works, and says why.
    cache_dir = lake.home / "cache" / "columns"
    os.chmod(cache_dir, 0o777)
    # The check is made as a process opens the cache: a new one, not the warm server that opened it.
    lake.stop_server()
    try:
        report = lake.json("run", "-p", project, "--dry-run")
        (scan,) = report["models"][0]["scans"]
        assert scan["bytes_from_cache"] == 0
        assert scan["storage_reasons"][0].startswith("cache not used: column cache")
    finally:
        os.chmod(cache_dir, 0o700)


def test_a_model_cannot_read_or_poison_the_cache(lake, make_project):
    cache_dir = lake.home / "cache" / "columns"
    warm = make_project({"pickups.sql": "SELECT zone_id, count(*) AS n FROM taxi_trips GROUP BY 1"})
    lake("run", "-p", warm, "--dry-run")
    before = {p: p.read_bytes() for p in cache_dir.rglob("*.chunk")}
    assert before
    project = make_project(
        {
            "models.py": f"""\
            import bauplan, os

            @bauplan.model()
            @bauplan.python("3.11")
            def snoop(z=bauplan.Model("taxi_zones")):
                seen = []
                for path in [{str(cache_dir)!r}, {str(cache_dir / "entries")!r}, {str(lake.home)!r}]:
                    try:
                        seen.append(path + ": listed " + str(len(os.listdir(path))))
                    except OSError as e:
                        seen.append(path + ": " + type(e).__name__)
                try:
                    os.makedirs({str(cache_dir / "entries" / "00")!r}, exist_ok=True)
                    with open({str(cache_dir / "entries" / "00" / "poison.chunk")!r}, "wb") as f:
                        f.write(b"SLCCHUNK" + bytes(100))
                    seen.append("wrote")
                except OSError as e:
                    seen.append("write: " + type(e).__name__)
                print("SNOOP", seen)
                return z
            """
        }
    )
    out = lake("run", "-p", project, "--dry-run").stdout
    (line,) = [line for line in out.splitlines() if "SNOOP" in line]
    assert "listed" not in line, line
    # The engine cached what the model read (taxi_zones); nothing else changed.
    assert all(p.read_bytes() == data for p, data in before.items())
    assert not (cache_dir / "entries" / "00" / "poison.chunk").exists()
    (scan,) = lake.json("run", "-p", warm, "--dry-run")["models"][0]["scans"]
    assert scan["bytes_from_storage"] == 0
