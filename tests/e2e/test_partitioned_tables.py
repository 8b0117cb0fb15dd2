"""Partitioned tables end to end: `table create --partitioned-by` and models' partitioned_by
write one data file per partition tuple (day(tpep_pickup_datetime), bucket(8, PULocationID)),
model inputs with a filter skip whole files before reading them (the run line says how many),
and pyiceberg, through `sluice serve`'s REST catalog, plans the same scans with files skipped."""

import datetime

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.catalog.rest import RestCatalog

HEADER = "import bauplan\n"
PARTITIONED_BY = "day(tpep_pickup_datetime), bucket(8, PULocationID)"
DAYS, ZONES, PER = 5, 12, 3
ONE_DAY = "tpep_pickup_datetime >= '2024-01-02' AND tpep_pickup_datetime < '2024-01-03'"
ONE_DAY_ISO = "tpep_pickup_datetime >= '2024-01-02T00:00:00' AND tpep_pickup_datetime < '2024-01-03T00:00:00'"


def taxi(days=DAYS, zones=ZONES, per=PER, first_day=1):
    start = datetime.datetime(2024, 1, first_day)
    rows = [
        (start + datetime.timedelta(days=d, hours=k + 1), 100 + z, float(d * 10 + z + k))
        for d in range(days)
        for z in range(zones)
        for k in range(per)
    ]
    return pa.table(
        {
            "tpep_pickup_datetime": pa.array([r[0] for r in rows], pa.timestamp("us")),
            "PULocationID": pa.array([r[1] for r in rows], pa.int64()),
            "fare_amount": pa.array([r[2] for r in rows], pa.float64()),
        }
    )


def bucket8(zone):
    from pyiceberg.transforms import BucketTransform
    from pyiceberg.types import LongType

    return BucketTransform(8).transform(LongType())(zone)


@pytest.fixture
def taxi_file(tmp_path):
    path = tmp_path / "taxi.parquet"
    pq.write_table(taxi(), path)
    return path


@pytest.fixture
def dev(sluice, taxi_file):
    sluice("checkout", "-b", "dev")
    sluice("table", "create", "taxi", "--search-uri", taxi_file, "--partitioned-by", PARTITIONED_BY)
    sluice("table", "import", "taxi", "--search-uri", taxi_file)
    return sluice


def test_import_writes_one_file_per_partition_and_pyiceberg_prunes(dev):
    info = dev.json("table", "get", "taxi")
    assert [(p["transform"], p["source"]) for p in info["partitions"]] == [
        ("day", "tpep_pickup_datetime"),
        ("bucket[8]", "PULocationID"),
    ]
    tuples = {(d, bucket8(100 + z)) for d in range(DAYS) for z in range(ZONES)}
    with dev.serving() as uri:
        table = RestCatalog("sluice", uri=uri, warehouse="dev").load_table("bauplan.taxi")
        every = list(table.scan().plan_files())
        assert len(every) == len(tuples)
        # Each file holds exactly its partition's rows.
        for task in every:
            rows = pq.read_table(task.file.file_path.removeprefix("file://"))
            days = {
                (t - datetime.datetime(2024, 1, 1)).days for t in rows["tpep_pickup_datetime"].to_pylist()
            }
            assert len(days) == 1 and len({bucket8(z) for z in rows["PULocationID"].to_pylist()}) == 1
        one_day = table.scan(row_filter=ONE_DAY_ISO)
        assert len(list(one_day.plan_files())) == len({bucket8(100 + z) for z in range(ZONES)})
        assert one_day.to_arrow().num_rows == ZONES * PER
        zone = table.scan(row_filter="PULocationID = 103")
        assert len(list(zone.plan_files())) == DAYS
        assert zone.to_arrow().num_rows == DAYS * PER


def test_a_model_input_filter_skips_files_and_the_run_line_says_so(dev, make_project):
    project = make_project(
        {
            "models.py": HEADER
            + f'''
@bauplan.model(materialization_strategy="REPLACE", partitioned_by="{PARTITIONED_BY}")
def one_day(t=bauplan.Model("taxi", filter="{ONE_DAY}")):
    return t
'''
        }
    )
    run = dev("run", "-p", project)
    files = len({(d, bucket8(100 + z)) for d in range(DAYS) for z in range(ZONES)})
    per_day = len({bucket8(100 + z) for z in range(ZONES)})
    assert f"taxi: {per_day} of {files} files" in run.stdout, run.stdout
    out = dev.json("table", "get", "one_day")
    assert out["records"] == ZONES * PER
    assert [(p["transform"], p["source"]) for p in out["partitions"]] == [
        ("day", "tpep_pickup_datetime"),
        ("bucket[8]", "PULocationID"),
    ]
    # The rows are right: the filter applied exactly after the files were pruned.
    rows = dev.query("SELECT COUNT(*) AS n, MIN(tpep_pickup_datetime) AS lo FROM one_day", "dev")
    assert rows[0]["n"] == ZONES * PER and str(rows[0]["lo"]).startswith("2024-01-02")


@pytest.mark.parametrize(
    "partitioned_by, words",
    [
        ("days(tpep_pickup_datetime)", ["unknown transform 'days'"]),
        ("hour(PULocationID)", ["PULocationID", "timestamp"]),
        ("bucket(0, PULocationID)", ["positive width"]),
        ("bucket(8, fare_amount)", ["fare_amount", "double"]),
        ("day(nope)", ["'nope'"]),
    ],
)
def test_bad_partition_specs_are_one_clear_error(sluice, taxi_file, make_project, partitioned_by, words):
    sluice("checkout", "-b", "dev")
    sluice.load("taxi", taxi_file)
    head = sluice.head("dev")
    project = make_project(
        {
            "models.py": HEADER
            + f'''
@bauplan.model(materialization_strategy="REPLACE", partitioned_by="{partitioned_by}")
def parted(t=bauplan.Model("taxi")):
    return t
'''
        }
    )
    run = sluice("run", "-p", project, check=False)
    assert run.returncode != 0
    text = run.stdout + run.stderr
    assert "parted" in text and "Traceback" not in text, text
    for word in words:
        assert word in text, text
    assert "parted" not in {t.split(".")[-1] for t in sluice.tables("dev")}
    create = sluice(
        "table", "create", "t2", "--search-uri", taxi_file, "--partitioned-by", partitioned_by, check=False
    )
    assert create.returncode != 0 and "Traceback" not in create.stderr
    assert sluice.head("dev") == head


def write_trips(
    sluice, make_project, strategy, filter_="", overwrite_filter=None, body="return t", params=""
):
    """Runs a project whose one model `trips` reads taxi (with `filter_`) and writes it."""
    extra = f", overwrite_filter={overwrite_filter!r}" if overwrite_filter is not None else ""
    project = make_project(
        {
            "models.py": HEADER
            + f'''
@bauplan.model(materialization_strategy="{strategy}", partitioned_by="{PARTITIONED_BY}"{extra})
@bauplan.python(pip={{"pandas": "*"}})
def trips(t=bauplan.Model("taxi", filter="{filter_}")):
    {body}
'''
        },
        project_yml=None
        if not params
        else f"""\
            project:
              id: 00000000-0000-4000-8000-000000000001
              name: test_project
            parameters:
{params}""",
    )
    return sluice("run", "-p", project, check=False)


def fares_by_day(sluice):
    rows = sluice.query(
        "SELECT CAST(tpep_pickup_datetime AS DATE)::VARCHAR AS d, COUNT(*) AS n, SUM(fare_amount) AS s "
        "FROM trips GROUP BY 1 ORDER BY 1",
        "dev",
    )
    return {r["d"]: (r["n"], r["s"]) for r in rows}


def test_overwrite_partitions_replaces_exactly_the_touched_partitions(dev, make_project):
    assert write_trips(dev, make_project, "REPLACE").returncode == 0
    before = fares_by_day(dev)
    run = write_trips(
        dev,
        make_project,
        "overwrite_partitions",  # bauplan spells it in any case
        filter_=ONE_DAY,
        body="t = t.to_pandas()\n    t['fare_amount'] = t['fare_amount'] * 100\n    return t",
    )
    assert run.returncode == 0, run.stdout + run.stderr
    after = fares_by_day(dev)
    assert set(after) == set(before)
    for day, (n, s) in before.items():
        assert after[day][0] == n
        assert after[day][1] == (s * 100 if day == "2024-01-02" else s), day
    info = dev.json("table", "get", "trips")
    assert info["records"] == DAYS * ZONES * PER
    # An Iceberg overwrite snapshot on top of the REPLACE one: history kept.
    with dev.serving() as uri:
        table = RestCatalog("sluice", uri=uri, warehouse="dev").load_table("bauplan.trips")
        history = [s.summary.operation.value for s in table.snapshots()]
        assert history[-1] == "overwrite" and len(history) >= 2
        day2 = table.scan(row_filter=ONE_DAY_ISO).to_arrow()
        assert day2.num_rows == ZONES * PER and min(day2["fare_amount"].to_pylist()) >= 1000
        previous = table.snapshots()[-2].snapshot_id
        assert table.scan(snapshot_id=previous).to_arrow().num_rows == DAYS * ZONES * PER
        assert len(list(table.scan(row_filter=ONE_DAY_ISO).plan_files())) == len(
            {bucket8(100 + z) for z in range(ZONES)}
        )


def test_overwrite_filter_with_params_replaces_matching_rows_only(dev, make_project):
    assert write_trips(dev, make_project, "REPLACE").returncode == 0
    before = fares_by_day(dev)
    params = """\
              zone:
                type: int
                default: 103
"""
    run = write_trips(
        dev,
        make_project,
        "OVERWRITE_PARTITIONS",
        filter_="PULocationID = $zone",
        overwrite_filter="PULocationID = $zone",
        body="return t.slice(0, 3)",
        params=params,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # Zone 103 had DAYS * PER rows; the model kept 3 of them; every other row is untouched.
    total = dev.query("SELECT COUNT(*) AS n FROM trips", "dev")[0]["n"]
    assert total == DAYS * ZONES * PER - DAYS * PER + 3
    assert dev.query('SELECT COUNT(*) AS n FROM trips WHERE "PULocationID" = 103', "dev")[0]["n"] == 3
    assert sum(n for n, _ in fares_by_day(dev).values()) == total
    assert set(fares_by_day(dev)) == set(before)


@pytest.mark.parametrize(
    "overwrite_filter, words",
    [
        ("PULocationID = 103", ["trips", "rows are outside overwrite_filter"]),
        ("PULocationID = = 3", ["trips", "overwrite_filter", "is not a filter"]),
        ("nope = 3", ["trips", "overwrite_filter", "nope"]),
    ],
)
def test_bad_overwrites_are_one_clear_error_and_write_nothing(dev, make_project, overwrite_filter, words):
    assert write_trips(dev, make_project, "REPLACE").returncode == 0
    head = dev.head("dev")
    run = write_trips(dev, make_project, "OVERWRITE_PARTITIONS", overwrite_filter=overwrite_filter)
    assert run.returncode != 0
    text = run.stdout + run.stderr
    assert "Traceback" not in text
    for word in words:
        assert word in text, text
    assert dev.json("table", "get", "trips")["records"] == DAYS * ZONES * PER
    assert dev.head("dev") == head


def model_project(make_project, name, strategy, body, inputs=""):
    return make_project(
        {
            "models.py": HEADER
            + f'''
import pyarrow as pa

@bauplan.model(materialization_strategy="{strategy}")
def {name}({inputs}):
    {body}
'''
        }
    )


def test_append_evolves_the_schema_and_old_files_read_with_nulls(sluice, make_project):
    sluice("checkout", "-b", "dev")
    first = (
        "return pa.table({'PULocationID': pa.array([1, 2], pa.int32()), "
        "'fare': pa.array([1.5, 2.5], pa.float32())})"
    )
    sluice("run", "-p", model_project(make_project, "counts", "REPLACE", first))
    wider = (
        "return pa.table({'PULocationID': pa.array([3000000000], pa.int64()), "
        "'fare': [3.5], 'tip_amount': [0.5]})"
    )
    sluice("run", "-p", model_project(make_project, "counts", "append", wider))
    columns = {c["name"]: c["type"] for c in sluice.json("table", "get", "counts")["fields"]}
    assert columns["PULocationID"] in ("long", "int64") and columns["tip_amount"] in ("double", "float64"), (
        columns
    )
    # A model reads the old file (int, float, no tip) and the new one through one schema.
    sluice(
        "run", "-p", model_project(make_project, "copy", "REPLACE", "return c", 'c=bauplan.Model("counts")')
    )
    rows = sluice.query('SELECT "PULocationID", fare, tip_amount FROM copy ORDER BY 1', "dev")
    assert rows == [
        {"PULocationID": 1, "fare": 1.5, "tip_amount": None},
        {"PULocationID": 2, "fare": 2.5, "tip_amount": None},
        {"PULocationID": 3000000000, "fare": 3.5, "tip_amount": 0.5},
    ]
    head = sluice.head("dev")
    bad = "return pa.table({'PULocationID': ['x'], 'fare': [1.0]})"
    run = sluice("run", "-p", model_project(make_project, "counts", "APPEND", bad), check=False)
    assert run.returncode != 0
    text = run.stdout + run.stderr
    assert "counts" in text and "column 'PULocationID' is string in the data and long in the table" in text, (
        text
    )
    assert "Traceback" not in text
    assert sluice.head("dev") == head


def test_pyiceberg_appends_to_a_partitioned_table_through_rest_and_scans_still_prune(
    dev, taxi_file, make_project
):
    # pyiceberg computes only identity partitions without pyiceberg-core (not installed here).
    dev("table", "create", "daily", "--search-uri", taxi_file, "--partitioned-by", "PULocationID")
    dev("table", "import", "daily", "--search-uri", taxi_file)
    with dev.serving() as uri:
        table = RestCatalog("sluice", uri=uri, warehouse="dev").load_table("bauplan.daily")
        table.append(taxi(days=1, zones=2, per=1, first_day=20))
        assert len(list(table.refresh().scan().plan_files())) == ZONES + 2
    assert dev.json("table", "get", "daily")["records"] == DAYS * ZONES * PER + 2
    project = make_project(
        {
            "models.py": HEADER
            + """
@bauplan.model(materialization_strategy="REPLACE")
def late(t=bauplan.Model("daily", filter="PULocationID = 101")):
    return t
"""
        }
    )
    run = dev("run", "-p", project)
    assert f"daily: 2 of {ZONES + 2} files" in run.stdout, run.stdout
    assert dev.json("table", "get", "late")["records"] == DAYS * PER + 1


def test_replace_keeps_the_history_and_time_travel_reads_it(dev, make_project):
    assert write_trips(dev, make_project, "REPLACE").returncode == 0
    assert write_trips(dev, make_project, "REPLACE", filter_=ONE_DAY).returncode == 0
    assert dev.json("table", "get", "trips")["records"] == ZONES * PER
    with dev.serving() as uri:
        table = RestCatalog("sluice", uri=uri, warehouse="dev").load_table("bauplan.trips")
        snapshots = table.snapshots()
        assert len(snapshots) == 2 and snapshots[-1].parent_snapshot_id == snapshots[0].snapshot_id
        assert table.scan(snapshot_id=snapshots[0].snapshot_id).to_arrow().num_rows == DAYS * ZONES * PER
        assert table.scan().to_arrow().num_rows == ZONES * PER


def test_overwrite_filter_is_checked_on_the_tables_first_write_too(dev, make_project):
    """The same model must not pass on its first run (the table does not exist yet) and fail
    on later ones: rows outside overwrite_filter are refused either way."""
    head = dev.head("dev")
    run = write_trips(dev, make_project, "OVERWRITE_PARTITIONS", overwrite_filter="PULocationID = 103")
    assert run.returncode != 0 and "rows are outside overwrite_filter" in run.stdout + run.stderr
    assert "trips" not in [t["name"].split(".")[-1] for t in dev.json("table", "ls")]
    assert dev.head("dev") == head
