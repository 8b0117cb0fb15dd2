"""A query worker started fresh, for one query: `python -m sluice._query_worker`, with the
engine's socket as stdin (src/exec/worker_call.cc). A server starts one when its DuckDB zygote
is not serving yet (its first query); workers forked from the zygote start in sluice._worker
instead. It reads one b"task\\n" of kind "query" and runs it as sluice._query says.

Not `python -m sluice._worker --stdin`: that module imports pyarrow (and numpy) first, which
here costs more than DuckDB's import and the query together, and a printed answer of plain
types never uses it (sluice._query imports it only for what needs it).
"""

import os
import socket
import sys

from sluice import _query


def main():
    sock = socket.socket(fileno=os.dup(0))
    task = _query._next_task(sock)
    if task is not None:
        _query.run(task, sock)
    return 0


if __name__ == "__main__":
    code = main()
    # As sluice._worker: the engine waits for this process to end before it reads the result,
    # so it ends right after its output is flushed, without the interpreter's teardown.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
