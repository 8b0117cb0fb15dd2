"""`sluice query` runs here, in a query worker: a model worker (sluice._worker, forked from the
server's DuckDB zygote or started fresh) that is sent a task of kind "query"
(src/exec/query_runner.cc). The conversation, on the worker's stdin socket:

    engine -> worker   b"task\\n" with three descriptors: the task's JSON {kind: "query", sql,
                       max_rows (int or null), output ("json" | "tty" | "arrow" |
                       "arrow_stream")}, the result to write, and the file to write the rows
                       into: an Arrow IPC file for "arrow", an Arrow IPC stream for
                       "arrow_stream" (written batch by batch as DuckDB produces them, and
                       ended at max_rows: an API answer, sent on as it is)
    worker -> engine   b"tables {json}\\n": what DuckDB's parser finds the SQL reads
                       (sluice._sql_analysis: tables, columns, uses_star), or nothing when the
                       SQL is not one query; the worker then writes the parse error as its
                       result and ends
    engine -> worker   b"inputs\\n" with the inputs' JSON {inputs, descriptors} and the first
                       descriptors, then b"fds\\n" messages with the rest (240 to a message);
                       or b"stop\\n" when the engine refuses (an unknown table)

Each input is {sql_names, arrow: i} (an Arrow IPC file in shared memory: the engine scanned
it) or {sql_names, parquet: [i, ...], columns, schema: i} (the table's own Parquet data files,
read by DuckDB itself with its filter and projection pushdown and streaming; `schema` is an
empty Arrow file with the columns' types, for columns older files lack), with i indexing the
message's descriptors after the JSON's. Then the user's SQL runs with DuckDB's file access off
except for those descriptors. Rows go to stdout (tty, json) or the Arrow file; the result is
{"ok": true, "rows": N} or {"ok": false, "error": {"message", "line", "parse"}}.
"""

import datetime
import decimal
import json
import os
import socket

from sluice import _arena, _sql_analysis
from sluice._worker import _duckdb_connection, _quote, arrow_result, lock_down, register_inputs

# A request line longer than this is cut by the engine (src/common/subprocess.cc); a shorter
# analysis that reads every column is always right.
_MAX_REQUEST = 60_000
_MAX_DESCRIPTORS = 253


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


def _write_result(task, result):
    data = json.dumps(result).encode()
    os.ftruncate(task["result_fd"], 0)
    os.pwrite(task["result_fd"], data, 0)


def _failed(task, message, line=0, parse=False):
    _write_result(
        task,
        {"ok": False, "error": {"message": " ".join(str(message).split()), "line": line, "parse": parse}},
    )


def _ask_for_inputs(sock, analysis):
    request = json.dumps(analysis)
    if len(request) > _MAX_REQUEST:
        request = json.dumps({"tables": analysis["tables"], "columns": [], "uses_star": True})
    sock.sendall(b"tables " + request.encode() + b"\n")
    answer, fds, _, _ = socket.recv_fds(sock, 7, _MAX_DESCRIPTORS)
    if not answer.startswith(b"inputs") or not fds:
        for fd in fds:
            os.close(fd)
        return None
    with os.fdopen(fds[0], "rb") as f:
        spec = json.load(f)
    fds = fds[1:]
    # A table of many files: the rest of the descriptors follow, b"fds\n" at a time.
    while len(fds) < spec.get("descriptors", len(fds)):
        answer, more, _, _ = socket.recv_fds(sock, 4, _MAX_DESCRIPTORS)
        if answer != b"fds\n" or not more:
            raise RuntimeError("the engine's descriptors ended early")
        fds += more
    return spec["inputs"], fds


def _parquet_view(con, spec, fds, index):
    """A view over the table's Parquet files, by descriptor, with exactly its columns: columns
    files lack (added to the table after they were written) are NULLs of the table's type."""
    paths = [f"/proc/self/fd/{fds[i]}" for i in spec["parquet"]]
    schema = _arena.read_table(fds[spec["schema"]])
    # The probe below reads every footer; the query's bind reads them again from this cache.
    con.execute("SET parquet_metadata_cache = true")
    source = f"read_parquet({paths!r}, union_by_name = true)"
    present = {name.lower() for name in con.sql(f"SELECT * FROM {source} LIMIT 0").columns}
    select = []
    typed = None
    for name in schema.column_names:
        if name.lower() in present:
            select.append(_quote(name))
            continue
        if typed is None:
            con.register(f"__sluice_schema_{index}", schema)
            typed = {row[0]: row[1] for row in con.sql(f"DESCRIBE __sluice_schema_{index}").fetchall()}
        select.append(f"CAST(NULL AS {typed[name]}) AS {_quote(name)}")
    return f"SELECT {', '.join(select) or '*'} FROM {source}", paths


def _register(con, inputs, fds):
    """Registers every input under its SQL names; returns the paths DuckDB may open."""
    allowed = []
    arrow_inputs = []
    for index, spec in enumerate(inputs):
        if "arrow" in spec:
            arrow_inputs.append((spec, _arena.read_table(fds[spec["arrow"]])))
            continue
        view, paths = _parquet_view(con, spec, fds, index)
        allowed += paths
        internal = f"__sluice_files_{index}"
        con.execute(f"CREATE OR REPLACE VIEW {internal} AS {view}")
        for name in spec.get("sql_names") or []:
            if "." in name:
                schema, _, relation = name.partition(".")
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(schema)}")
                target = f"{_quote(schema)}.{_quote(relation)}"
            else:
                target = _quote(name)
            con.execute(f"CREATE OR REPLACE VIEW {target} AS SELECT * FROM {internal}")
    register_inputs(con, arrow_inputs)
    return allowed


def _fetch(relation, max_rows):
    """The first `max_rows` rows (all when None) and how many rows the query has: the rest is
    counted as it streams by, never held."""
    import pyarrow as pa

    reader = relation.fetch_record_batch(65536) if hasattr(relation, "fetch_record_batch") else None
    if reader is None or max_rows is None:
        table = arrow_result(relation)
        return (table if max_rows is None else table.slice(0, max_rows)), table.num_rows
    kept, total = [], 0
    for batch in reader:
        if total < max_rows:
            kept.append(batch.slice(0, max_rows - total))
        total += batch.num_rows
    return pa.Table.from_batches(kept, schema=reader.schema), total


def _stream_to(relation, max_rows, fd):
    """Writes the query's rows into `fd` as an Arrow IPC stream, a batch at a time as DuckDB
    produces them, and stops DuckDB at `max_rows`: the result is never held whole here.
    Returns the number of rows written."""
    import pyarrow as pa

    reader = relation.fetch_record_batch(65536)
    written = 0
    with open(os.dup(fd), "wb", buffering=1 << 20) as out, pa.ipc.new_stream(out, reader.schema) as writer:
        for batch in reader:
            if max_rows is not None and written + batch.num_rows >= max_rows:
                writer.write_batch(batch.slice(0, max_rows - written))
                written = max_rows
                break
            writer.write_batch(batch)
            written += batch.num_rows
    return written


def run(task, sock):
    """Runs one query task (see above) on the engine's socket `sock`."""
    con = _duckdb_connection()
    analysis = _sql_analysis.analyze(con, task["sql"])
    if "error" in analysis:
        _failed(task, analysis["error"], analysis.get("line", 0), parse=True)
        return
    received = _ask_for_inputs(sock, analysis)
    if received is None:
        return  # the engine refused; it reports why
    inputs, fds = received
    try:
        allowed = _register(con, inputs, fds)
        if allowed:
            con.execute(f"SET allowed_paths = {allowed!r}")
        lock_down(con)
        relation = con.sql(task["sql"])
        if relation is None:
            _write_result(task, {"ok": True, "rows": 0})
            return
        if task.get("output") == "arrow_stream":
            rows = _stream_to(relation, task.get("max_rows"), task["output_fd"])
            _write_result(task, {"ok": True, "rows": rows})
            return
        table, total = _fetch(relation, task.get("max_rows"))
    except Exception as e:
        _failed(task, e)
        return
    if task.get("output") == "arrow":
        _arena.write_table_to(table, task["output_fd"])
    elif task.get("output") == "json":
        rows = [{k: _plain(v) for k, v in row.items()} for row in table.to_pylist()]
        print(json.dumps(rows), flush=True)
    else:
        print(_format_tty(table, total), flush=True)
    _write_result(task, {"ok": True, "rows": total})
