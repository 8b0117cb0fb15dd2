"""The worker process on hand-written tasks: the protocol src/exec/worker_call.cc speaks."""

import json
import os

import pyarrow as pa
import pytest
from worker_harness import run_worker

from sluice import _arena


def make_task(workdir, kind="python", **overrides):
    task = {
        "kind": kind,
        "model": "m",
        "project_dir": str(workdir / "project"),
        "file": "models.py",
        "function": "m",
        "line": 1,
        "sql": "",
        "inputs": [],
        "arguments": {},
        "expectation": False,
        "expected_columns": None,
        "output_path": str(workdir / "out.arrow"),
        "arena_dir": str(workdir / "arena"),
        "result_path": str(workdir / "result.json"),
    }
    task.update(overrides)
    return task


def put_input(workdir, name, table):
    path = str(workdir / f"{name}.arrow")
    _arena.write_table(table, path)
    return {"param": name, "name": name, "path": path, "columns": None, "sql_names": [name]}


def write_models(workdir, body):
    (workdir / "project" / "models.py").write_text("import bauplan\n\n" + body)


ZONES = pa.table({"zone_id": [1, 2, 3], "borough": ["Queens", "Bronx", "Queens"]})


@pytest.mark.parametrize(
    "expr",
    [
        "import pandas as pd\n    return pd.DataFrame({'a': [1, 2], 'b': ['x', 'y']})",
        "import polars as pl\n    return pl.DataFrame({'a': [1, 2], 'b': ['x', 'y']})",
        "return [{'a': 1, 'b': 'x'}, {'a': 2, 'b': 'y'}]",
        "import pyarrow as pa\n    return pa.table({'a': [1, 2], 'b': ['x', 'y']})",
    ],
)
def test_return_types_become_arrow(workdir, expr):
    write_models(workdir, f"def m():\n    {expr}\n")
    result, _ = run_worker(make_task(workdir), workdir / "project")
    assert result["ok"], result
    out = _arena.read_table(str(workdir / "out.arrow"))
    assert out.to_pylist() == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    assert result["t_user_start"] <= result["t_user_return"] <= result["t_output_written"]


def test_inputs_are_mapped_and_projected(workdir):
    write_models(
        workdir,
        "def m(zones, n):\n    print('rows', zones.num_rows)\n"
        "    assert zones.column_names == ['borough']\n"
        "    return zones.slice(0, n)\n",
    )
    spec = put_input(workdir, "zones", ZONES)
    spec["columns"] = ["borough"]
    result, proc = run_worker(make_task(workdir, inputs=[spec], arguments={"n": 2}), workdir / "project")
    assert result["ok"], result
    assert result["num_rows"] == 2
    assert "rows 3" in proc.stdout


def test_a_raising_model_reports_the_users_file_and_line(workdir):
    write_models(workdir, "def m():\n    x = 1\n    raise ValueError('bad data')\n")
    result, _ = run_worker(make_task(workdir), workdir / "project")
    assert not result["ok"]
    error = result["error"]
    assert error["type"] == "ValueError" and error["message"] == "bad data"
    assert error["file"] == "models.py" and error["line"] == 5
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert "_worker.py" not in error["traceback"]
    assert error["traceback"].endswith("ValueError: bad data")


def test_an_unsupported_return_type_names_the_model_and_type(workdir):
    write_models(workdir, "def m():\n    return 42\n")
    result, _ = run_worker(make_task(workdir), workdir / "project")
    assert not result["ok"]
    assert "model 'm' returned int" in result["error"]["message"]


def test_column_mismatch_is_reported(workdir):
    write_models(workdir, "def m():\n    return [{'a': 1}]\n")
    result, _ = run_worker(make_task(workdir, expected_columns=["a", "b"]), workdir / "project")
    assert result["ok"]
    assert result["column_mismatch"] == {"expected": ["a", "b"], "actual": ["a"]}


@pytest.mark.parametrize(
    "body,key,value",
    [
        ("return True", "expectation", True),
        ("return False", "expectation", False),
        ("assert 1 == 2, 'counts differ'", "expectation_error", "counts differ"),
        ("return 'yes'", "expectation_error", "expectation returned unsupported type str"),
    ],
)
def test_expectations(workdir, body, key, value):
    write_models(workdir, f"def m():\n    {body}\n")
    result, _ = run_worker(make_task(workdir, expectation=True), workdir / "project")
    assert result["ok"] and result[key] == value
    assert not os.path.exists(workdir / "out.arrow")


def test_sql_models_run_in_duckdb_over_the_inputs(workdir):
    spec = put_input(workdir, "zones", ZONES)
    spec["sql_names"] = ["zones", "bauplan.zones"]
    sql = "SELECT borough, COUNT(*) AS n, FROM bauplan.zones GROUP BY borough ORDER BY borough"
    result, _ = run_worker(
        make_task(workdir, kind="sql", sql=sql, inputs=[spec], file="q.sql"), workdir / "project"
    )
    assert result["ok"], result
    assert _arena.read_table(str(workdir / "out.arrow")).to_pylist() == [
        {"borough": "Bronx", "n": 1},
        {"borough": "Queens", "n": 2},
    ]
    bad = make_task(workdir, kind="sql", sql="SELECT nope FROM zones", inputs=[spec], file="q.sql")
    result, _ = run_worker(bad, workdir / "project")
    assert not result["ok"] and "nope" in result["error"]["message"]


def test_stdin_mode_preloads_the_module(workdir):
    write_models(
        workdir,
        "import sys\nPRELOADED = 'pyarrow' in sys.modules\n\n"
        "def m():\n    return [{'preloaded': PRELOADED}]\n",
    )
    result, _ = run_worker(make_task(workdir), workdir / "project", "--preload", "models.py")
    assert result["ok"], result
    assert _arena.read_table(str(workdir / "out.arrow")).to_pylist() == [{"preloaded": True}]


def test_a_module_that_fails_to_import_is_reported_with_the_task(workdir):
    write_models(workdir, "import no_such_module_here\n\ndef m():\n    return []\n")
    result, _ = run_worker(make_task(workdir), workdir / "project", "--preload", "models.py")
    assert not result["ok"]
    assert result["error"]["type"] == "ModuleNotFoundError"
    assert result["error"]["line"] == 3


def test_writes_reuse_arena_files(workdir):
    table = pa.table({"v": list(range(1000))})
    recycled = workdir / "arena" / "old.buf"
    recycled.write_bytes(b"\0" * 100000)
    _arena.write_table(table, str(workdir / "t.arrow"), str(workdir / "arena"))
    assert not recycled.exists()
    assert _arena.read_table(str(workdir / "t.arrow")).equals(table)


def run_query(workdir, sql, answer, max_rows=None, output="json"):
    """Plays the engine of sluice._query's conversation (src/exec/query_runner.cc) over a
    socket pair: the worker's request, then `answer(request) -> (message, descriptors)`.
    Returns (what it asked, its result, what it printed)."""
    import contextlib
    import io
    import socket
    import threading

    from sluice import _query

    engine, worker = socket.socketpair()
    result = os.memfd_create("result")
    rows = os.memfd_create("output")
    # The worker closes the task's descriptors once it has answered: it gets copies.
    task = {
        "kind": "query",
        "sql": sql,
        "inputs": [],
        "max_rows": max_rows,
        "output": output,
        "result_fd": os.dup(result),
        "output_fd": os.dup(rows),
    }
    printed = io.StringIO()
    asked = []

    def serve():
        line = engine.makefile("rb").readline()
        if line:
            asked.append(json.loads(line[len(b"tables ") :]))
            message, fds = answer(asked[-1])
            socket.send_fds(engine, [message], fds)

    thread = threading.Thread(target=serve)
    thread.start()
    with contextlib.redirect_stdout(printed):
        _query.run(task, worker)
    worker.close()
    thread.join()
    engine.close()
    written = os.pread(result, 1 << 20, 0)
    # The rows go to the output file (never stdout, which a persistent worker shares).
    lines = printed.getvalue() + os.pread(rows, 1 << 20, 0).decode()
    os.close(result), os.close(rows)
    return asked, json.loads(written) if written else None, lines


def inputs_message(workdir, specs):
    """b"inputs" with the inputs' JSON and their descriptors, as the engine sends them."""
    fds = []
    inputs = []
    for spec in specs:
        spec = dict(spec)
        if "table" in spec:
            path = str(workdir / f"{spec['sql_names'][0]}.arrow")
            _arena.write_table(spec.pop("table"), path)
            fds.append(os.open(path, os.O_RDONLY))
            spec["arrow"] = len(fds) - 1
        else:
            files = spec.pop("files")
            schema_path = str(workdir / "schema.arrow")
            _arena.write_table(spec.pop("schema"), schema_path)
            fds.append(os.open(schema_path, os.O_RDONLY))
            spec["schema"] = len(fds) - 1
            spec["parquet"] = []
            for file in files:
                fds.append(os.open(file, os.O_RDONLY))
                spec["parquet"].append(len(fds) - 1)
        inputs.append(spec)
    spec_fd = os.memfd_create("inputs")
    os.write(spec_fd, json.dumps({"inputs": inputs}).encode())
    os.lseek(spec_fd, 0, os.SEEK_SET)
    return b"inputs\n", [spec_fd] + fds


def test_a_query_asks_for_its_tables_and_prints_json_rows(workdir):
    sql = "SELECT borough, COUNT(*) AS n FROM zones GROUP BY 1 ORDER BY 1"
    asked, result, printed = run_query(
        workdir,
        sql,
        lambda _: inputs_message(workdir, [{"sql_names": ["zones"], "table": ZONES}]),
        max_rows=1,
    )
    expected = {"tables": ["zones"], "columns": ["borough"], "uses_star": False, "filters": []}
    assert asked == [{**expected, "read_once": ["zones"]}]
    assert result == {"ok": True, "rows": 2}  # all rows counted, max_rows printed
    assert json.loads(printed) == [{"borough": "Bronx", "n": 1}]


def test_a_query_reads_parquet_files_by_descriptor_with_missing_columns_as_nulls(workdir):
    import pyarrow.parquet as pq

    old = workdir / "old.parquet"
    new = workdir / "new.parquet"
    pq.write_table(pa.table({"PULocationID": [1, 2]}), old)  # written before fare was added
    pq.write_table(pa.table({"PULocationID": [3], "fare": [9.5]}), new)
    schema = pa.schema([("PULocationID", pa.int64()), ("fare", pa.float64())]).empty_table()
    spec = {"sql_names": ["taxi"], "files": [old, new], "schema": schema}
    _, result, printed = run_query(
        workdir, "SELECT PULocationID, fare FROM taxi ORDER BY 1", lambda _: inputs_message(workdir, [spec])
    )
    assert result == {"ok": True, "rows": 3}
    assert json.loads(printed) == [
        {"PULocationID": 1, "fare": None},
        {"PULocationID": 2, "fare": None},
        {"PULocationID": 3, "fare": 9.5},
    ]
    # Only old files: the column still exists, typed, all NULL.
    spec["files"] = [old]
    _, result, printed = run_query(
        workdir,
        "SELECT typeof(fare) AS t, count(fare) AS n FROM taxi GROUP BY 1",
        lambda _: inputs_message(workdir, [spec]),
    )
    assert json.loads(printed) == [{"t": "DOUBLE", "n": 0}]


def test_a_query_that_does_not_parse_asks_for_nothing(workdir):
    asked, result, printed = run_query(workdir, "SELEC nonsense", lambda _: (b"stop\n", []))
    assert asked == [] and printed == ""
    assert result["ok"] is False and result["error"]["parse"] is True and result["error"]["line"] == 1
    # Refused by the engine (an unknown table): the worker ends quietly, the engine reports.
    asked, result, printed = run_query(workdir, "SELECT * FROM nowhere", lambda _: (b"stop\n", []))
    assert asked[0]["tables"] == ["nowhere"] and result is None and printed == ""


def test_a_query_error_is_a_result_not_a_crash(workdir):
    _, result, _ = run_query(
        workdir,
        "SELECT nope FROM zones",
        lambda _: inputs_message(workdir, [{"sql_names": ["zones"], "table": ZONES}]),
    )
    assert (
        result["ok"] is False and "nope" in result["error"]["message"] and result["error"]["parse"] is False
    )
