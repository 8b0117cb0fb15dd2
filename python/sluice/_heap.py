"""A model's output handed over without a copy: its buffers stay where the model built them.

A worker's large allocations live in a memory file the engine gave it (the shared heap,
src/env/shared_heap.c, preloaded into the interpreter). When the output's buffers are in that
heap, or are buffers of the worker's own inputs (a model that returns an input, a slice or a
projection of one), the output is not an Arrow IPC file but a heap table: a short JSON
description of where each buffer is, followed by the few buffers that are elsewhere (small
ones from glibc, copied). The engine seals the heap once the worker is gone, checks every
reference against the memory it names, and maps the same pages (src/data/heap_table.h).

Heap table file: HEAP_MAGIC, the JSON's length (8 bytes, little-endian), the JSON, then, from
the next 64-byte boundary, the copied buffers (the file's segment: offsets count from there).
JSON:
  {"schema": base64 of the Arrow IPC schema message,
   "batches": [{"rows": N, "columns": [NODE, ...]}, ...]}
NODE: [length, null_count, offset, [BUFFER | null, ...], [NODE, ...] (children), NODE | null
(dictionary)], in Arrow's ArrayData layout. BUFFER: [segment, offset, size]. Segments, as the
worker writes them: 0 the file itself, 1 the heap, 2 + m the m-th segment of the task's inputs
taken in order (an IPC input is one segment, its file; a heap-table input has its own list).
"""

import base64
import ctypes
import json
import mmap
import os
import struct

import pyarrow as pa

HEAP_MAGIC = b"SLUICE-HEAP-TABLE\n"
_ALIGN = 64
# Below this many bytes out of place, an ordinary IPC file is as quick and is what every tool reads.
_MIN_SHARED_BYTES = 1 << 20


class _ArrowArray(ctypes.Structure):
    pass


_ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
    ("dictionary", ctypes.POINTER(_ArrowArray)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]
_Release = ctypes.CFUNCTYPE(None, ctypes.POINTER(_ArrowArray))


class _Heap:
    base = 0
    enabled = False


def _library():
    try:
        lib = ctypes.CDLL(None)
        return lib if hasattr(lib, "sluice_heap_enable") else None
    except OSError:
        return None


def enable(fd, reserve_bytes):
    """Turns the preloaded heap on over the memory file `fd`; False when it is not there."""
    lib = _library()
    if lib is None:
        return False
    lib.sluice_heap_enable.argtypes = [ctypes.c_int, ctypes.c_uint64, ctypes.c_uint64]
    if lib.sluice_heap_enable(fd, reserve_bytes, 0) != 0:
        return False
    _Heap.enabled = True
    return True


def _heap_range():
    lib = _library()
    if lib is None or not _Heap.enabled:
        return 0, 0
    base, used = ctypes.c_uint64(), ctypes.c_uint64()
    lib.sluice_heap_range(ctypes.byref(base), ctypes.byref(used))
    return base.value, used.value


def freeze():
    """The output lives in the heap from now on: nothing freed is reused or given back."""
    lib = _library()
    if lib is not None and _Heap.enabled:
        lib.sluice_heap_freeze()


# This worker's inputs' mapped segments (files and heaps), in the order of the task's input
# segments. Filled by read_segments and kept until the worker ends: a mapping dropped while it
# runs would let malloc hand its addresses out again, and a buffer there would be taken for
# the input's.
_input_mappings = []


def _is_plain(t):
    """Types whose Arrow C layout is their ArrayData layout, which the engine rebuilds as is."""
    if pa.types.is_dictionary(t):
        return _is_plain(t.index_type) and _is_plain(t.value_type)
    if pa.types.is_null(t) or pa.types.is_union(t) or isinstance(t, pa.ExtensionType):
        return False
    for name in (
        "is_binary_view",
        "is_string_view",
        "is_list_view",
        "is_large_list_view",
        "is_run_end_encoded",
    ):
        check = getattr(pa.types, name, None)
        if check is not None and check(t):
            return False
    return all(_is_plain(t.field(i).type) for i in range(t.num_fields))


class _NotShared(Exception):
    """The output cannot be described in place: it is written as an IPC file instead."""


class _Describer:
    def __init__(self):
        self.heap_base, self.heap_used = _heap_range()
        self.inline = []  # (offset, pa.Buffer)
        self.inline_end = 0
        self.shared_bytes = 0
        self.copied_bytes = 0

    def buffer_ref(self, buffer):
        if buffer is None:
            return None
        address, size = buffer.address, buffer.size
        if size == 0:
            return [0, 0, 0]
        if self.heap_base and self.heap_base <= address and address + size <= self.heap_base + self.heap_used:
            self.shared_bytes += size
            return [1, address - self.heap_base, size]
        for m, mapping in enumerate(_input_mappings):
            if mapping.address <= address and address + size <= mapping.address + mapping.size:
                self.shared_bytes += size
                return [2 + m, address - mapping.address, size]
        offset = _aligned(self.inline_end)
        self.inline.append((offset, buffer))
        self.inline_end = offset + size
        self.copied_bytes += size
        return [0, offset, size]

    def node(self, c_node, expected):
        """The NODE of one exported ArrowArray; `expected` is the chunk's buffers() (its own and
        its children's, depth first), which name the same pointers with their sizes."""
        n = c_node.contents
        buffers = []
        for i in range(n.n_buffers):
            if not expected:
                raise _NotShared("layout")
            buffer = expected.pop(0)
            pointer = n.buffers[i] or 0
            if (buffer.address if buffer is not None else 0) != pointer:
                raise _NotShared("layout")
            buffers.append(self.buffer_ref(buffer))
        children = [self.node(n.children[i], expected) for i in range(n.n_children)]
        return [n.length, n.null_count, n.offset, buffers, children, None]

    def chunk(self, array):
        c_array = _ArrowArray()
        array._export_to_c(ctypes.addressof(c_array))
        try:
            expected = list(array.buffers())
            node = self.node(ctypes.pointer(c_array), expected)
            if c_array.dictionary:
                if not isinstance(array, pa.DictionaryArray):
                    raise _NotShared("nested dictionary")
                node[5] = self.node(c_array.dictionary, list(array.dictionary.buffers()))
            elif expected:
                raise _NotShared("layout")
            return node
        finally:
            if c_array.release:
                _Release(c_array.release)(ctypes.byref(c_array))


def write(table, fd, max_bytes=0):
    """Writes `table` into the output file `fd` as a heap table when most of its bytes are in
    place (the heap, or the inputs); returns the bytes copied, or None when it is not worth it
    (nothing written: the caller writes an IPC file)."""
    if not all(_is_plain(f.type) for f in table.schema):
        return None
    describer = _Describer()
    try:
        batches = [
            {"rows": batch.num_rows, "columns": [describer.chunk(column) for column in batch.columns]}
            for batch in table.to_batches()
        ]
    except _NotShared:
        return None
    if describer.shared_bytes < _MIN_SHARED_BYTES or describer.copied_bytes > describer.shared_bytes:
        return None
    if max_bytes and describer.shared_bytes + describer.copied_bytes > max_bytes:
        return None  # the IPC path reports the limit, with its message
    schema = base64.b64encode(table.schema.serialize().to_pybytes()).decode()
    header = json.dumps({"schema": schema, "batches": batches}, separators=(",", ":")).encode()
    start = _aligned(len(HEAP_MAGIC) + 8 + len(header))
    freeze()
    os.ftruncate(fd, start + describer.inline_end)
    with open(os.dup(fd), "r+b", buffering=0) as f:
        f.write(HEAP_MAGIC + struct.pack("<Q", len(header)) + header)
        for offset, buffer in describer.inline:
            f.seek(start + offset)
            f.write(memoryview(buffer))
    return describer.copied_bytes


def _aligned(n):
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def forget_inputs():
    """Drops the record of the inputs mapped so far (a worker that serves task after task, a
    query worker, lets each task's inputs go once it has ended)."""
    _input_mappings.clear()


def read_segments(fds):
    """Maps an input's segments (read-only) and records where they are, for outputs that pass
    them on. Returns their pa.Buffers, in order."""
    buffers = []
    for fd in fds:
        size = os.fstat(fd).st_size
        buffer = pa.py_buffer(mmap.mmap(fd, size, prot=mmap.PROT_READ)) if size else pa.py_buffer(b"")
        _input_mappings.append(buffer)
        buffers.append(buffer)
    return buffers


def _array(type_, node, segments):
    length, null_count, offset, refs, children, dictionary = node
    buffers = [None if ref is None else segments[ref[0]].slice(ref[1], ref[2]) for ref in refs]
    if pa.types.is_dictionary(type_):
        indices = pa.Array.from_buffers(type_.index_type, length, buffers, null_count, offset)
        values = _array(type_.value_type, dictionary, segments)
        return pa.DictionaryArray.from_arrays(indices, values, ordered=type_.ordered, safe=False)
    child_arrays = [_array(type_.field(i).type, child, segments) for i, child in enumerate(children)]
    return pa.Array.from_buffers(type_, length, buffers, null_count, offset, child_arrays or None)


def read(description, segments):
    """The table a heap table describes (the engine's checked copy of its JSON), over its
    segments' mapped buffers: no copy."""
    schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(description["schema"])))
    batches = []
    for batch in description["batches"]:
        arrays = [_array(field.type, node, segments) for field, node in zip(schema, batch["columns"])]
        batches.append(pa.RecordBatch.from_arrays(arrays, schema=schema))
    return pa.Table.from_batches(batches, schema=schema)
