"""Tables in shared memory: Arrow IPC files written through recycled arena files and mapped
without copying. The protocol is the C++ ObjectStore's (src/data/README.md): a writer claims
the smallest arena file large enough (else the largest) by renaming it, truncates it to the
exact size, writes into it, and renames it into place."""

import os
import secrets

import pyarrow as pa
import pyarrow.ipc as ipc


def _write_options():
    try:
        return ipc.IpcWriteOptions(alignment=64)
    except TypeError:
        return ipc.IpcWriteOptions()


def _write(sink, table):
    with ipc.new_file(sink, table.schema, options=_write_options()) as writer:
        writer.write_table(table)


def _claim(arena_dir, size, temp):
    candidates = []
    try:
        with os.scandir(arena_dir) as entries:
            for entry in entries:
                if entry.name.endswith(".buf"):
                    try:
                        candidates.append((entry.stat().st_size, entry.path))
                    except FileNotFoundError:
                        pass
    except FileNotFoundError:
        pass
    fitting = sorted(c for c in candidates if c[0] >= size)
    others = sorted((c for c in candidates if c[0] < size), reverse=True)
    for _, path in fitting + others:
        try:
            os.rename(path, temp)
            break
        except FileNotFoundError:
            continue  # another writer took it
    fd = os.open(temp, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def write_table(table, path, arena_dir=None):
    """Writes `table` as an IPC file at `path` (through the arena when given)."""
    counter = pa.MockOutputStream()
    _write(counter, table)
    size = counter.size()
    temp = f"{path}.tmp-{secrets.token_hex(4)}"
    if arena_dir:
        _claim(arena_dir, size, temp)
    else:
        fd = os.open(temp, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(fd, size)
        os.close(fd)
    try:
        # Plain writes into the recycled file (its pages are resident) beat writing through
        # a mapping, which faults every page in again.
        with open(temp, "r+b", buffering=0) as f:
            _write(pa.PythonFile(f, mode="w"), table)
    except BaseException:
        os.unlink(temp)
        raise
    os.rename(temp, path)
    return size


class OutputTooLarge(Exception):
    """A model's output over the engine's limit for one output (SLUICE_MAX_OUTPUT_BYTES)."""


def write_table_to(table, fd, max_bytes=0):
    """Writes `table` as an IPC file into the open file `fd` (the engine's), from its start;
    over `max_bytes` (0: no limit) nothing is written and OutputTooLarge is raised."""
    counter = pa.MockOutputStream()
    _write(counter, table)
    size = counter.size()
    if max_bytes and size > max_bytes:
        raise OutputTooLarge(
            f"the output is {size} bytes ({table.num_rows} rows, {table.num_columns} columns), more than the "
            f"limit of {max_bytes} bytes for one model's output; return fewer rows or columns, or raise "
            "SLUICE_MAX_OUTPUT_BYTES"
        )
    os.ftruncate(fd, size)
    with open(os.dup(fd), "r+b", buffering=0) as f:
        _write(pa.PythonFile(f, mode="w"), table)
    return size


def read_table(source, columns=None):
    """Maps an IPC file, given by path or open descriptor: no copy, no deserialization.
    Field metadata is dropped."""
    if isinstance(source, int):
        from sluice import _heap

        (mapped,) = _heap.read_segments([source])  # an output may hand its buffers on
        table = ipc.open_file(mapped).read_all()
    else:
        table = ipc.open_file(pa.memory_map(source, "r")).read_all()
    return project(table, columns)


def project(table, columns):
    """The named columns of `table` (all for None or ["*"]), without metadata; no copy."""
    if columns and list(columns) != ["*"]:
        from sluice._names import resolve_columns

        table = table.select(resolve_columns(columns, table.column_names))
    return strip_metadata(table)


def strip_metadata(table):
    schema = table.schema
    if schema.metadata is None and all(f.metadata is None for f in schema):
        return table
    fields = [f.remove_metadata() for f in schema]
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))
