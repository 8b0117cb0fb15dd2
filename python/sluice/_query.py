"""`sluice query` runs here, in a sandbox with no project (src/exec/query_runner.cc):
`python -m sluice._query`, which gets its task on stdin, a Unix socket: b"task\n" with open
descriptors attached, the task's JSON {sql, inputs [{sql_names}], max_rows (int or null),
output ("json" | "tty" | "arrow")}, then one read-only descriptor per input, then, for
"arrow", the file to write. (`python -m sluice._query TASK_JSON` reads a task file whose
inputs carry a path and whose output has an output_path.) DuckDB queries the mapped tables;
errors print one line, "error: ...", and exit 1."""

import datetime
import decimal
import json
import os
import socket
import stat
import sys

from sluice import _arena
from sluice._worker import _duckdb_connection, arrow_result, lock_down, register_inputs


def _plain(value):
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return value


def _format_tty(table, total):
    names = table.column_names
    rows = [[("NULL" if v is None else str(_plain(v))) for v in row.values()] for row in table.to_pylist()]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
    shown = table.num_rows
    lines.append(
        f"({total} row{'s' if total != 1 else ''})"
        if shown == total
        else f"(showing {shown} of {total} rows)"
    )
    return "\n".join(lines)


def _receive_task(argv):
    if len(argv) > 1:
        with open(argv[1]) as f:
            return json.load(f)
    if not stat.S_ISSOCK(os.fstat(0).st_mode):
        path = sys.stdin.readline().strip()
        if not path:
            return None
        with open(path) as f:
            return json.load(f)
    message, fds, _, _ = socket.recv_fds(socket.socket(fileno=os.dup(0)), 4096, 253)
    if not message.startswith(b"task") or not fds:
        return None
    with os.fdopen(fds[0], "rb") as f:
        task = json.load(f)
    inputs = task["inputs"]
    if len(fds) - 1 not in (len(inputs), len(inputs) + 1):
        raise RuntimeError(f"{len(fds) - 1} descriptors for {len(inputs)} inputs")
    for spec, fd in zip(inputs, fds[1:]):
        spec["fd"] = fd
    if len(fds) - 1 > len(inputs):
        task["output_fd"] = fds[-1]
    return task


def main(argv):
    try:
        # Without TASK_JSON the engine starts us early: load DuckDB, then wait for the task's
        # path on stdin while it scans the tables.
        con = _duckdb_connection()
        task = _receive_task(argv)
        if task is None:
            return 1  # the engine gave up before sending a task
        sources = [spec.get("fd", spec.get("path")) for spec in task["inputs"]]
        register_inputs(
            con, [(spec, _arena.read_table(source)) for spec, source in zip(task["inputs"], sources)]
        )
        lock_down(con)
        try:
            table = arrow_result(con.sql(task["sql"]))
        except Exception as e:
            print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
            return 1
        if table is None:
            return 0
        total = table.num_rows
        if task.get("max_rows") is not None:
            table = table.slice(0, task["max_rows"])
        if task.get("output") == "arrow":
            if "output_fd" in task:
                _arena.write_table_to(table, task["output_fd"])
            else:
                _arena.write_table(table, task["output_path"])
        elif task.get("output") == "json":
            rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]
            print(json.dumps(rows))
        else:
            print(_format_tty(table, total))
        return 0
    except Exception as e:
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    code = main(sys.argv)
    # Ends without the interpreter's teardown: DuckDB's threads can abort it at shutdown
    # ("terminate called without an active exception", duckdb/duckdb#13904), which would turn
    # an answered query into a failed one.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
