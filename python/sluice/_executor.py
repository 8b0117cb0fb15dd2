"""A function worker: `python -m sluice._executor`, started in its sandbox by `sluice
_executors` (src/exec/function_executors.h), runs the calls of sluice.map, call_async and
Dask graphs that its client sends on its channel, until the client closes it.

The channel (python/sluice/_channel.py) arrives on stdin as b"channel\\n" with one descriptor:
a seqpacket socket, or a stream socket (then messages are frames, values inline) when the
client is remote.
Messages from the client:
    ("function", fn_id)          parts: [the function]          kept for later calls
    ("calls", [(call_id, fn_id, n_parts, local[, keep]), ...])
                                 parts: per call, n_parts parts; the first holds (args,
                                 kwargs), the others the values of the placeholders _Arg(i) in
                                 args/kwargs that the client forwards. `local` is a tuple of
                                 (i, producer call id): placeholder i is the kept result of a
                                 call this worker ran before (the client "placed" the call
                                 here, after its producer, so that no result of a chain goes
                                 through the client); the sent parts fill the other places.
                                 `keep` (sluice.dask's intermediates): the value stays here,
                                 unpickled, and only ("kept", size) goes back.
    ("release", [call_id, ...])  kept results no local reader needs any more
    ("fetch", [call_id, ...])    values kept here that a call on another worker reads
    ("forget", [fn_id, ...])     functions no longer needed
Messages to the client:
    ("results", [(call_id, outcome, t_start, t_end), ...])
                                 parts: per call, its return value (outcome True), or (type
                                 name, message, traceback text, the exception itself or None)
                                 (outcome False); outcome "input failed" (a local input failed:
                                 the call did not run, it fails with that input's exception) and
                                 "missing" (a local input is no longer kept: the call did not
                                 run, the client sends it again with the value) have an empty
                                 part. A call sent with `keep` that returned is answered
                                 ("kept", size in bytes), with an empty part.
                                 About kept values (call_id is the producer's, no times): "value"
                                 (a fetch; the part is its pickle), "no value" (a fetch of one it
                                 does not keep), "evicted" (dropped past the cap: the part is its
                                 pickle), "value failed" (it does not pickle: an error part; it
                                 is dropped).

While a function runs past a few milliseconds, a second thread reads the channel and answers it
(`serve_during_calls`): a fetch of a value kept here is answered then, after the answers already
made, instead of once the running call is done; calls that arrive queue behind it.

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

A kept value (a call sent with `keep`) is the value itself, not its pickle: a reader placed here
gets that very object, no copy (Dask's rule: a task does not change its inputs), and nothing is
pickled unless another worker reads it (the client fetches it then) or it is evicted: past its
own cap (half the worker's memory limit, or of its share of the machine's memory:
_kept_value_budget) the oldest is pickled and sent to the client ("evicted") before it is
dropped, so it is never lost, and the client forwards it to its readers as any other result.
"""

import collections
import copyreg
import itertools
import os
import select
import socket
import sys
import threading
import time
import traceback
import types

from sluice import _channel

INPUT_FAILED, MISSING = _channel.INPUT_FAILED, _channel.MISSING
KEPT, VALUE, NO_VALUE, EVICTED, VALUE_FAILED = (
    _channel.KEPT,
    _channel.VALUE,
    _channel.NO_VALUE,
    _channel.EVICTED,
    _channel.VALUE_FAILED,
)


def _substitute(value, extras):
    return _channel.map_leaves(value, lambda x: extras[x.index] if isinstance(x, _channel.Arg) else x)


def _now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


_seen_reducers = [-1]  # the first call looks: something may have registered them before


def _drop_exception_reducers():
    """Takes out of copyreg the reducers that something the calls imported registered for
    exceptions and tracebacks (tblib's pickling_support, which dask.multiprocessing installs):
    with them an exception pickles as a call of tblib's, which the client's restricted
    unpickler refuses, so every failure of this worker came back as UnsafeResultError. The
    client takes an exception as its class and arguments; the traceback travels as text.
    O(1) per call unless the table grew."""
    table = copyreg.dispatch_table
    if len(table) == _seen_reducers[0]:
        return
    reduced = (BaseException, types.TracebackType)
    for key in [k for k in table if isinstance(k, type) and issubclass(k, reduced)]:
        del table[key]
    _seen_reducers[0] = len(table)


def _dump(value):
    """`value` pickled for the client: everything this worker sends back goes through here."""
    _drop_exception_reducers()
    return _channel.Part.dump(value)


def _error_part(exc):
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        return _dump((type(exc).__qualname__, str(exc), tb, exc))
    except Exception:  # an exception that does not pickle travels as text
        return _dump((type(exc).__qualname__, str(exc), tb, None))


_EMPTY = _channel.Part.dump(None)


class _Value:
    """A kept value in the store, beside the pickled parts: `load` gives the object itself."""

    __slots__ = ("value", "nbytes")
    fd = -1

    def __init__(self, value):
        self.value = value
        self.nbytes = _sizeof(value)

    def load(self, loads=None):
        return self.value

    def close(self):
        self.value = None


def _sizeof(value, depth=0):
    """About the bytes a value holds (numpy's and Arrow's nbytes, pandas' __sizeof__, the items
    of containers two levels deep): for the store's cap, and the client's choice of a worker."""
    try:
        nbytes = getattr(value, "nbytes", None)
        if type(nbytes) is int and nbytes >= 0:
            return nbytes
        size = sys.getsizeof(value)
    except Exception:  # a property or __sizeof__ of the user's that fails
        return 64
    if depth < 2 and type(value) in (tuple, list, set, frozenset):
        size += sum(_sizeof(v, depth + 1) for v in itertools.islice(value, 1000))
    elif depth < 2 and type(value) is dict:
        size += sum(_sizeof(v, depth + 1) for v in itertools.islice(value.values(), 1000))
    return size


def _kept_value_budget():
    """Bytes of kept values (sluice.dask's intermediates) a worker holds before it gives the
    oldest to the client: half of its memory limit, or without one half of its share of the
    machine's memory (`sluice _executors` passes both). A value given back costs a pickle and
    two copies, so the budget is large; results waiting for the client are capped apart."""
    try:
        limit = int(os.environ.get("SLUICE_WORKER_MEMORY") or 0)
        workers = max(1, int(os.environ.get("SLUICE_WORKERS") or 1))
    except ValueError:
        limit, workers = 0, 1
    if limit <= 0:
        limit = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // workers
    return max(_Worker._STORE_BYTES, limit // 2)


class _Worker:
    _FLUSH_SECONDS = 0.002
    _READ_SECONDS = 0.0005
    # The result store's cap. Memfd results share their pages with the client's copy, so
    # the cap is about what the worker alone would pin once the client has let go; the fd cap
    # keeps well under the default limit of 1024 descriptors.
    _STORE_BYTES = 64 * 1024 * 1024
    _STORE_ENTRIES = 4096
    _STORE_FDS = 128

    # While a call runs longer than this, another thread answers the client (below).
    _SERVE_AFTER_SECONDS = 0.005

    def __init__(self, sock):
        self.sock = sock
        # Held by the thread that runs the calls, except while a function runs: then the
        # serving thread (serve_during_calls) may read and answer the channel. Everything
        # below, and the socket, is the holder's.
        self.lock = threading.Lock()
        self.call_started = None  # when the running function started; None between calls
        self.open = True  # the channel has not ended
        self.functions = {}
        self.loads = _channel.loads_with_functions(self.functions)
        self.pending = collections.deque()  # (call_id, fn_id, parts, local, keep)
        self.results, self.result_parts = [], []
        self.result_bytes = 0  # of result_parts inline: summed as they come, not per answer
        self.first_unsent = None
        self.last_read = 0.0  # when the channel was last looked at while calls were pending
        # call id -> (ok, part or None), oldest first. Failed calls are kept too (a reader
        # fails with them); a call that did not run keeps (False, None); a kept value is a
        # _Value in the part's place.
        self.store = {}
        self.store_bytes = 0
        self.store_fds = 0
        # The same ids by kind, oldest first (dicts as ordered sets): pickled results, and kept
        # values, each kind under a cap of its own.
        self.result_ids = {}
        self.value_ids = {}
        self.value_bytes = 0
        self.value_budget = _kept_value_budget()
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
                for call_id, fn_id, n, local, *keep in header[1]:
                    self.pending.append((call_id, fn_id, parts[at : at + n], local, bool(keep and keep[0])))
                    at += n
            elif kind == "release":
                for call_id in header[1]:
                    self.drop(call_id)
            elif kind == "fetch":
                for call_id in header[1]:
                    self.give_value(call_id)
            elif kind == "forget":
                for fn_id in header[1]:
                    self.functions.pop(fn_id, None)

    def keep(self, call_id, ok, part):
        self.store[call_id] = (ok, part)
        if type(part) is _Value:
            self.value_ids[call_id] = None
            self.value_bytes += part.nbytes
            while len(self.value_ids) > 1 and self.value_bytes > self.value_budget:
                self.evict(next(iter(self.value_ids)))  # the oldest; the newest is always kept
            return
        self.result_ids[call_id] = None
        if part is not None:
            self.store_bytes += part.nbytes
            self.store_fds += part.fd >= 0
        while len(self.result_ids) > 1 and (
            self.store_bytes > self._STORE_BYTES
            or len(self.result_ids) > self._STORE_ENTRIES
            or self.store_fds > self._STORE_FDS
        ):
            self.evict(next(iter(self.result_ids)))

    def evict(self, call_id):
        """Drops a result past the cap; a kept value goes to the client first, pickled."""
        entry = self.store.get(call_id)
        if entry is not None and type(entry[1]) is _Value:
            self.send_value(call_id, entry[1].value, EVICTED)
        self.drop(call_id)

    def give_value(self, call_id):
        """Answers a fetch: the kept value's pickle, or NO_VALUE when it is not kept here."""
        entry = self.store.get(call_id)
        if entry is None or type(entry[1]) is not _Value:
            self.answer(call_id, NO_VALUE, _now(), _EMPTY)
        elif not self.send_value(call_id, entry[1].value, VALUE):
            self.drop(call_id)

    def send_value(self, call_id, value, outcome):
        """Sends a kept value pickled (VALUE_FAILED with the error if it does not pickle: the
        caller then drops it). Whether it pickled."""
        try:
            part = _dump(value)
        except BaseException as exc:
            part, outcome = _error_part(exc), VALUE_FAILED
        self.dropped_unsent.append(part)  # not the store's: closed once the batch is out
        self.answer(call_id, outcome, _now(), part)
        return outcome != VALUE_FAILED

    def drop(self, call_id):
        entry = self.store.pop(call_id, None)
        if entry is None:
            return
        part = entry[1]
        if type(part) is _Value:
            del self.value_ids[call_id]
            self.value_bytes -= part.nbytes
            part.close()
            return
        del self.result_ids[call_id]
        if part is not None:
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
        call_id, fn_id, parts, local, keep = self.pending.popleft()
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
            fn = self.functions[fn_id]
            self.call_started = _now()
            self.lock.release()
            try:
                value = fn(*args, **kwargs)
            finally:
                self.lock.acquire()
                self.call_started = None
            # Kept: not pickled, and only its size goes back.
            part, ok = (_Value(value), (KEPT, None)) if keep else (_dump(value), True)
        except BaseException as exc:  # the user's failure is a result, sys.exit() included
            part, ok = _error_part(exc), False
        self.keep(call_id, ok is not False, part)
        if type(part) is _Value:
            self.answer(call_id, (KEPT, part.nbytes), start, _EMPTY)
        else:
            self.answer(call_id, ok, start, part)

    def answer(self, call_id, outcome, start, part):
        self.results.append((call_id, outcome, start, _now()))
        self.result_parts.append(part)
        self.result_bytes += _channel.batch_size((part,))
        if self.first_unsent is None:
            self.first_unsent = start
        if self.result_bytes > _channel.MAX_INLINE or len(self.result_parts) > 200:
            self.flush()

    def flush(self):
        # The parts stay open: the store owns them until they are released or dropped.
        if self.results:
            _channel.send(self.sock, ("results", self.results), self.result_parts)
        for part in self.dropped_unsent:
            part.close()
        self.results, self.result_parts, self.first_unsent, self.dropped_unsent = [], [], None, []
        self.result_bytes = 0

    def serve(self):
        threading.Thread(target=self.serve_during_calls, daemon=True).start()
        with self.lock:
            while self.open or self.pending:
                if not self.pending:
                    self.flush()
                    self.open = self.read_available(block=True)
                    continue
                self.run_one()
                # New messages (releases, fetches another worker waits for, more calls) are
                # looked for every _READ_SECONDS, not after each call: a select per call cost
                # more than a short call.
                if self.open and (not self.pending or _now() - self.last_read > self._READ_SECONDS):
                    self.last_read = _now()
                    self.open = self.read_available(block=False)
                if not self.pending or _now() - (self.first_unsent or _now()) > self._FLUSH_SECONDS:
                    self.flush()
            self.flush()

    def serve_during_calls(self):
        """While a function runs past _SERVE_AFTER_SECONDS, reads the channel and answers it:
        a fetch of a value kept here is answered then (after the answers already made, which
        go first), not once the running call is done, which may take minutes while a reader
        on another worker waits. New calls queue behind the running one."""
        while True:
            time.sleep(self._SERVE_AFTER_SECONDS)
            started = self.call_started
            if started is None or _now() - started < self._SERVE_AFTER_SECONDS:
                continue
            with self.lock:
                if self.call_started is None or not self.open:
                    continue
                try:
                    self.open = self.read_available(block=False)
                    self.flush()
                except OSError:  # the client went away: the calling thread finds out too
                    return


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
