"""The worker that runs one model: `python -m sluice._worker TASK_JSON` or, started ahead of
its inputs, `python -m sluice._worker --stdin [--preload FILE | --preload-duckdb | --no-warm-up]`,
which imports what the model needs and then reads its task on stdin (`--no-warm-up`: a query
worker, sluice._query, which pays for nothing it may not use).

The task comes from src/exec/worker_call.cc as b"task\n" on a Unix socket (stdin, or the
zygote's connection) with open descriptors attached (SCM_RIGHTS), in this order: the task's
JSON, the result to write, the output to write, the shared heap (when the task says "heap":
see sluice._heap), then one per input, read-only, then the other segments of the inputs that
are heap tables (each input's "segments" of them, input after input). The worker
sees no path of the engine's: in a sandbox there is none to see. (A path on one line instead
of b"task" names a task file whose paths are the files themselves, for runs without a
sandbox's descriptors.)

Task JSON: kind ("python" | "sql" | "query": see sluice._query), model, project_dir, file,
function, line, sql, inputs [{param, name, columns, sql_names, heap_table, segments} (+ path in
a task file)], arguments, expectation, expected_columns, heap, max_output_bytes (+ output_path,
arena_dir, result_path in a task file).

Result (JSON): {"ok": true, num_rows, num_columns, t_user_start, t_user_return,
t_output_written, [expectation | expectation_error | column_mismatch]} or {"ok": false,
"error": {type, message, traceback, file, line}}. Times are CLOCK_MONOTONIC seconds, so the
engine can compare them across processes. User code failing is a result, not a crash: the
process exits 0 whenever it wrote a result.
"""

import importlib
import json
import os
import re
import site
import socket
import stat
import sys
import time
import traceback


def _use_environment():
    """Puts the model's environment (store directories, SLUICE_SITE_DIRS) in front of
    sys.path before anything is imported, so its packages win over the base ones."""
    dirs = [d for d in os.environ.get("SLUICE_SITE_DIRS", "").split(":") if d]
    if not dirs:
        return
    before = list(sys.path)
    for d in dirs:
        site.addsitedir(d)  # also runs the directory's .pth files
    added = [p for p in sys.path if p not in before]
    sys.path[:] = added + before


_use_environment()

import pyarrow as pa  # noqa: E402  (after the environment is in place)

from sluice import _arena, _duckdb, _heap  # noqa: E402


def _now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class _Preloaded:
    module = None
    module_name = None
    error = None


def _module_name(file):
    return os.path.splitext(os.path.basename(file))[0]


def preload_module(file):
    """Imports the model's module ahead of its task; an error is reported with the task."""
    _Preloaded.module_name = _module_name(file)
    try:
        _Preloaded.module = importlib.import_module(_Preloaded.module_name)
    except BaseException as e:  # reported with the task it breaks
        _Preloaded.error = e


def _import_model_module(file):
    name = _module_name(file)
    if _Preloaded.module_name == name:
        if _Preloaded.error is not None:
            raise _Preloaded.error
        return _Preloaded.module
    return importlib.import_module(name)


def _user_frames(tb, project_dir):
    root = os.path.realpath(project_dir) + os.sep
    return [f for f in traceback.extract_tb(tb) if os.path.realpath(f.filename).startswith(root)]


def _error(exc, project_dir, default_file="", default_line=0):
    frames = _user_frames(exc.__traceback__, project_dir)
    text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames)) if frames else ""
    text += "".join(traceback.format_exception_only(type(exc), exc))
    file, line = default_file, default_line
    if frames:
        file = os.path.relpath(frames[-1].filename, project_dir)
        line = frames[-1].lineno
    elif isinstance(exc, SyntaxError) and exc.filename:
        file = os.path.relpath(exc.filename, project_dir) if os.path.isabs(exc.filename) else exc.filename
        line = exc.lineno or 0
    return {
        "type": type(exc).__name__,
        "message": str(exc),
        "traceback": text.rstrip("\n"),
        "file": file,
        "line": line,
    }


def _normalize_types(table):
    """Polars emits view types; downstream readers (Iceberg, DuckDB) want plain ones."""
    fields, columns, changed = [], [], False
    for field, column in zip(table.schema, table.columns):
        target = None
        if pa.types.is_string_view(field.type):
            target = pa.large_string()
        elif pa.types.is_binary_view(field.type):
            target = pa.large_binary()
        if target is not None:
            column = column.cast(target)
            field = field.with_type(target)
            changed = True
        fields.append(field)
        columns.append(column)
    if not changed:
        return table
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def to_arrow(value, model):
    """A model's return value as a pyarrow Table."""
    if isinstance(value, pa.Table):
        table = value
    elif isinstance(value, pa.RecordBatch):
        table = pa.Table.from_batches([value])
    else:
        module = type(value).__module__.split(".")[0]
        if module == "pandas" and type(value).__name__ == "DataFrame":
            table = pa.Table.from_pandas(value, preserve_index=False)
        elif module == "polars" and type(value).__name__ == "DataFrame":
            table = value.to_arrow()
        elif isinstance(value, list) and all(isinstance(row, dict) for row in value):
            table = pa.Table.from_pylist(value)
        else:
            raise TypeError(
                f"model '{model}' returned {type(value).__name__}; expected a "
                "pyarrow.Table, a pandas or polars DataFrame, or a list of dicts"
            )
    return _arena.strip_metadata(_normalize_types(table)).replace_schema_metadata(None)


def warm_up(sql=False):
    """Runs what a call runs once, ahead of any task: pyarrow imports pandas lazily on its
    first conversion from Python objects, and DuckDB imports it (and more) on its first query
    over an Arrow table; a second or more that would otherwise land on every first call."""
    table = to_arrow([{"x": 1}], "warm-up")
    if sql:
        # A query worker's own modules, and DuckDB's parser as the analysis calls it.
        from sluice import _query, _sql_analysis  # noqa: F401

        con = _duckdb_connection()
        con.register("warm_up", table)
        arrow_result(con.sql("SELECT * FROM warm_up"))
        _sql_analysis.analyze(con, "SELECT x FROM warm_up WHERE x > 0")
        con.close()


def _load_inputs(task):
    inputs = []
    for spec in task["inputs"]:
        if spec.get("heap_table"):
            segments = _heap.read_segments([spec["fd"]] + spec.get("segment_fds", []))
            table = _arena.project(_heap.read(spec["heap_table"], segments), spec.get("columns"))
        else:
            table = _arena.read_table(spec.get("fd", spec.get("path")), spec.get("columns"))
        inputs.append((spec, table))
    return inputs


def _run_python(task, result):
    module = _import_model_module(task["file"])
    fn = getattr(module, task["function"], None)
    if fn is None:
        raise AttributeError(f"{task['file']} has no function '{task['function']}'")
    kwargs = {spec["param"]: table for spec, table in _load_inputs(task)}
    kwargs.update(task.get("arguments") or {})
    result["t_user_start"] = _now()
    value = fn(**kwargs)
    result["t_user_return"] = _now()
    return value


def prepare_duckdb():
    """Opens the task's DuckDB connection ahead of the task (sluice._duckdb.prepare)."""
    _duckdb.prepare()


_duckdb_connection = _duckdb.connection


def lock_down(con):
    """After the inputs are registered, the user's SQL sees nothing else: no files (read_text,
    COPY ... TO, ATTACH, INSTALL), and no setting can turn that back on. The inputs are Arrow
    tables Sluice read itself, so DuckDB needs no file access of its own."""
    con.execute("SET enable_external_access=false")
    con.execute("SET lock_configuration=true")


def register_inputs(con, inputs):
    """Each input under each of its SQL names; "ns.t" becomes a view in schema ns."""
    for i, (spec, table) in enumerate(inputs):
        internal = f"__sluice_input_{i}"
        con.register(internal, table)
        for name in spec.get("sql_names") or []:
            if "." in name:
                schema, _, relation = name.partition(".")
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
                con.execute(
                    f"CREATE OR REPLACE VIEW {_quote(schema)}.{_quote(relation)} AS SELECT * FROM {internal}"
                )
            else:
                con.execute(f"CREATE OR REPLACE VIEW {_quote(name)} AS SELECT * FROM {internal}")


_quote = _duckdb.quote


def arrow_result(relation):
    for method in ("to_arrow_table", "fetch_arrow_table", "arrow"):
        if hasattr(relation, method):
            value = getattr(relation, method)()
            if isinstance(value, pa.RecordBatchReader):
                value = value.read_all()
            return value
    raise RuntimeError("this DuckDB cannot return Arrow tables")


def _run_sql(task, result):
    con = _duckdb_connection()
    register_inputs(con, _load_inputs(task))
    lock_down(con)
    result["t_user_start"] = _now()
    try:
        table = arrow_result(con.sql(task["sql"]))
    except Exception as e:  # DuckDB's errors: report them as the model's, with the line
        match = re.search(r"LINE (\d+):", str(e))
        raise _SqlError(type(e).__name__, str(e).strip(), int(match.group(1)) if match else 0) from e
    result["t_user_return"] = _now()
    return table


class _SqlError(Exception):
    def __init__(self, kind, message, line):
        super().__init__(message)
        self.kind, self.line = kind, line


def _same_columns(declared, actual):
    """model(columns=[...]) against the output, names resolved by the name rule (_names.py)."""
    from sluice._names import resolve

    try:
        return [resolve(name, actual) for name in declared] == list(actual)
    except (KeyError, ValueError):
        return False


def run_task(task):
    result = {"ok": True}
    try:
        if task["kind"] == "sql":
            value = _run_sql(task, result)
        else:
            value = _run_python(task, result)
        if task.get("expectation"):
            if isinstance(value, bool) or type(value).__name__ == "bool_":
                result["expectation"] = bool(value)
            else:
                result["expectation_error"] = f"expectation returned unsupported type {type(value).__name__}"
            result["t_output_written"] = _now()
            return result
        table = to_arrow(value, task["model"])
        if "output_fd" in task:
            copied = (
                _heap.write(table, task["output_fd"], task.get("max_output_bytes") or 0)
                if task.get("heap")
                else None
            )
            if copied is None:
                _arena.write_table_to(table, task["output_fd"], task.get("max_output_bytes") or 0)
        else:
            _arena.write_table(table, task["output_path"], task.get("arena_dir"))
        result["t_output_written"] = _now()
        result["num_rows"] = table.num_rows
        result["num_columns"] = table.num_columns
        expected = task.get("expected_columns")
        if expected and expected != ["*"] and not _same_columns(expected, table.column_names):
            result["column_mismatch"] = {"expected": list(expected), "actual": table.column_names}
        return result
    except AssertionError as e:
        if task.get("expectation"):
            result["expectation_error"] = str(e) or "assertion failed"
            result.setdefault("t_user_return", _now())
            result["t_output_written"] = _now()
            return result
        return {"ok": False, "error": _error(e, task["project_dir"], task["file"], task.get("line", 0))}
    except _SqlError as e:
        return {
            "ok": False,
            "error": {
                "type": e.kind,
                "message": str(e),
                "traceback": "",
                "file": task["file"],
                "line": e.line,
            },
        }
    except Exception as e:
        return {"ok": False, "error": _error(e, task["project_dir"], task["file"], task.get("line", 0))}


def _write_result(task, result):
    if "result_fd" in task:
        data = json.dumps(result).encode()
        fd = task["result_fd"]
        os.ftruncate(fd, 0)
        while data:
            data = data[os.write(fd, data) :]
        return
    path = task["result_path"]
    temp = path + ".tmp"
    with open(temp, "w") as f:
        json.dump(result, f)
    os.replace(temp, path)


def _run_file(task_path):
    with open(task_path) as f:
        task = json.load(f)
    _write_result(task, run_task(task))


_MAX_DESCRIPTORS = 253  # the kernel's SCM_MAX_FD
# Address space for the shared heap, not memory: pages are only used as the model touches them.
_HEAP_RESERVE_BYTES = 256 << 30


def run_received(sock):
    """Receives one task on `sock` (see above) and runs it; nothing when the engine closed it."""
    message, fds, _, _ = socket.recv_fds(sock, 4096, _MAX_DESCRIPTORS)
    if message.startswith(b"task") and len(fds) >= 3:
        with os.fdopen(fds[0], "rb") as f:
            task = json.load(f)
        task["result_fd"], task["output_fd"] = fds[1], fds[2]
        rest = fds[3:]
        if task.get("heap") and rest:
            # The model's large buffers go to the engine's memory file from here on.
            task["heap"] = _heap.enable(rest.pop(0), _HEAP_RESERVE_BYTES)
        inputs = task["inputs"]
        if len(rest) != len(inputs) + sum(spec.get("segments", 0) for spec in inputs):
            raise RuntimeError(f"{len(rest)} input descriptors for {len(inputs)} inputs")
        for spec, fd in zip(inputs, rest):
            spec["fd"] = fd
        rest = rest[len(inputs) :]
        for spec in inputs:
            count = spec.get("segments", 0)
            spec["segment_fds"], rest = rest[:count], rest[count:]
        if task.get("kind") == "query":  # `sluice query`: its inputs come when it asks
            from sluice import _query

            _query.run(task, sock)
            return
        # sluice.map inside the model asks the engine for function workers on this socket.
        os.environ["SLUICE_ENGINE_FD"] = str(sock.fileno())
        _write_result(task, run_task(task))
        return
    for fd in fds:
        os.close(fd)
    line = message.split(b"\n")[0].decode().strip()
    if line:
        _run_file(line)


def main(argv):
    args = argv[1:]
    if args and args[0] == "--stdin":
        if "--preload" in args:
            preload_module(args[args.index("--preload") + 1])
        if "--no-warm-up" not in args:
            warm_up(sql="--preload-duckdb" in args)
        if stat.S_ISSOCK(os.fstat(0).st_mode):
            run_received(socket.socket(fileno=os.dup(0)))
            return 0
        line = sys.stdin.readline().strip()
        if not line:
            return 0  # the engine no longer needs this worker
        _run_file(line)
        return 0
    if len(args) != 1:
        print("usage: python -m sluice._worker TASK_JSON | --stdin [--preload FILE]", file=sys.stderr)
        return 2
    _run_file(args[0])
    return 0


if __name__ == "__main__":
    code = main(sys.argv)
    # The engine waits for this process to end before it reads the result; interpreter
    # teardown (unloading pyarrow, numpy, pandas) takes tens of milliseconds and would sit on
    # the hand-off path, so the process ends right after its output is flushed.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
