"""`sluice query` runs here, in a query worker: a model worker (sluice._worker, forked from the
server's DuckDB zygote or started fresh) that is sent a task of kind "query"
(src/exec/query_runner.cc). The conversation, on the worker's stdin socket:

    engine -> worker   b"task\\n" with three descriptors: the task's JSON {kind: "query", sql,
                       max_rows (int or null), output ("json" | "tty" | "arrow" |
                       "arrow_stream"), persistent (bool)}, the result to write, and the file
                       to write the rows into: the printed lines for "tty" and "json", an
                       Arrow IPC file for "arrow", an Arrow IPC stream for "arrow_stream"
                       (written batch by batch as DuckDB produces them, and ended at
                       max_rows: an API answer, sent on as it is)
    worker -> engine   b"tables {json}\\n": what DuckDB's parser finds the SQL reads
                       (sluice._sql_analysis: tables, columns, uses_star), or nothing when the
                       SQL is not one query; the worker then writes the parse error as its
                       result and ends
    engine -> worker   b"inputs\\n" with the inputs' JSON {inputs, descriptors} and the first
                       descriptors, then b"fds\\n" messages with the rest (240 to a message);
                       or b"stop\\n" when the engine refuses (an unknown table)

Each input is {sql_names, arrow: i} (an Arrow IPC file in shared memory: the engine scanned
it), {sql_names, stream: i} (a socket the engine writes an Arrow IPC stream into as it scans:
a table the query reads once, on S3 or external; DuckDB computes as the batches come, and a
stream cut by a failed scan ends in an error here, while the engine reports the scan's) or
{sql_names, parquet: [i, ...], columns, schema: i} (the table's own Parquet data files,
read by DuckDB itself with its filter and projection pushdown and streaming; `schema` is an
empty Arrow file with the columns' types, for columns older files lack), with i indexing the
message's descriptors after the JSON's. Then the user's SQL runs with DuckDB's file access off
except for those files (sluice._query_database). The result is {"ok": true, "rows": N} or
{"ok": false, "error": {"message", "line", "parse"}}.

A task with "persistent": true makes this a persistent query worker (src/exec/query_worker.h):
once the result is written it sends

    worker -> engine   b"done\\n"

and waits for the next b"task\\n" on the same socket, in the same database (its caches warm),
until the engine closes the socket. Otherwise the worker ends after its one query.
"""

import datetime
import decimal
import json
import os
import socket
import sys

# Not pyarrow (nor sluice._worker, _arena or _heap, which import it): its import (numpy's
# with it) costs more than DuckDB's, and a printed answer of plain types never needs it.
# Arrow answers, Arrow inputs and the other types import it when they come.
from sluice import _duckdb, _query_database, _sql_analysis

_quote = _duckdb.quote

# A request line longer than this is cut by the engine (src/common/subprocess.cc); a shorter
# analysis that reads every column is always right.
_MAX_REQUEST = 60_000
_MAX_DESCRIPTORS = 253

# Column types that DuckDB turns into the same Python values as pyarrow's to_pylist() does
# (DECIMAL(p, s) too): a printed answer of only these is made from DuckDB's own rows. Others
# (TIMESTAMPTZ, HUGEINT, INTERVAL, UUID, nested, ...) are printed from Arrow, as before.
_PLAIN_TYPES = {
    "BOOLEAN",
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "VARCHAR",
    "DATE",
    "TIME",
    "TIMESTAMP",
    "BLOB",
}
# Rows past max_rows counted from DuckDB's Python rows (about 1.5 µs a row); an answer with
# more is printed from Arrow instead, which counts the rest as batches go by.
_PLAIN_COUNT_LIMIT = 10_000


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


def _format_tty(names, rows, total):
    """`rows` (tuples of values in `names`' order) as printed, with the query's row count."""
    shown = len(rows)
    rows = [[("NULL" if v is None else str(_plain(v))) for v in row] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in rows]) for i, n in enumerate(names)]
    lines = ["  ".join(n.ljust(w) for n, w in zip(names, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows]
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


def _parquet_view(con, spec, fds, paths, index):
    """A view over the table's Parquet files, by their stable paths (`paths`: by descriptor
    index), with exactly its columns: columns files lack (added to the table after they were
    written) are NULLs of the table's type."""
    paths = [paths[i] for i in spec["parquet"]]
    # Every footer is read here (and kept by the database's metadata cache for the next
    # queries); the query's bind reads them again from that cache.
    source = f"read_parquet({paths!r}, union_by_name = true)"
    present = {name.lower() for name in con.sql(f"SELECT * FROM {source} LIMIT 0").columns}
    select = []
    typed = None
    names = spec.get("columns")
    if names is None:  # an engine from before "columns": the names from the schema
        names = _read_arrow(fds[spec["schema"]]).column_names
    for name in names:
        if name.lower() in present:
            select.append(_quote(name))
            continue
        if typed is None:
            # The types of the columns the files lack: from the schema, through Arrow.
            schema = _read_arrow(fds[spec["schema"]])
            con.register(f"__sluice_schema_{index}", schema)
            typed = {row[0]: row[1] for row in con.sql(f"DESCRIBE __sluice_schema_{index}").fetchall()}
        select.append(f"CAST(NULL AS {typed[name]}) AS {_quote(name)}")
    return f"SELECT {', '.join(select) or '*'} FROM {source}"


class _Views:
    """The query's tables under their SQL names. Bare names are temporary views of the query's
    connection; "ns.t" needs schema ns, which only the database's own catalog can hold, so
    those views (and the schemas made for them) are dropped again once the query ends."""

    def __init__(self, con):
        self.con = con
        self.named = []  # "ns"."t" views in the database's catalog
        self.schemas = []  # schemas made for them

    def add(self, internal, names):
        for name in names or []:
            if "." not in name:
                self.con.execute(f"CREATE OR REPLACE TEMP VIEW {_quote(name)} AS SELECT * FROM {internal}")
                continue
            schema, _, relation = name.partition(".")
            exists = self.con.execute(
                "SELECT count(*) FROM duckdb_schemas() WHERE database_name = current_database() "
                "AND schema_name = ?",
                [schema],
            ).fetchone()[0]
            if not exists:
                self.con.execute(f"CREATE SCHEMA {_quote(schema)}")
                self.schemas.append(schema)
            target = f"{_quote(schema)}.{_quote(relation)}"
            self.con.execute(f"CREATE OR REPLACE VIEW {target} AS SELECT * FROM {internal}")
            self.named.append(target)

    def drop(self):
        for target in self.named:
            self.con.execute(f"DROP VIEW IF EXISTS {target}")
        for schema in self.schemas:
            self.con.execute(f"DROP SCHEMA IF EXISTS {_quote(schema)} CASCADE")


def _read_arrow(fd):
    """The Arrow IPC file `fd` (a table the engine scanned, or a schema) as a pyarrow.Table."""
    from sluice import _arena

    return _arena.read_table(fd)


def _open_stream(fd, streams):
    """The Arrow IPC stream the engine writes into the socket `fd` as it scans, as a
    pyarrow.RecordBatchReader (kept in `streams`, closed after the query)."""
    import pyarrow as pa

    # Buffered: Arrow's reader asks for whole messages, a raw socket returns what has come.
    source = os.fdopen(os.dup(fd), "rb", buffering=1 << 20)
    streams.append(source)
    return pa.ipc.open_stream(source)


def _register(con, inputs, fds, paths, views, streams):
    """Registers every input under its SQL names (temporary views of `con`, or `views`)."""
    for index, spec in enumerate(inputs):
        internal = f"__sluice_input_{index}"
        if "stream" in spec:
            # Read once, by the query's one scan of it (the engine streams only such tables).
            con.register(internal, _open_stream(fds[spec["stream"]], streams))
        elif "arrow" in spec:
            con.register(internal, _read_arrow(fds[spec["arrow"]]))
        else:
            view = _parquet_view(con, spec, fds, paths, index)
            con.execute(f"CREATE TEMP VIEW {internal} AS {view}")
        views.add(internal, spec.get("sql_names"))


def _plain_rows(relation, max_rows):
    """(names, the first `max_rows` rows (all when None), how many rows the query has) from
    DuckDB's own rows, without pyarrow; None when the answer must go through Arrow (see
    _PLAIN_TYPES and _PLAIN_COUNT_LIMIT).
    `relation` is then consumed in part: the caller runs the query again."""
    names = list(relation.columns)
    types = [str(t) for t in relation.types]
    if not all(t in _PLAIN_TYPES or t.startswith("DECIMAL(") for t in types):
        return None
    if max_rows is None:
        rows = relation.fetchall()
        return names, rows, len(rows)
    rows = relation.fetchmany(max_rows) if max_rows > 0 else []
    total = len(rows)
    if total < max_rows:
        return names, rows, total
    while total - len(rows) <= _PLAIN_COUNT_LIMIT:
        more = relation.fetchmany(2048)
        if not more:
            return names, rows, total
        total += len(more)
    return None


def _fetch(relation, max_rows):
    """The first `max_rows` rows (all when None) as a pyarrow.Table, and how many rows the
    query has: the rest is counted as it streams by, never held."""
    import pyarrow as pa

    from sluice._worker import arrow_result

    # One run of the query only: fetch_record_batch starts one, and a streamed input can be
    # read once.
    if max_rows is None or not hasattr(relation, "fetch_record_batch"):
        table = arrow_result(relation)
        return (table if max_rows is None else table.slice(0, max_rows)), table.num_rows
    reader = relation.fetch_record_batch(65536)
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


def _write_text(task, text):
    """The rows as printed lines (tty, json), into the output file: never on stdout, which a
    worker serving many queries shares between them."""
    data = (text + "\n").encode()
    fd = task["output_fd"]
    while data:
        data = data[os.write(fd, data) :]


def _run_query(task, sock, database):
    con = database.connect()
    try:
        analysis = _sql_analysis.analyze(con, task["sql"])
        if "error" in analysis:
            _failed(task, analysis["error"], analysis.get("line", 0), parse=True)
            return
        received = _ask_for_inputs(sock, analysis)
        if received is None:
            return  # the engine refused; it reports why
        inputs, fds = received
        # The data files go to the database at once (held, or closed as duplicates); every
        # other descriptor is this query's and is closed after it.
        paths = {}
        try:
            for spec in inputs:
                for i in spec.get("parquet") or []:
                    paths[i] = database.path_of(fds[i])
            views = _Views(con)
            streams = []
            try:
                _answer(task, con, inputs, fds, paths, views, streams)
            finally:
                views.drop()
                # The engine's scan stops once its socket is closed (a query that did not
                # read a stream to its end: LIMIT, an error).
                for source in streams:
                    source.close()
        finally:
            for i, fd in enumerate(fds):
                if i not in paths:
                    os.close(fd)
    finally:
        con.close()
        heap = sys.modules.get("sluice._heap")  # loaded only if an input was a heap table
        if heap is not None:
            heap.forget_inputs()
        database.end_query()


def _answer(task, con, inputs, fds, paths, views, streams):
    try:
        _register(con, inputs, fds, paths, views, streams)
        relation = con.sql(task["sql"])
        if relation is None:
            _write_result(task, {"ok": True, "rows": 0})
            return
        output = task.get("output")
        if output == "arrow_stream":
            rows = _stream_to(relation, task.get("max_rows"), task["output_fd"])
            _write_result(task, {"ok": True, "rows": rows})
            return
        # A streamed input can be read once: no second run of the query then, so its rows go
        # through Arrow at once (which a stream has imported anyway).
        plain = None if output == "arrow" or streams else _plain_rows(relation, task.get("max_rows"))
        if plain is None:
            if output != "arrow" and not streams:
                relation = con.sql(task["sql"])  # from the start again, through Arrow
            table, total = _fetch(relation, task.get("max_rows"))
            if output == "arrow":
                from sluice import _arena

                _arena.write_table_to(table, task["output_fd"])
                _write_result(task, {"ok": True, "rows": total})
                return
            # By column, not to_pylist()'s dicts, which keep one of columns of the same name.
            columns = [column.to_pylist() for column in table.columns]
            plain = table.column_names, list(zip(*columns)) if columns else [], total
    except Exception as e:
        _failed(task, e)
        return
    names, rows, total = plain
    if output == "json":
        _write_text(task, json.dumps([{k: _plain(v) for k, v in zip(names, row)} for row in rows]))
    else:
        _write_text(task, _format_tty(names, rows, total))
    _write_result(task, {"ok": True, "rows": total})


def run(task, sock):
    """Runs one query task (see above) on the engine's socket `sock`: in a database of its own,
    or, with "persistent" in the task, in a database kept for every task that follows on
    `sock` until the engine closes it."""
    database = _query_database.Database()
    while True:
        try:
            _run_query(task, sock, database)
        finally:
            for fd in (task["result_fd"], task["output_fd"]):
                os.close(fd)
        if not task.get("persistent"):
            return
        if database.worn_out():
            database.close()
            database = _query_database.Database()
        sock.sendall(b"done\n")
        task = _next_task(sock)
        if task is None:
            return


def _next_task(sock):
    """The next b"task\n" and its three descriptors; None when the engine has closed the
    socket (or sent anything else, which ends the worker too)."""
    message, fds, _, _ = socket.recv_fds(sock, 4096, 3)
    if not message.startswith(b"task") or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return None
    with os.fdopen(fds[0], "rb") as f:
        task = json.load(f)
    if task.get("kind") != "query":
        os.close(fds[1]), os.close(fds[2])
        return None
    task["result_fd"], task["output_fd"] = fds[1], fds[2]
    return task
