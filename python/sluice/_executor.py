"""A function worker: `python -m sluice._executor`, started in its sandbox by `sluice
_executors` (src/exec/function_executors.h), runs the calls of sluice.map, call_async and
Dask graphs that its client sends on its channel, until the client closes it.

The channel (python/sluice/_channel.py) arrives on stdin as b"channel\\n" with one descriptor.
Messages from the client:
    ("function", fn_id)          parts: [the function]          kept for later calls
    ("calls", [(call_id, fn_id, n_args_parts), ...])
                                 parts: per call, n_args_parts parts; the first holds
                                 (args, kwargs), each further one the value of a placeholder
                                 _Arg(i) in args/kwargs (a result the client forwards)
    ("forget", [fn_id, ...])     functions no longer needed
Messages to the client:
    ("results", [(call_id, ok, t_start, t_end), ...])
                                 parts: per call, its return value, or (type name, message,
                                 traceback text, the exception itself or None)

Calls run one at a time in arrival order. Results are sent in batches: whenever no message is
waiting, and at least every few milliseconds while calls keep arriving.
"""

import collections
import os
import select
import socket
import sys
import time
import traceback

from sluice import _channel


def _substitute(value, extras):
    return _channel.map_leaves(value, lambda x: extras[x.index] if isinstance(x, _channel.Arg) else x)


def _now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _error_part(exc):
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        return _channel.Part.dump((type(exc).__qualname__, str(exc), tb, exc))
    except Exception:  # an exception that does not pickle travels as text
        return _channel.Part.dump((type(exc).__qualname__, str(exc), tb, None))


class _Worker:
    _FLUSH_SECONDS = 0.002

    def __init__(self, sock):
        self.sock = sock
        self.functions = {}
        self.loads = _channel.loads_with_functions(self.functions)
        self.pending = collections.deque()  # (call_id, fn_id, parts)
        self.results, self.result_parts = [], []
        self.first_unsent = None

    def read_available(self, block):
        """Reads messages; blocks for the first one when `block`. False at the channel's end."""
        while True:
            if not block and not select.select([self.sock], [], [], 0)[0]:
                return True
            block = False
            try:
                header, parts = _channel.receive(self.sock)
            except _channel.ChannelClosed:
                return False
            kind = header[0]
            if kind == "function":
                self.functions[header[1]] = parts[0].load(self.loads)
            elif kind == "calls":
                at = 0
                for call_id, fn_id, n in header[1]:
                    self.pending.append((call_id, fn_id, parts[at : at + n]))
                    at += n
            elif kind == "forget":
                for fn_id in header[1]:
                    self.functions.pop(fn_id, None)

    def run_one(self):
        call_id, fn_id, parts = self.pending.popleft()
        start = _now()
        try:
            args, kwargs = parts[0].load(self.loads)
            if len(parts) > 1:
                extras = [p.load(self.loads) for p in parts[1:]]
                args, kwargs = _substitute(args, extras), _substitute(kwargs, extras)
            value = self.functions[fn_id](*args, **kwargs)
            part, ok = _channel.Part.dump(value), True
        except BaseException as exc:  # the user's failure is a result, sys.exit() included
            part, ok = _error_part(exc), False
        self.results.append((call_id, ok, start, _now()))
        self.result_parts.append(part)
        if self.first_unsent is None:
            self.first_unsent = start
        if _channel.batch_size(self.result_parts) > _channel.MAX_INLINE or len(self.result_parts) > 200:
            self.flush()

    def flush(self):
        if self.results:
            _channel.send(self.sock, ("results", self.results), self.result_parts)
            for part in self.result_parts:
                part.close()
        self.results, self.result_parts, self.first_unsent = [], [], None

    def serve(self):
        open_ = True
        while open_ or self.pending:
            if not self.pending:
                self.flush()
                open_ = self.read_available(block=True)
                continue
            self.run_one()
            if open_:
                open_ = self.read_available(block=False)
            if not self.pending or _now() - (self.first_unsent or _now()) > self._FLUSH_SECONDS:
                self.flush()
        self.flush()


def _receive_channel():
    stdin = socket.socket(fileno=os.dup(0))
    message, fds, _, _ = socket.recv_fds(stdin, 64, 1)
    stdin.close()
    if message != b"channel\n" or len(fds) != 1:
        sys.exit("sluice._executor: expected a channel on stdin")
    return socket.socket(fileno=fds[0])


def main():
    sock = _receive_channel()
    try:
        _Worker(sock).serve()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client went away: nobody to answer
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skip interpreter teardown (as sluice._worker does)


if __name__ == "__main__":
    main()
