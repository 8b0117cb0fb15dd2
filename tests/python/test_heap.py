"""sluice._heap on its own: heap tables written and read back by the worker's code, with the
real preloaded heap (build/libsluice-heap.so) in a child interpreter, as a worker runs."""

import ctypes
import gc
import mmap
import os
import subprocess
import sys
import textwrap

import pytest
from worker_harness import PYTHON_DIR, ROOT

from sluice import _heap

HEAP_LIBRARY = ROOT / "build" / "libsluice-heap.so"


def run_with_heap(code):
    if not HEAP_LIBRARY.exists():
        pytest.fail("build first: make build")
    env = dict(
        os.environ,
        LD_PRELOAD=str(HEAP_LIBRARY),
        ARROW_DEFAULT_MEMORY_POOL="system",
        PYTHONPATH=str(PYTHON_DIR),
    )
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


ROUND_TRIP = """\
    import json, os, struct
    import numpy as np, pyarrow as pa
    from sluice import _heap

    heap = os.memfd_create("heap", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    assert _heap.enable(heap, 64 << 30)
    n = 300_000
    ids = np.arange(n)
    table = pa.table({
        "a": ids,
        "f": np.random.default_rng(0).random(n),
        "s": pa.array([f"x{i % 1000}" for i in range(n)]),
        "d": pa.array([f"k{i % 7}" for i in range(n)]).dictionary_encode(),
        "l": pa.ListArray.from_arrays(
            pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32)), pa.array(np.arange(2 * n))
        ),
        "st": pa.StructArray.from_arrays([pa.array(ids), pa.array(ids.astype(str))], ["p", "q"]),
        "b": pa.array(ids % 3 == 0),
        "n": pa.array(np.where(ids % 5 == 0, None, ids), type=pa.int64()),
    })
    table = pa.concat_tables([table, table.slice(1000, 50_000)])
    out = os.memfd_create("out", os.MFD_CLOEXEC)
    copied = _heap.write(table, out)
    data = os.pread(out, os.fstat(out).st_size, 0)
    start = len(_heap.HEAP_MAGIC) + 8
    (length,) = struct.unpack("<Q", data[len(_heap.HEAP_MAGIC):start])
    description = json.loads(data[start:start + length])
    data_start = _heap._aligned(start + length)

    def file_relative(node):  # what the engine does to the file's own segment
        for ref in node[3]:
            if ref is not None and ref[0] == 0:
                ref[1] += data_start
        for child in node[4]:
            file_relative(child)
        if node[5]:
            file_relative(node[5])

    for batch in description["batches"]:
        for column in batch["columns"]:
            file_relative(column)
    back = _heap.read(description, _heap.read_segments([out, heap]))
    back.validate(full=True)
    print(json.dumps({"equal": back.equals(table), "copied": copied, "rows": back.num_rows}))
    """


def test_a_heap_table_reads_back_equal_for_every_type_we_describe():
    result = __import__("json").loads(run_with_heap(ROUND_TRIP))
    assert result["equal"] and result["rows"] == 350_000
    # Only the small buffers (under the heap's 256 KiB) were copied into the file.
    assert 0 < result["copied"] < 1 << 20


def test_an_output_of_a_type_it_cannot_describe_is_left_to_the_ipc_path():
    import pyarrow as pa

    out = os.memfd_create("out", os.MFD_CLOEXEC)
    try:
        union = pa.UnionArray.from_sparse(
            pa.array([0, 1], type=pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])]
        )
        assert _heap.write(pa.table({"u": union}), out) is None
        assert _heap.write(pa.table({"x": pa.array([1, 2, 3])}), out) is None  # too small to be worth it
        assert os.fstat(out).st_size == 0  # nothing written
    finally:
        os.close(out)


def test_an_inputs_memory_stays_mapped_while_the_worker_runs(tmp_path):
    # Were it unmapped once its table is dropped, malloc could hand its addresses out again and
    # a new buffer there would be described as the input's memory (a bug seen at 4 M rows).
    path = tmp_path / "input"
    path.write_bytes(b"\0" * (1 << 20))
    fd = os.open(path, os.O_RDONLY)
    try:
        (buffer,) = _heap.read_segments([fd])
        address, size = buffer.address, buffer.size
        del buffer
        gc.collect()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [
            ctypes.c_void_p,
            ctypes.c_size_t,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_long,
        ]
        map_fixed_noreplace = 0x100000
        got = libc.mmap(
            address, size, mmap.PROT_READ, mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | map_fixed_noreplace, -1, 0
        )
        assert got in (None, ctypes.c_void_p(-1).value), "the input's mapping was gone"
    finally:
        os.close(fd)
        _heap._input_mappings.clear()
