"""A function worker: `python -m sluice._executor`, started in its sandbox by `sluice
_executors` (src/exec/function_executors.h), runs the calls of sluice.map, call_async and
Dask graphs that its client sends on its channel, until the client closes it.

The channel (python/sluice/_channel.py) arrives on stdin as b"channel\\n" with one descriptor:
a seqpacket socket, or a stream socket (then messages are frames, values inline) when the
client is remote.
Messages from the client:
    ("function", fn_id)          parts: [the function]          kept for later calls
    ("calls", [(call_id, fn_id, n_parts, local), ...])
                                 parts: per call, n_parts parts; the first holds (args,
                                 kwargs), the others the values of the placeholders _Arg(i) in
                                 args/kwargs that the client forwards. `local` is a tuple of
                                 (i, producer call id): placeholder i is the kept result of a
                                 call this worker ran before (the client "placed" the call
                                 here, after its producer, so that no result of a chain goes
                                 through the client); the sent parts fill the other places.
    ("release", [call_id, ...])  kept results no local reader needs any more
    ("forget", [fn_id, ...])     functions no longer needed
Messages to the client:
    ("results", [(call_id, outcome, t_start, t_end), ...])
                                 parts: per call, its return value (outcome True), or (type
                                 name, message, traceback text, the exception itself or None)
                                 (outcome False); outcome "input failed" (a local input failed:
                                 the call did not run, it fails with that input's exception) and
                                 "missing" (a local input is no longer kept: the call did not
                                 run, the client sends it again with the value) have an empty
                                 part.

Calls run one at a time in arrival order: a call placed here comes after its producers, so its
local inputs are done (or failed, or dropped) when its turn comes, and it runs at once, with
no round trip through the client ("becomes", as a Wukong executor does). Results are sent in
batches: whenever no message is waiting, and at least every few milliseconds while calls keep
arriving; a "missing" or "input failed" answer comes after the result it is about, in the
same stream.

Every result is kept (its pickled part: inline bytes or a sealed memfd, so each reader gets its
own copy as a forwarded one would) until the client releases it, because a reader may be placed
here while the result is already on its way to the client. The store is capped
(_STORE_BYTES, _STORE_ENTRIES, _STORE_FDS); past the cap the oldest results are dropped, and a
reader of a dropped one is answered "missing".
"""

import collections
import os
import select
import socket
import sys
import time
import traceback

from sluice import _channel

INPUT_FAILED, MISSING = _channel.INPUT_FAILED, _channel.MISSING


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


_EMPTY = _channel.Part.dump(None)


class _Worker:
    _FLUSH_SECONDS = 0.002
    # The result store's cap. Memfd results share their pages with the client's copy, so
    # the cap is about what the worker alone would pin once the client has let go; the fd cap
    # keeps well under the default limit of 1024 descriptors.
    _STORE_BYTES = 64 * 1024 * 1024
    _STORE_ENTRIES = 4096
    _STORE_FDS = 128

    def __init__(self, sock):
        self.sock = sock
        self.functions = {}
        self.loads = _channel.loads_with_functions(self.functions)
        self.pending = collections.deque()  # (call_id, fn_id, parts, local)
        self.results, self.result_parts = [], []
        self.first_unsent = None
        # call id -> (ok, part or None), oldest first. Failed calls are kept too (a reader
        # fails with them); a call that did not run keeps (False, None).
        self.store = {}
        self.store_bytes = 0
        self.store_fds = 0
        self.dropped_unsent = []  # parts dropped from the store that a batch still has to send

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
                for call_id, fn_id, n, local in header[1]:
                    self.pending.append((call_id, fn_id, parts[at : at + n], local))
                    at += n
            elif kind == "release":
                for call_id in header[1]:
                    self.drop(call_id)
            elif kind == "forget":
                for fn_id in header[1]:
                    self.functions.pop(fn_id, None)

    def keep(self, call_id, ok, part):
        self.store[call_id] = (ok, part)
        if part is not None:
            self.store_bytes += part.nbytes
            self.store_fds += part.fd >= 0
        while len(self.store) > 1 and (
            self.store_bytes > self._STORE_BYTES
            or len(self.store) > self._STORE_ENTRIES
            or self.store_fds > self._STORE_FDS
        ):
            self.drop(next(iter(self.store)))  # the oldest; the newest is always kept

    def drop(self, call_id):
        entry = self.store.pop(call_id, None)
        if entry is not None and entry[1] is not None:
            part = entry[1]
            self.store_bytes -= part.nbytes
            self.store_fds -= part.fd >= 0
            if self.results:
                self.dropped_unsent.append(part)  # closed once the batch is out
            else:
                part.close()

    def inputs(self, parts, local):
        """The parts of a call's placeholders, the local ones taken from the store; or the
        outcome INPUT_FAILED or MISSING when a local one cannot be had."""
        if not local:
            return parts[1:], None
        extras = [None] * (len(parts) - 1 + len(local))
        for index, producer in local:
            entry = self.store.get(producer)
            if entry is None:
                return None, MISSING
            if not entry[0]:
                return None, INPUT_FAILED
            extras[index] = entry[1]
        sent = iter(parts[1:])
        return [p if p is not None else next(sent) for p in extras], None

    def run_one(self):
        call_id, fn_id, parts, local = self.pending.popleft()
        start = _now()
        extras, skipped = self.inputs(parts, local)
        if skipped is not None:
            if skipped == INPUT_FAILED:
                self.keep(call_id, False, None)  # its own readers fail the same way
            self.answer(call_id, skipped, start, _EMPTY)
            return
        try:
            args, kwargs = parts[0].load(self.loads)
            if extras:
                values = [p.load(self.loads) for p in extras]
                args, kwargs = _substitute(args, values), _substitute(kwargs, values)
            value = self.functions[fn_id](*args, **kwargs)
            part, ok = _channel.Part.dump(value), True
        except BaseException as exc:  # the user's failure is a result, sys.exit() included
            part, ok = _error_part(exc), False
        self.keep(call_id, ok, part)
        self.answer(call_id, ok, start, part)

    def answer(self, call_id, outcome, start, part):
        self.results.append((call_id, outcome, start, _now()))
        self.result_parts.append(part)
        if self.first_unsent is None:
            self.first_unsent = start
        if _channel.batch_size(self.result_parts) > _channel.MAX_INLINE or len(self.result_parts) > 200:
            self.flush()

    def flush(self):
        # The parts stay open: the store owns them until they are released or dropped.
        if self.results:
            _channel.send(self.sock, ("results", self.results), self.result_parts)
        for part in self.dropped_unsent:
            part.close()
        self.results, self.result_parts, self.first_unsent, self.dropped_unsent = [], [], None, []

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
    sock = socket.socket(fileno=fds[0])
    # A stream: the client is remote and the server relays its frames (python/sluice/_remote.py).
    return _channel.StreamChannel(sock) if sock.type == socket.SOCK_STREAM else sock


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
