"""Hostile models against the zero-copy hand-off (issue 10 §3). A model runs in the worker that
writes its output, so it can write any heap table it likes, or keep the memory its output is in
writable. The engine must refuse each with one clear error naming the model, write nothing, and
keep serving: never read outside the memory a buffer names, never trust a table it has not
validated, never read memory that can still change under it."""

import textwrap

import pytest

FORGE = textwrap.dedent("""\
    import base64
    import json
    import os
    import struct

    import bauplan


    def forge(change):
        # The worker writes the output with sluice._heap.write: this model replaces it with one
        # that writes the real description, changed.
        from sluice import _heap

        real = _heap.write

        def forged(table, fd, max_bytes=0):
            if real(table, fd, max_bytes) is None:
                raise RuntimeError("the output was not a heap table to begin with")
            data = os.pread(fd, os.fstat(fd).st_size, 0)
            start = len(_heap.HEAP_MAGIC) + 8
            (length,) = struct.unpack("<Q", data[len(_heap.HEAP_MAGIC) : start])
            description = json.loads(data[start : start + length])
            text = change(description)
            if not isinstance(text, bytes):
                text = json.dumps(description).encode()
            os.ftruncate(fd, 0)
            os.pwrite(fd, _heap.HEAP_MAGIC + struct.pack("<Q", len(text)) + text, 0)
            return 0

        _heap.write = forged


    @bauplan.model(materialization_strategy="REPLACE")
    def forged(trips=bauplan.Model("taxi_trips", columns=["zone_id"])):
        import numpy as np
        import pyarrow as pa

        forge(CHANGE)
        rows = 1 << 20
        x = np.arange(rows, dtype=np.int64)
        return pa.table({"x": x, "y": np.ones(rows), "s": pa.array(["ab"] * rows)})
    """)


CHANGES = {
    # A buffer past the end of the heap: reading it would read the engine's own memory.
    "outside the heap": "lambda d: x_node(d)[3].__setitem__(1, [1, 1 << 40, 8 << 20])",
    "a segment that is not there": "lambda d: x_node(d)[3].__setitem__(1, [99, 0, 8 << 20])",
    "outside an input": "lambda d: x_node(d)[3].__setitem__(1, [2, 1 << 30, 8 << 20])",
    "more rows than the buffer holds": "lambda d: x_node(d).__setitem__(0, 1 << 40)",
    "string offsets into the void": (
        "lambda d: d['batches'][0]['columns'][2][3].__setitem__(1, x_node(d)[3][1])"
    ),
    "too few buffers": "lambda d: x_node(d).__setitem__(3, [None])",
    "a schema that is not one": (
        "lambda d: d.__setitem__('schema', base64.b64encode(b'not a schema').decode())"
    ),
    "not JSON": "lambda d: b'{\"schema\": [[[['",
    "a negative offset": "lambda d: x_node(d)[3].__setitem__(1, [1, -64, 64])",
}


def x_node_source():
    return "def x_node(d):\n    return d['batches'][0]['columns'][0]\n"


@pytest.mark.parametrize("case", sorted(CHANGES))
def test_a_forged_heap_table_is_refused_and_nothing_is_written(lake, make_project, case):
    source = FORGE.replace("forge(CHANGE)", f"forge({CHANGES[case]})") + "\n" + x_node_source()
    project = make_project({"models.py": source})
    before = lake.head("dev")
    proc = lake("run", "-p", project, check=False, timeout=300)
    assert proc.returncode != 0, proc.stdout
    assert "model 'forged'" in proc.stderr
    assert "its output" in proc.stderr
    assert "Traceback" not in proc.stderr  # the engine's refusal, not a crash dump
    assert lake.head("dev") == before
    assert "bauplan.forged" not in lake.tables("dev")
    # The server that refused it still serves.
    assert lake.query("SELECT count(*) AS n FROM taxi_trips", "dev")


LINGER = textwrap.dedent("""\
    import bauplan


    @bauplan.model(materialization_strategy="REPLACE")
    def lingering(trips=bauplan.Model("taxi_trips", columns=["zone_id"])):
        import mmap
        import os
        import time

        import numpy as np
        import pyarrow as pa

        values = np.arange(1 << 21, dtype=np.int64)
        fds = os.listdir("/proc/self/fd")
        heap = next(int(fd) for fd in fds if "sluice-heap" in os.readlink(f"/proc/self/fd/{fd}"))
        read, write = os.pipe()
        if os.fork() == 0:
            # Detached from the worker, the heap mapped writable: to change the output after the
            # engine has checked it.
            os.setsid()
            shared = mmap.mmap(heap, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            os.write(write, b"mapped")
            time.sleep(60)
            shared[:8] = b"\\xff" * 8
            os._exit(0)
        os.read(read, 6)
        return pa.table({"v": values})
    """)


def test_memory_another_process_can_still_write_is_refused(lake, make_project):
    project = make_project({"models.py": LINGER})
    proc = lake("run", "-p", project, check=False, timeout=300)
    if proc.returncode == 0:
        # The sandbox ended the child with the worker: then the output must be intact.
        (got,) = lake.query("SELECT sum(v) AS s, min(v) AS m FROM lingering", "dev")
        n = 1 << 21
        assert (int(got["s"]), int(got["m"])) == (n * (n - 1) // 2, 0)
        pytest.skip("the child did not outlive its worker: nothing could write the heap")
    assert "model 'lingering'" in proc.stderr
    assert "still writable by a process the model left running" in proc.stderr
    assert "bauplan.lingering" not in lake.tables("dev")
    assert lake.query("SELECT count(*) AS n FROM taxi_trips", "dev")
