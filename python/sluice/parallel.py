"""Parallel functions: PyWren/Lithops-style `map`, `map_reduce`, `call_async`, futures, `wait`
and `get_result`, run in sandboxed function workers with the same environments as models.

    import sluice

    futures = sluice.map(lambda x: x * x, range(1000))
    print(sluice.get_result(futures))

    @sluice.python(pip={"pandas": "2.2.3"})
    def summarize(path): ...
    total = sluice.map_reduce(summarize, paths, lambda parts: sum(parts)).result()

    with sluice.Executor(workers=4, pip={"scipy": "1.16.3"}) as ex:
        f = ex.call_async(fn, 1, 2)
        g = ex.call_async(other, f)  # a future as an argument: runs once f is done
        g.result()

An Executor starts `sluice _executors` (src/exec/function_executors.h), which starts one
sandboxed worker per channel this process made (python/sluice/_executor.py); calls and results
then go straight between this process and the workers, batched, with large arguments and
results in shared memory (python/sluice/_channel.py). A result that feeds another call is
forwarded to its worker without being read here.

Locality (Wukong's "becomes", over processes): a call whose unfinished inputs all run on one
worker (at most _MAX_PLACED_INPUTS of them) is placed on that worker at once, with those inputs
named by their calls' ids; the worker runs it right after them from the results it keeps, so a
chain of calls runs on one worker with no round trip through this process between two links.
A call's worker "becomes" one successor only: the others wait here until it is done and go to
idle workers, as do fan-ins wider than that or with inputs on several workers. Every result
still comes back here (futures resolve as before), and this process tells the worker when a
kept result has no more reader (one placed reader per result). The worker keeps results under
a cap; a placed call whose input it dropped comes back "missing" and is sent again with the
value, and one whose input failed fails with that input's exception.

Kept values (sluice.dask's intermediates, `_submit(keep=True)`): the worker keeps the value
itself and answers only its size. A reader on that worker takes the object from its store; a
reader given another worker waits here (`parked`) while its value is fetched from the holder,
pickled once. A ready reader goes where its kept inputs are, unless the holder's queue costs
more than the fetch. Each value is released once its submitter's hold and its readers are done
(reference counts here); past the worker's cap it is given back here ("evicted") and forwarded
from here. A holder that ends fails the calls still to read its values (WorkerDiedError naming
them); a holder that says it keeps a value and does not give it is retired.

Contract: an Executor is safe to use from several threads (submissions go through a lock to
one dispatcher thread, which alone talks to the workers). A worker is trusted with nothing:
an answer for a call it was not sent, answered twice, or a claim about its kept inputs that
cannot hold (a call it keeps no input for, an input it had still to run, a failure of an input
that succeeded) retires it, and its calls run on the other workers; so does any message that
breaks the protocol. Calls placed on a worker that ends are taken back: the one it was running
fails with WorkerDiedError, and so do calls that read it; the others run again elsewhere.

A worker's code is confined like a model's: what comes back from it is not trusted, so results
are unpickled with a restricted unpickler (python/sluice/_safe_pickle.py) that builds data
(containers, numpy, pandas, Arrow, exceptions, classes of __main__) and nothing that acts.
"""

import atexit
import builtins
import collections
import contextlib
import gc
import itertools
import json
import math
import operator
import os
import select
import socket
import subprocess
import sys
import threading
import time

import cloudpickle

from sluice import _channel, _remote, _safe_pickle, exceptions
from sluice._safe_pickle import UnsafeResultError

__all__ = [
    "ALL_COMPLETED",
    "ALWAYS",
    "ANY_COMPLETED",
    "FIRST_COMPLETED",
    "Executor",
    "Future",
    "RemoteError",
    "UnsafeResultError",
    "WorkerDiedError",
    "call_async",
    "get_result",
    "map",
    "map_reduce",
    "shutdown",
    "wait",
]

ALL_COMPLETED = "ALL_COMPLETED"
FIRST_COMPLETED = ANY_COMPLETED = "ANY_COMPLETED"
ALWAYS = "ALWAYS"


@contextlib.contextmanager
def gc_paused():
    """The cyclic garbage collector waits while many long-lived objects are made at once (a
    future per item of a map, a dozen objects per task of a Dask graph): otherwise it scans
    the young ones again and again, which took more time than making them (100,000 futures:
    1.27 us each with it, 0.43 without). Garbage made meanwhile, by any thread, is collected
    once it is back on."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker (the cause of the re-raised one)."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text

    def __str__(self):
        return "\n\nTraceback in the function's worker:\n" + self.text.rstrip()


class RemoteError(exceptions.SluiceError):
    """A function raised an exception that could not be sent back as itself; `type_name`,
    `remote_message` and `remote_traceback` say what it was."""

    def __init__(self, type_name, message, remote_traceback):
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_message = message
        self.remote_traceback = remote_traceback


class WorkerDiedError(exceptions.SluiceError):
    """The worker running a call ended before answering (killed, out of memory, crashed)."""


_PENDING, _RUNNING, _DONE = 0, 1, 2


class Future:
    """The result of one call. `result()` waits for it and returns its value or raises its
    exception (with the worker's traceback as the cause); `done()` says whether it is there."""

    # What every future has is a slot, set in __init__; what only some use (kept values,
    # callbacks, a static schedule's worker) defaults here and is set on the few that need it:
    # a map makes a future per item, and 17 stores were most of what one cost.
    __slots__ = ("_executor", "_id", "_state", "_ok", "_part", "_value", "_loaded", "_error", "__dict__")
    _callbacks = None
    worker = None  # the worker it was sent to
    # A call submitted with keep (sluice.dask's intermediates): its value stays in its worker
    # (_holder) until the calls reading it, counted in _refs with the submitter's hold, have
    # run; _kept once its worker said it keeps it, _size its bytes there. _part is its pickle
    # once fetched for a reader elsewhere (or evicted); _waiters the calls waiting for that
    # fetch.
    _keep = False
    _refs = 0
    _kept = False
    _holder = None
    _size = 0
    _waiters = None
    _label = None  # what the lost value is called in an error (a Dask key)
    # A kept value's call, its arguments kept (when inline), to run again if its worker dies
    # with the value while calls still read it; _runs counts the times it was run again.
    _producer = None
    _runs = 0

    def __init__(self, executor, call_id):
        self._executor = executor
        self._id = call_id
        self._state = _PENDING
        self._ok = None
        self._part = None
        self._value = None
        self._loaded = False
        self._error = None  # an exception raised here (worker died, dependency failed)

    def done(self):
        return self._state == _DONE

    def running(self):
        return self._state == _RUNNING

    def cancelled(self):
        return False

    def result(self, timeout=None):
        self._executor._wait_for([self], ALL_COMPLETED, timeout)
        if self._state != _DONE:
            raise TimeoutError(f"call {self._id} did not finish within {timeout} s")
        return self._get()

    def exception(self, timeout=None):
        try:
            self.result(timeout)
        except TimeoutError:
            raise
        except BaseException as exc:
            return exc
        return None

    def add_done_callback(self, fn):
        with self._executor._lock:
            self._executor._callbacks_added = True  # finishing a map's items looks for them
            if self._state != _DONE:
                self._callbacks = (self._callbacks or []) + [fn]
                return
        fn(self)

    def _get(self):
        if self._error is not None:
            raise self._error
        if self._kept and self._part is None:
            raise exceptions.SluiceError(
                f"the result of call {self._id} was kept in its worker for the calls that read it, "
                "and is not here: submit it without keep to read it"
            )
        if not self._loaded:
            loaded = _safe_pickle.load_part(self._part)
            if self._ok:
                self._value = loaded
            else:
                self._error = _remote_exception(*loaded)
            self._loaded = True
            if not self._ok:
                raise self._error
        return self._value

    def __repr__(self):
        state = ("pending", "running", "done")[self._state]
        return f"<sluice.Future call {self._id} {state}>"


def _is_kept_tag(tag):
    # Types before values: a restricted unpickler still builds numpy arrays.
    return type(tag) is str and tag == _channel.KEPT


_VALUE_OUTCOMES = (_channel.VALUE, _channel.NO_VALUE, _channel.EVICTED, _channel.VALUE_FAILED)


def _named(future):
    return f" ({future._label!r})" if future._label is not None else ""


def _remote_exception(type_name, message, text, exc):
    if isinstance(exc, BaseException):
        exc.__cause__ = RemoteTraceback(text)
        return exc
    return RemoteError(type_name, message, text)


class _Call:
    __slots__ = (
        "future",
        "fn_id",
        "parts",
        "deps",
        "waiting",
        "items",
        "local",
        "hint",
        "keep",
        "target",
        "fetching",
        "timed",
    )

    def __init__(self, future, fn_id, parts, deps, items=None, hint=None, keep=False):
        self.future = future
        self.fn_id = fn_id
        # [args part] + one per dependency that is sent (filled in when ready or placed)
        self.parts = parts
        self.deps = deps  # futures whose results are its extra parts
        self.waiting = 0
        self.items = items  # a chunk of a map: the items' futures, resolved from its result
        # Indexes in `deps` of the inputs its worker keeps from calls it ran before: the call
        # was placed on the worker of its unfinished inputs (Executor._place).
        self.local = ()
        # The worker a static schedule chose for it (sluice.dask), or None: once ready, it
        # queues there, not on the least loaded worker (Executor._make_ready).
        self.hint = hint
        self.keep = keep  # its worker keeps its value and sends only its size
        # The function whose time per item its time measures: its own, a map chunk's function
        # (Executor._cut), none for a chunk of a fixed size (_call_each's time says nothing
        # of one function).
        self.timed = fn_id if items is None else None
        # The worker it is to go to while it waits for inputs fetched from others (_bind).
        self.target = None
        self.fetching = 0


def _is_error(error):
    """An item's failure as _call_each sends it: (type name, message, traceback text,
    exception or None)."""
    return (
        type(error) is tuple
        and len(error) == 4
        and all(isinstance(x, str) for x in error[:3])
        and (error[3] is None or isinstance(error[3], BaseException))
    )


class _MapSource:
    """The items of a map with an automatic chunk size that are not sent yet. It waits in the
    ready queue like a call; the dispatcher cuts the next chunk from it when a worker has room,
    sized from what the function's items took so far (Executor._cut)."""

    __slots__ = ("fn", "fn_id", "items", "futures", "extra_args", "extra_kwargs", "next", "probing")

    def __init__(self, fn, fn_id, items, futures, extra_args, extra_kwargs):
        self.fn = fn
        self.fn_id = fn_id
        self.items = items
        self.futures = futures
        self.extra_args = extra_args
        self.extra_kwargs = extra_kwargs
        self.next = 0  # the first item not sent
        self.probing = 0  # single calls sent while the function's time per item is unknown

    def pending_futures(self):
        return self.futures[self.next :]


def _chunk_args(fn, items, extra_args, extra_kwargs):
    """_call_each's arguments for a chunk of a map. The items go pickled apart, in one pass of
    the C pickler, when they allow it: pickled with the function, each item went through the
    pickler's persistent_id (a Python call)."""
    return fn, _channel.plain_pickle(items) or items, extra_args, extra_kwargs


def _call_each(fn, items, extra_args, extra_kwargs):
    """A chunk of a map, run in a worker: fn on each item, each failure caught alone.
    (values, failures): a value per item (None where it failed), and {index: (type name,
    message, traceback text, exception or None)} for the items that raised."""
    import pickle
    import traceback

    if type(items) is bytes:  # pickled apart (_chunk_args): a chunk's items are a list
        items = pickle.loads(items)
    values, failures = [], {}
    for item in items:
        try:
            values.append(fn(item, *extra_args, **extra_kwargs))
        except BaseException as exc:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            try:
                # By reference only, as the client's restricted unpickler takes it: a class
                # of the user's script (by value) would fail the whole chunk's result.
                pickle.dumps(exc)
                kept = exc
            except Exception:  # an exception that does not pickle travels as text
                kept = None
            failures[len(values)] = (type(exc).__qualname__, str(exc), text, kept)
            values.append(None)
    return values, failures


class _Worker:
    __slots__ = (
        "index",
        "sock",
        "outbox",
        "outstanding",
        "functions",
        "alive",
        "ended",
        "kept",
        "releases",
        "retired",
        "holding",
        "fetches",
        "fetching",
        "parked",
        "sent",
        "answered",
        "released_kept",
        "released_ids",
    )

    def __init__(self, index, sock):
        self.index = index
        self.sock = sock
        self.outbox = collections.deque()  # calls assigned, not sent
        self.outstanding = {}  # call id -> call, in the order sent
        # producer call id -> the call placed here that reads its kept result (one reader per
        # result: the producer "becomes" that one; other successors go to idle workers)
        self.kept = {}
        self.releases = []  # kept results nobody here will read, to tell the worker
        self.retired = False  # by the client: it sent what cannot be true
        self.holding = {}  # call id -> future: the values it keeps for readers (keep)
        self.fetches = []  # ids of kept values to ask it for
        self.fetching = {}  # call id -> future: asked for, not answered
        self.parked = []  # calls to run here once the values fetched for them have arrived
        self.sent, self.answered = 0, 0  # calls sent, and answered (they come in that order)
        # Kept values released, with the count of calls sent before the release: until it
        # answers a call sent after it, it may still have evicted one (released_ids: the same).
        self.released_kept = collections.deque()
        self.released_ids = set()
        self.functions = set()
        self.alive = True
        self.ended = None  # why it ended, from the status line


def _binary():
    from sluice.client import _find_binary

    return _find_binary()


class Executor:
    """`workers` sandboxed function workers (default: one per CPU) with one environment:
    `python` ("3.12") and `pip` ({"pandas": "2.2.3"}), or `env` (a function decorated with
    @sluice.python, or {"python": ..., "pip": {...}}); `resources` {"memory": "2G", "cpus": 1}
    per worker; `internet_access`. Functions from anywhere (lambdas, closures, __main__) are
    shipped by value. Use it as a context manager, or call `shutdown()`.

    The workers run on this machine, or on the server of `client` (a `Client` with an
    endpoint; by default the profile's endpoint, as Client() finds it): then values travel
    inline over HTTP(S) instead of through shared memory (python/sluice/_remote.py)."""

    # Calls in flight per worker: enough to batch short calls, few enough that long ones do not
    # queue behind each other on one worker while another idles. The window holds about
    # _QUEUED_SECONDS of work at the calls' average duration so far.
    _MIN_WINDOW, _MAX_WINDOW, _QUEUED_SECONDS = 2, 512, 0.005
    # A fan-in is placed on the worker of its unfinished inputs only up to this many of them:
    # a wide one would wait there for its slowest input while holding the others' results.
    _MAX_PLACED_INPUTS = 8
    # What fetching a kept value from its worker costs per byte, against waiting behind the
    # calls queued on its worker (Dask's decide_worker: occupancy + bytes / bandwidth): pickling
    # into fresh shared memory on one side, mapping it on the other, about 4 MiB in 17 ms here.
    _FETCH_SECONDS_PER_BYTE = 4e-9
    # A map's chunk (automatic size) holds about this much of the function's work: a call's
    # own cost (tens of microseconds here and in the worker) is then a few percent of it.
    _CHUNK_SECONDS = 0.004
    _MAX_CHUNK = 16384

    def __init__(
        self,
        workers=None,
        *,
        env=None,
        python=None,
        pip=None,
        resources=None,
        internet_access=False,
        name=None,
        client=None,
    ):
        python, pip, resources = _environment(env, python, pip, resources)
        self.workers_count = int(workers or os.cpu_count() or 1)
        if self.workers_count < 1:
            raise ValueError("workers must be at least 1")
        self._lock = threading.Lock()
        self._function_lock = threading.Lock()  # the function table
        self._cond = threading.Condition(self._lock)
        self._ids = itertools.count()
        self._functions = {}  # id(fn) -> (fn, fn_id)
        self._function_parts = {}  # fn_id -> the pickled function
        self._function_ids = itertools.count()
        self._submitted = collections.deque()  # calls from user threads, for the dispatcher
        self._wake_pending = False  # the dispatcher was woken and has not taken _submitted yet
        self._ready = collections.deque()  # calls whose dependencies are done, not assigned
        self._dependents = {}  # call id -> [calls waiting for it]
        self._callbacks_added = False  # whether any future was given a done callback
        self._fatal = None  # why no call can run any more
        self._closing = False
        self._window = self._MAX_WINDOW
        self._average_seconds = None  # of a call, moving average
        self._item_seconds = {}  # fn id -> its time per call or map item, moving average
        # What locality did, for tests and benchmarks: calls placed on the worker of their
        # inputs, and placed calls sent again because their worker had dropped an input.
        self.placed_calls = 0
        self.missing_inputs = 0
        self.map_calls = 0  # calls cut from maps of an automatic chunk size
        # Kept values (sluice.dask's intermediates): how many its workers kept, how many
        # came here, fetched for a reader on another worker or evicted past a worker's cap
        # (evicted_values of them), and the bytes of every value this process received from
        # its workers (results, errors, fetched and evicted values).
        self.kept_results = 0
        self.runs_again = 0  # calls run again after their worker died (kept values, Dask tasks)
        self.fetched_values = 0
        self.evicted_values = 0
        self.received_bytes = 0
        self._unheld = []  # kept futures whose submitter let go of them (_unhold)

        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        engine_fd = os.environ.get("SLUICE_ENGINE_FD")
        if engine_fd is not None:
            if python or pip or resources or internet_access:
                raise ValueError(
                    "inside a model, mapped functions run in the model's own environment: "
                    "pass no env, python, pip, resources or internet_access"
                )
            self._process = None
            status_read, channels = _ask_engine(int(engine_fd), self.workers_count)
            self._start(status_read, channels)
            return
        remote = _remote.remote_client(client)
        if remote is not None:
            # The client's server runs the workers (python/sluice/_remote.py).
            if workers is None:
                # A user's default share of a server's remote workers (half of its 16): more
                # would be refused (409) by a server with keys.
                self.workers_count = min(self.workers_count, 8)
            self._process = _remote.RemoteWorkers(
                remote, self.workers_count, name or "sluice.map", python, pip, resources, internet_access
            )
            self._start(self._process.status_fd, self._process.channels)
            return
        pairs = [_channel.socket_pair() for _ in range(self.workers_count)]
        status_read, status_write = os.pipe()
        argv = [_binary(), "_executors", "--status-fd", str(status_write), "--name", name or "sluice.map"]
        for _, theirs in pairs:
            argv += ["--channel-fd", str(theirs.fileno())]
        if python:
            argv += ["--python", str(python)]
        for package, version in sorted((pip or {}).items()):
            argv += ["--pip", f"{package}=={version}"]
        if internet_access:
            argv.append("--internet")
        if resources.get("memory"):
            argv += ["--memory", str(resources["memory"])]
        if resources.get("cpus"):
            argv += ["--cpus", str(resources["cpus"])]
        passed = [theirs.fileno() for _, theirs in pairs] + [status_write]
        try:
            self._process = subprocess.Popen(argv, pass_fds=passed, stdin=subprocess.DEVNULL)
        finally:
            os.close(status_write)
            for _, theirs in pairs:
                theirs.close()
        self._start(status_read, [mine for mine, _ in pairs])

    def _start(self, status_read, channels):
        _switch_interval.lower()
        self._status = os.fdopen(status_read, "rb", buffering=0)
        self._status_buffer = b""
        self._status_open = True
        self._workers = []
        for i, channel in enumerate(channels):
            channel.setblocking(False)
            self._workers.append(_Worker(i, channel))
        self._thread = threading.Thread(target=self._dispatch, name="sluice-executor", daemon=True)
        self._thread.start()

    # -- the PyWren / Lithops surface

    def call_async(self, fn, *args, **kwargs):
        """Runs fn(*args, **kwargs) in a worker. Futures among the arguments (also inside
        lists, tuples and dicts) are replaced by their results, and the call waits for them."""
        return self._submit(fn, args, kwargs)

    submit = call_async  # concurrent.futures' name

    def map(self, fn, iterable, *, extra_args=(), extra_kwargs=None, chunksize=None):
        """fn(item, *extra_args, **extra_kwargs) for each item; a list of futures in order.
        Items travel and run in chunks, one call each (as multiprocessing's and Lithops'
        chunksize): per item, no message and no scheduling of its own, for functions too
        short to pay for one. Each item still has its own future, result and exception.
        By default (chunksize=None) the size of each chunk is chosen as the map goes: single
        calls until the function's time per item is known, then chunks of about
        _CHUNK_SECONDS of work, smaller towards the end so that the workers finish together.
        An integer fixes it (1: a call per item)."""
        extra_kwargs = extra_kwargs or {}
        if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
            raise ValueError(f"chunksize must be a positive integer, not {chunksize!r}")
        with gc_paused():
            return self._map(fn, iterable, extra_args, extra_kwargs, chunksize)

    def _map(self, fn, iterable, extra_args, extra_kwargs, chunksize):
        if chunksize is None:
            items = list(iterable)
            # A future among the items is an input to wait for: those calls go one by one.
            if not _holds_future((items, extra_args, extra_kwargs)):
                return self._submit_map(fn, items, tuple(extra_args), extra_kwargs)
            iterable, chunksize = items, 1
        if chunksize == 1:
            return [self._submit(fn, (item, *extra_args), extra_kwargs) for item in iterable]
        items, futures = list(iterable), []
        for start in range(0, len(items), chunksize):
            chunk = items[start : start + chunksize]
            item_futures = [Future(self, next(self._ids)) for _ in chunk]
            args = _chunk_args(fn, chunk, tuple(extra_args), extra_kwargs)
            self._submit(_call_each, args, {}, item_futures)
            futures += item_futures
        return futures

    def starmap(self, fn, iterable):
        """One call fn(*item) per item."""
        return [self._submit(fn, tuple(item), {}) for item in iterable]

    def map_reduce(self, map_fn, iterable, reduce_fn, *, extra_args=(), extra_kwargs=None):
        """Maps, then calls reduce_fn(list of map results) once all are in; the reduce's future."""
        mapped = self.map(map_fn, iterable, extra_args=extra_args, extra_kwargs=extra_kwargs)
        return self._submit(reduce_fn, (mapped,), {})

    def wait(self, futures, return_when=ALL_COMPLETED, timeout=None):
        """(done, not_done) lists once `return_when` holds: ALL_COMPLETED, ANY_COMPLETED
        (FIRST_COMPLETED) or ALWAYS (at once), or when `timeout` seconds have passed."""
        futures = list(futures)
        if return_when != ALWAYS:
            self._wait_for(futures, return_when, timeout)
        done = [f for f in futures if f._state == _DONE]
        return done, [f for f in futures if f._state != _DONE]

    def get_result(self, futures, timeout=None):
        """The value of each future (a list for a list); raises the first failure's exception."""
        return get_result(futures, timeout)

    def shutdown(self, wait=True):
        """Lets the workers finish what they were sent (wait=True) and stops them."""
        if wait:
            with self._lock:
                pending = self._pending_futures()
            self._wait_for(pending, ALL_COMPLETED, None)
        with self._lock:
            if self._closing:
                return
            self._closing = True
        self._wake()
        self._thread.join()
        _switch_interval.restore()
        if self._process is not None:
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._status.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()

    # -- submission (user threads)

    def _function(self, fn):
        """fn's id; the first time, fn is pickled (whole, by value where it must be) to travel
        to each worker once. Functions among a call's arguments (a Dask task's) get ids too."""
        with self._function_lock:
            entry = self._functions.get(id(fn))
            if entry is not None and entry[0] is fn:
                return entry[1]
            _ship_by_value(fn)
            fn_id = next(self._function_ids)
            self._function_parts[fn_id] = _channel.Part.dump(fn)
            self._functions[id(fn)] = (fn, fn_id)
            return fn_id

    def _submit(self, fn, args, kwargs, items=None, worker=None, keep=False, label=None):
        """Submits fn(*args, **kwargs). `worker`, a static schedule's choice (sluice.dask),
        queues the call on that worker once it is ready, in submission order, even while
        another one idles; a hint out of range is ignored, one for a worker that ended is
        dropped when the call is made ready. `keep` (sluice.dask's intermediates): the value
        stays in its worker, for the calls that read it, and never comes here; the caller
        holds it until `_unhold`, so that readers submitted after it is done still find it.
        `label` names it in errors."""
        if not callable(fn):
            raise TypeError(f"{fn!r} is not callable")
        deps = []
        args, kwargs = _placeholders(args, deps), _placeholders(kwargs, deps)
        for dep in deps:
            if dep._executor is not self:
                raise ValueError("a future of another Executor cannot be an argument here")
        fn_id = self._function(fn)
        parts = [_channel.Part.dump((args, kwargs), self._function)]
        with self._lock:
            if self._closing:
                raise RuntimeError("this Executor was shut down")
            future = Future(self, next(self._ids))
            if type(worker) is not int or not 0 <= worker < len(self._workers):
                worker = None
            call = _Call(future, fn_id, parts, deps, items, worker, bool(keep) and not items)
            if call.keep:
                future._keep, future._refs, future._label = True, 1, label
            for dep in set(deps) if len(deps) > 1 else deps:
                if dep._keep:
                    dep._refs += 1  # until this call has run
            if self._fatal is not None:
                self._finish_with_error(call, self._fatal)
                return future
            wake = self._enqueue(call)
        if wake:
            self._wake()
        return future

    def _enqueue(self, entry):
        """Queues a call or map source for the dispatcher; whether to wake it (once the lock
        is let go). One wake-up per batch the dispatcher takes, not per call: a write per call
        woke it for each, to fight the submitting thread for the interpreter.
        REQUIRES: self._lock is held."""
        self._submitted.append(entry)
        wake = not self._wake_pending
        self._wake_pending = True
        return wake

    def _submit_map(self, fn, items, extra_args, extra_kwargs):
        """A map with an automatic chunk size: one future per item now, the calls cut by the
        dispatcher as workers have room (_cut)."""
        if not callable(fn):
            raise TypeError(f"{fn!r} is not callable")
        fn_id = self._function(fn)
        # Made before the lock is taken, so that the dispatcher goes on meanwhile (ids come
        # from one counter, whoever else takes some in between).
        futures = [Future(self, call_id) for call_id in itertools.islice(self._ids, len(items))]
        with self._lock:
            if self._closing:
                raise RuntimeError("this Executor was shut down")
            if not items:
                return futures
            if self._fatal is not None:
                for future in futures:
                    self._finish_with_error(_Call(future, None, None, []), self._fatal)
                return futures
            wake = self._enqueue(_MapSource(fn, fn_id, items, futures, extra_args, extra_kwargs))
        if wake:
            self._wake()
        return futures

    def _cut(self, source, workers):
        """The next call of a map source: a chunk of about _CHUNK_SECONDS of the function's
        work at its time per item so far, at most an even share of what is left among the
        `workers` (the tail is spread, not left to one), or a single call while that time
        is unknown. None when enough single calls are out to learn it.
        REQUIRES: self._lock is held."""
        per_item = self._item_seconds.get(source.fn_id)
        left = len(source.items) - source.next
        if per_item is None:
            if source.probing >= workers:
                return None
            size = 1
            source.probing += 1
        else:
            share = -(-left // (2 * workers))
            size = max(1, min(int(self._CHUNK_SECONDS / max(per_item, 1e-7)), share, self._MAX_CHUNK))
        start = source.next
        source.next += size
        self.map_calls += 1
        futures = source.futures[start : source.next]
        if size == 1:
            # A call of its own: its result is a part that can be forwarded without loading.
            args, kwargs = (source.items[start], *source.extra_args), source.extra_kwargs
            part = _channel.Part.dump((args, kwargs), self._function)
            return _Call(futures[0], source.fn_id, [part], [])
        items = source.items[start : source.next]
        chunk = _chunk_args(source.fn, items, source.extra_args, source.extra_kwargs)
        part = _channel.Part.dump((chunk, {}), self._function)
        call = _Call(Future(self, next(self._ids)), self._function(_call_each), [part], [], futures)
        call.timed = source.fn_id
        return call

    def _unhold(self, futures):
        """Lets go of kept futures (see _submit): each value is dropped from its worker once
        the calls that read it have run."""
        with self._lock:
            self._unheld += [f for f in futures if f._keep]
        self._wake()

    def _wake(self):
        try:
            os.write(self._wake_write, b"x")
        except BlockingIOError:
            pass  # a wake-up is pending already

    def _pending_futures(self):
        futures = []
        for call in self._pending_calls():
            if type(call) is _MapSource:
                futures += call.pending_futures()
            else:
                futures.append(call.future)
        return futures

    def _pending_calls(self):
        """Every call not finished, and the map sources with items not sent."""
        calls = list(self._submitted) + list(self._ready)
        for waiting in self._dependents.values():
            calls += waiting
        for worker in self._workers:
            calls += list(worker.outbox) + list(worker.outstanding.values()) + worker.parked
        return calls

    def _wait_for(self, futures, return_when, timeout):
        deadline = None if timeout is None else time.monotonic() + timeout
        first_pending = 0  # futures before it are done: calls mostly finish in order
        with self._cond:
            while True:
                if return_when == ALL_COMPLETED:
                    # Counting all of them at each wake-up cost O(n) per batch of results.
                    while first_pending < len(futures) and futures[first_pending]._state == _DONE:
                        first_pending += 1
                    if first_pending == len(futures):
                        return
                elif any(f._state == _DONE for f in futures):
                    return
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return
                self._cond.wait(remaining)

    # -- the dispatcher thread

    def _dispatch(self):
        try:
            self._dispatch_loop()
        except BaseException as exc:  # never leave callers waiting forever
            with self._lock:
                self._fail_everything(exceptions.InternalError(f"the executor's dispatcher failed: {exc!r}"))

    def _dispatch_loop(self):
        while True:
            with self._lock:
                self._wake_pending = False
                self._take_submissions()
                unheld, self._unheld = self._unheld, []
                for future in unheld:
                    self._unref(future)
                self._assign()
                closing = self._closing and not self._pending_calls()
            if closing:
                for worker in self._workers:
                    worker.sock.close()
                return
            readers = [w.sock for w in self._workers if w.alive] + [self._wake_read]
            if self._status_open:
                readers.append(self._status)
            writers = [w.sock for w in self._workers if w.alive and (w.outbox or w.releases or w.fetches)]
            readable, writable, _ = select.select(readers, writers, [], 1.0)
            if self._wake_read in readable:
                os.read(self._wake_read, 4096)
            if self._status in readable:
                self._read_status()
            for worker in self._workers:
                if worker.alive and worker.sock in writable:
                    self._send(worker)
                if worker.alive and worker.sock in readable:
                    self._receive(worker)

    def _take_submissions(self):
        while self._submitted:
            call = self._submitted.popleft()
            if type(call) is _MapSource:
                self._ready.append(call)
                continue
            if self._place(call):
                continue
            for dep in call.deps:
                if dep._state != _DONE:
                    call.waiting += 1
                    self._dependents.setdefault(dep._id, []).append(call)
            if call.waiting == 0:
                self._make_ready(call)

    def _place(self, call):
        """Sends `call` straight to the worker that runs all its unfinished inputs (at most
        _MAX_PLACED_INPUTS of them), to run there as soon as they are done, with no round
        trip through here; True if it did (or failed the call: an input failed already).
        Not when one of those inputs has a placed reader already: a worker "becomes" one
        successor of a call, and the others wait here to go to idle workers."""
        unfinished = {dep._id: dep for dep in call.deps if dep._state != _DONE}
        if not unfinished or len(unfinished) > self._MAX_PLACED_INPUTS:
            return False
        where = {dep.worker for dep in unfinished.values()}
        if None in where and self._ready:
            # A producer taken in this batch may not have a worker yet: given one now, its
            # reader can follow it there.
            self._assign()
            where = {dep.worker for dep in unfinished.values()}
        if len(where) != 1 or None in where:  # None: not on a worker yet, or an item of a chunk
            return False
        worker = self._workers[where.pop()]
        # (Not keys().isdisjoint(kept): with a dict argument it walks all of `kept`.)
        if not worker.alive or any(producer in worker.kept for producer in unfinished):
            return False
        done = [dep for dep in call.deps if dep._state == _DONE]
        for dep in done:
            error = self._error_of(dep)
            if error is not None:
                self._finish_with_error(call, error)
                return True
        # A done input kept on another worker is fetched first: the call waits here for that.
        if any(dep._kept and dep._part is None and dep._holder != worker.index for dep in done):
            return False
        # Local: the unfinished inputs, and done ones that this worker keeps (no copy).
        call.local = tuple(
            i for i, dep in enumerate(call.deps) if dep._state != _DONE or dep._holder == worker.index
        )
        call.parts = call.parts[:1] + [
            self._forwarded(dep) for i, dep in enumerate(call.deps) if i not in call.local
        ]
        for producer in unfinished:
            worker.kept[producer] = call
        call.future.worker = worker.index
        worker.outbox.append(call)
        self.placed_calls += 1
        return True

    @staticmethod
    def _error_of(future):
        """The exception a finished future raises, or None."""
        if future._ok and future._error is None:
            return None
        try:
            future._get()
        except BaseException as exc:
            return exc
        return None

    def _forwarded(self, future):
        # An item of a chunk has its value here, not a part of its own.
        return future._part if future._part is not None else _channel.Part.dump(future._value, self._function)

    def _make_ready(self, call):
        if self.runs_again and self._wait_again(call):
            return  # an input it read was lost with its worker and is computed again
        for dep in call.deps:
            error = self._error_of(dep)
            if error is not None:
                self._finish_with_error(call, error)
                return
        hinted = self._workers[call.hint] if call.hint is not None else None
        if hinted is not None and hinted.alive:
            # Past the window and ahead of the ready queue: a static schedule put this call
            # here so that its successors can be placed behind it (a leaf of a tree and its
            # sibling on one worker), which is worth more than an idle worker now.
            self._bind(call, hinted)
            return
        self._ready.append(call)

    def _bind(self, call, worker):
        """Queues a ready call on `worker` with its inputs: values kept there are read from its
        store (no copy), the others are sent; a value kept on another worker is fetched from it
        first, and the call waits for it in `worker.parked`. A kept value that is no longer
        anywhere (released) fails the call."""
        if not call.deps:  # most calls: nothing to look up
            call.future.worker = worker.index
            worker.outbox.append(call)
            return
        need = []
        for dep in call.deps:
            error = self._error_of(dep)  # it may have been lost since the call was made ready
            if error is not None:
                self._finish_with_error(call, error)
                return
            if dep._kept and dep._part is None and dep._holder != worker.index:
                if dep._holder is None:
                    error = exceptions.SluiceError(f"the kept result of call {dep._id} was released")
                    self._finish_with_error(call, error)
                    return
                if dep not in need:
                    need.append(dep)
        if need:
            call.target, call.fetching = worker, len(need)
            worker.parked.append(call)
            for dep in need:
                if dep._waiters is None:
                    dep._waiters = []
                    holder = self._workers[dep._holder]
                    holder.fetches.append(dep._id)
                    holder.fetching[dep._id] = dep
                dep._waiters.append((call, worker))
            return
        call.local = tuple(i for i, dep in enumerate(call.deps) if dep._kept and dep._holder == worker.index)
        call.parts = call.parts[:1] + [
            self._forwarded(dep) for i, dep in enumerate(call.deps) if i not in call.local
        ]
        call.future.worker = worker.index
        worker.outbox.append(call)

    def _fetched(self, future):
        """A kept value fetched for readers elsewhere has come (or failed): each reader that
        waited for nothing else is queued on its worker."""
        waiters, future._waiters = future._waiters or (), None
        for call, worker in waiters:
            if call.target is not worker:
                continue  # taken back meanwhile (its worker ended)
            call.fetching -= 1
            if call.fetching == 0:
                worker.parked.remove(call)
                call.target = None
                if worker.alive:
                    self._bind(call, worker)
                else:
                    self._requeue([call])

    def _unref(self, future):
        """One reader of a kept value (or its submitter's hold) is done with it: the last one
        drops it from its worker."""
        future._refs -= 1
        if future._refs <= 0 and future._kept:
            self._drop_kept(future)

    def _drop_kept(self, future):
        holder = self._workers[future._holder] if future._holder is not None else None
        if holder is not None and holder.alive:
            holder.holding.pop(future._id, None)
            holder.releases.append(future._id)
            holder.released_kept.append((holder.sent, future._id))
            holder.released_ids.add(future._id)
        future._holder = None
        future._part = None

    def _requeue(self, calls):
        """Takes calls back from a worker (it ended, or it no longer kept their inputs), to be
        placed or made ready again, first and in order."""
        for call in reversed(calls):
            call.parts = call.parts[:1]
            call.local = ()
            call.waiting = 0
            call.target, call.fetching = None, 0
            call.future._state = _PENDING
            call.future.worker = None
            self._submitted.appendleft(call)

    def _assign(self):
        alive = [w for w in self._workers if w.alive]
        if not alive:
            return

        def load(w):
            return len(w.outstanding) + len(w.outbox) + len(w.parked)

        while self._ready:
            worker = min(alive, key=load)
            source = self._ready[0]
            if type(source) is _Call and not source.deps:  # most calls: to the least loaded
                if load(worker) >= self._window:
                    return
                self._bind(self._ready.popleft(), worker)
                continue
            if type(source) is _MapSource:
                # Chunks are cut as workers take them, each sized from the latest times: two
                # per worker (one running, one queued to hide the round trip) are enough.
                if load(worker) >= min(self._window, self._MIN_WINDOW):
                    return
                call = self._cut(source, len(alive))
                if call is None:
                    # Its single calls are out: what they take decides the next chunk. Calls
                    # behind it in the queue are not held up meanwhile.
                    self._ready.rotate(-1)
                    if all(type(c) is _MapSource and c.probing >= len(alive) for c in self._ready):
                        return
                    continue
                if source.next == len(source.items):
                    self._ready.popleft()
                self._bind(call, worker)
                continue
            held = {}  # worker index -> bytes of the call's inputs that it keeps
            for dep in self._ready[0].deps:
                if dep._holder is not None:
                    held[dep._holder] = held.get(dep._holder, 0) + dep._size
            if held:
                # Where its inputs are kept, unless waiting there costs more than fetching
                # them: a kept value is pickled only when it must leave its worker.
                total, average = sum(held.values()), self._average_seconds or 0.0
                per_byte = self._FETCH_SECONDS_PER_BYTE
                # Among the workers with room (as the least loaded one has, unless all are full).
                room = [w for w in alive if load(w) < self._window] or [worker]
                costs = {w.index: load(w) * average + (total - held.get(w.index, 0)) * per_byte for w in room}
                worker = min(room, key=lambda w, c=costs: (c[w.index], load(w)))
            else:
                # A tie goes to the worker that ran an input: a chain whose next link came
                # after its input was done (submitted as it goes) stays on one worker, and its
                # next links can be placed behind it.
                for dep in self._ready[0].deps:
                    producer = self._workers[dep.worker] if dep.worker is not None else None
                    if producer is not None and producer.alive and load(producer) <= load(worker):
                        worker = producer
                        break
            if load(worker) >= self._window:
                return
            self._bind(self._ready.popleft(), worker)

    def _send(self, worker):
        while worker.fetches:
            batch = worker.fetches[:10000]
            try:
                _channel.send(worker.sock, ("fetch", batch))
            except BlockingIOError:
                return
            except OSError:
                self._worker_ended(worker)
                return
            del worker.fetches[: len(batch)]
        while worker.releases:
            batch = worker.releases[:10000]
            try:
                _channel.send(worker.sock, ("release", batch))
            except BlockingIOError:
                return
            except OSError:
                self._worker_ended(worker)
                return
            del worker.releases[: len(batch)]
        while worker.outbox:
            with self._lock:
                batch, parts, size = [], [], 0
                for call in worker.outbox:
                    n = _channel.batch_size(call.parts)
                    if batch and (size + n > _channel.MAX_INLINE or len(parts) + len(call.parts) > 200):
                        break
                    batch.append(call)
                    parts += call.parts
                    size += n
            with self._function_lock:
                needed = {c.fn_id for c in batch}
                for part in parts:
                    needed.update(part.functions)
                function_parts = [(i, self._function_parts[i]) for i in sorted(needed - worker.functions)]
            entries = [
                (c.future._id, c.fn_id, len(c.parts), tuple((i, c.deps[i]._id) for i in c.local), c.keep)
                for c in batch
            ]
            try:
                for fn_id, part in function_parts:
                    _channel.send(worker.sock, ("function", fn_id), [part])
                    worker.functions.add(fn_id)
                _channel.send(worker.sock, ("calls", entries), parts)
            except BlockingIOError:
                return
            except OSError:
                self._worker_ended(worker)
                return
            with self._lock:
                worker.sent += len(batch)
                for call in batch:
                    worker.outbox.popleft()
                    worker.outstanding[call.future._id] = call
                    call.future._state = _RUNNING

    def _receive(self, worker):
        while True:
            try:
                # What a worker sends is not trusted, its envelope included.
                header, parts = _channel.receive(worker.sock, _safe_pickle.loads)
            except BlockingIOError:
                return
            except _channel.MalformedMessage as e:
                self._retire(worker, f"it sent a message that breaks the protocol ({e})")
                return
            except (_channel.ChannelClosed, OSError) as e:
                if isinstance(e, _channel.ChannelClosed) and str(e) and worker.ended is None:
                    worker.ended = str(e)  # a remote channel knows why (the connection's error)
                self._worker_ended(worker)
                return
            # Types before values: a restricted unpickler still builds numpy arrays, whose ==
            # is no truth value.
            answers = header[1] if type(header) is tuple and len(header) == 2 else None
            if type(answers) is not list or type(header[0]) is not str or header[0] != "results":
                answers = None
            if answers is None or len(answers) != len(parts):
                self._retire(worker, "it sent a message that breaks the protocol (not results)")
                return
            self.received_bytes += sum(part.nbytes for part in parts)
            forged = None
            with self._cond:
                for answer, part in zip(answers, parts):
                    forged = self._take_answer(worker, answer, part)
                    if forged is not None:
                        break
                self._cond.notify_all()
            if forged is not None:
                self._retire(worker, forged)
                return

    def _take_answer(self, worker, answer, part):
        """Applies one answer of `worker`; what is wrong with it when it cannot be true (the
        worker is then retired).
        REQUIRES: self._lock is held."""
        if type(answer) is not tuple or len(answer) != 4:
            return "it sent an answer that breaks the protocol"
        call_id, outcome, start, end = answer
        if type(call_id) is not int or type(start) is not float or type(end) is not float:
            return "it sent an answer that breaks the protocol"
        if not (math.isfinite(start) and math.isfinite(end)):  # a time that is no time
            return "it sent an answer that breaks the protocol"
        if type(outcome) is str and outcome in _VALUE_OUTCOMES:
            return self._take_value(worker, call_id, outcome, part)
        call = worker.outstanding.get(call_id)
        if call is None:
            return f"it answered for call {call_id}, which it was not sent or had answered already"
        worker.answered += 1
        while worker.released_kept and worker.released_kept[0][0] < worker.answered:
            # It has read the release of that value: no answer about it can come any more.
            worker.released_ids.discard(worker.released_kept.popleft()[1])
        if outcome is True or outcome is False:
            del worker.outstanding[call_id]
            self._observe(end - start)
            self._observe_items(call, end - start)
            call.future._ok, call.future._part = outcome, part
        elif type(outcome) is tuple and len(outcome) == 2 and _is_kept_tag(outcome[0]):
            size = outcome[1]
            if not call.keep:
                return f"it answered call {call_id} as kept, which it was not asked to keep"
            if type(size) is not int or size < 0:
                return f"it answered call {call_id} as kept with a size that is no size ({size!r})"
            del worker.outstanding[call_id]
            self._observe(end - start)
            future = call.future
            future._ok, future._kept, future._holder, future._size = True, True, worker.index, size
            worker.holding[call_id] = future
            self.kept_results += 1
            self._answered_locally(worker, call)
            arguments = call.parts[0]
            self._finished(call)
            if arguments.fd < 0:  # inline: small enough to keep while the value may be lost
                call.parts, future._producer = [arguments], call
            if future._refs <= 0:  # its readers are done already (failed on another input)
                self._drop_kept(future)
            return None
        elif type(outcome) is str and outcome in (_channel.INPUT_FAILED, _channel.MISSING):
            # A claim about this worker's kept results: it holds only for a placed call
            # whose local inputs were all answered before it (a worker runs in order).
            producers = [call.deps[i] for i in call.local]
            what = "failed" if outcome == _channel.INPUT_FAILED else "been dropped"
            if not producers:
                return f"it answered call {call_id} as if an input it keeps had {what}, but it keeps none"
            before = set(itertools.takewhile(lambda i: i != call_id, worker.outstanding))
            if any(p._id in before for p in producers):
                return f"it answered call {call_id} before the call producing its input"
            if outcome == _channel.INPUT_FAILED:
                errors = [self._error_of(p) for p in producers if p._state == _DONE]
                error = next((e for e in errors if e is not None), None)
                if error is None:
                    return f"it answered call {call_id} as if an input it keeps had failed, but none did"
                del worker.outstanding[call_id]
                call.future._ok, call.future._error = False, error
            else:
                if all(p._kept and p._holder == worker.index and p._part is None for p in producers):
                    # It said it keeps each of them and gave none back (evicted): it lies.
                    return (
                        f"it answered call {call_id} as if an input it keeps had been dropped, but it "
                        f"still keeps the result of call {producers[0]._id}{_named(producers[0])}"
                    )
                del worker.outstanding[call_id]
                self._answered_locally(worker, call)
                self.missing_inputs += 1
                self._requeue([call])
                return None
        else:
            return f"it answered call {call_id} with an unknown outcome"
        self._answered_locally(worker, call)
        self._finished(call)
        return None

    def _answered_locally(self, worker, call):
        """Releases the kept results that only `call` read, and `call`'s own when nobody
        placed on the worker reads it. (Values kept for readers, `keep`, go when their last
        reader has run: _unref.)"""
        for i in call.local:
            producer = call.deps[i]
            if worker.kept.get(producer._id) is call:
                del worker.kept[producer._id]
                # One not done was sent again (its worker had dropped its input): its result
                # is released when it comes, if nobody placed reads it then.
                if producer._state == _DONE and not producer._kept:
                    worker.releases.append(producer._id)
        if call.future._id not in worker.kept and not call.future._kept:
            worker.releases.append(call.future._id)

    def _take_value(self, worker, call_id, outcome, part):
        """Applies an answer about a value `worker` keeps (a fetch's, or an eviction); what is
        wrong with it when it cannot be true.
        REQUIRES: self._lock is held."""
        if outcome in (_channel.VALUE, _channel.NO_VALUE):  # answers to a fetch
            future = worker.fetching.pop(call_id, None)
            if future is None:
                return f"it answered a fetch of call {call_id}'s value, which it was not asked for"
            if future._refs <= 0:
                return None  # its readers are done (failed on another input): nobody needs it
            if outcome == _channel.NO_VALUE:
                if future._part is not None:
                    return None  # evicted: its value came before the fetch reached it
                return f"it kept the result of call {call_id}{_named(future)} and then did not give it"
        else:  # it no longer keeps it: evicted, or it does not pickle
            future = worker.holding.pop(call_id, None)
            if future is None:
                if call_id in worker.released_ids:
                    return None  # it let go of one released meanwhile: nobody needs it
                return f"it sent the value of call {call_id}, which it does not keep"
            future._holder = None
        if outcome == _channel.VALUE_FAILED:  # it cannot leave its worker: its readers fail
            future._ok, future._loaded = False, False
        future._part = part
        self.fetched_values += 1
        self.evicted_values += outcome == _channel.EVICTED
        self._fetched(future)
        return None

    def _retire(self, worker, why):
        worker.ended = f"{why}; it is no longer used"
        worker.retired = True
        self._worker_ended(worker)

    def _observe(self, seconds):
        average = self._average_seconds
        self._average_seconds = seconds if average is None else 0.9 * average + 0.1 * seconds
        window = int(self._QUEUED_SECONDS / max(self._average_seconds, 1e-7))
        self._window = min(self._MAX_WINDOW, max(self._MIN_WINDOW, window))

    def _observe_items(self, call, seconds):
        if call.timed is None:
            return
        per_item = seconds / len(call.items) if call.items else seconds
        known = self._item_seconds.get(call.timed)
        self._item_seconds[call.timed] = per_item if known is None else 0.5 * (known + per_item)

    def _finished(self, call):
        future = call.future
        future._state = _DONE
        call.parts = None
        if call.deps:
            for dep in set(call.deps) if len(call.deps) > 1 else call.deps:
                if dep._keep:
                    self._unref(dep)
        if call.items:
            self._resolve_items(future, call.items)
        self._wake_dependents(future)

    def _wake_dependents(self, future):
        """`future` is done: the calls waiting for it that wait for nothing else are ready;
        its callbacks run."""
        if self._dependents:
            for waiting in self._dependents.pop(future._id, ()):
                waiting.waiting -= 1
                if waiting.waiting == 0:
                    self._make_ready(waiting)
        if future._callbacks:
            for fn in future._callbacks:
                threading.Thread(target=fn, args=(future,), daemon=True).start()

    def _resolve_items(self, chunk, items):
        """Gives each item of a finished chunk its own outcome (the chunk's failure, when the
        chunk as a whole failed: its worker died, its result did not load)."""
        n = len(items)
        try:
            outcome = chunk._get()
            # What a worker sends is not trusted: anything but the items' outcomes fails them.
            if type(outcome) is not tuple or len(outcome) != 2:
                raise exceptions.InternalError("a map chunk returned something else than its items' outcomes")
            values, failures = outcome
            if (
                type(values) is not list
                or len(values) != n
                or type(failures) is not dict
                or not all(type(i) is int and 0 <= i < n and _is_error(e) for i, e in failures.items())
            ):
                raise exceptions.InternalError("a map chunk returned something else than its items' outcomes")
        except BaseException as exc:
            values, failures = [None] * n, dict.fromkeys(range(n), exc)
        # Per item, the least that finishes a future: a chunk may hold thousands of them.
        for future, value in zip(items, values):
            future._ok, future._value, future._loaded, future._state = True, value, True, _DONE
        for i, error in failures.items():
            future = items[i]
            future._ok, future._value = False, None
            future._error = error if isinstance(error, BaseException) else _remote_exception(*error)
        if self._dependents or self._callbacks_added:
            for future in items:
                self._wake_dependents(future)

    def _finish_with_error(self, call, error):
        call.future._ok = False
        call.future._error = error
        self._finished(call)
        self._cond.notify_all()

    def _worker_ended(self, worker):
        worker.alive = False
        worker.sock.close()
        deadline = time.monotonic() + 2
        while (
            worker.ended is None and self._status_open and time.monotonic() < deadline and self._fatal is None
        ):
            if select.select([self._status], [], [], max(0, deadline - time.monotonic()))[0]:
                if not self._read_status():
                    break
        with self._cond:
            if self._fatal is not None:  # the workers could not be had (their environment)
                self._fail_everything(self._fatal)
                return
            why = worker.ended or "it ended without saying why"
            calls = list(worker.outstanding.values())
            worker.outstanding.clear()
            ended = "was retired" if worker.retired else "ended"
            # Run again only what a worker that died had: one retired for what it sent was
            # made to lie, by the code it ran, which is not run again elsewhere.
            rerun = any(w.alive for w in self._workers) and not worker.retired
            # The first call sent is the one that was running; the others never started. A
            # Dask task (kept) runs again elsewhere, up to _MAX_RUNS times in all, as Dask's
            # scheduler retries a task whose worker died; other calls fail.
            taken_back = calls[1:]
            if calls:
                running = calls[0].future
                if calls[0].keep and rerun and running._runs + 1 < self._MAX_RUNS:
                    running._runs += 1
                    self.runs_again += 1
                    taken_back = calls
                else:
                    message = f"worker {worker.index} {ended} while running call {running._id}: {why}"
                    self._finish_with_error(calls[0], WorkerDiedError(message))
            # Values it kept for readers are lost. Each is computed again from its call (and
            # the lost or released values that call reads, in turn), as Dask recomputes lost
            # keys; where that cannot be (its arguments were too large to keep here, it ran
            # _MAX_RUNS times), the calls that read it fail with a WorkerDiedError naming it.
            # A value that had come here already (fetched or evicted) is not lost.
            again = []
            for future in worker.holding.values():
                future._holder = None
                lost = future._part is None and future._refs > 0
                if lost and not (rerun and self._run_again(future, again)):
                    future._ok, future._error = (
                        False,
                        WorkerDiedError(
                            f"worker {worker.index} {ended} while it kept the result of call "
                            f"{future._id}{_named(future)}, which calls still to run read: {why}"
                        ),
                    )
                for call, target in future._waiters or ():
                    if call.target is not target:
                        continue
                    target.parked.remove(call)
                    call.target = None
                    if future._error is not None:
                        self._finish_with_error(call, future._error)
                    else:
                        again.append(call)  # it waits for the value computed again
                future._waiters = None
            worker.holding.clear()
            worker.fetching.clear()
            worker.fetches.clear()
            parked = worker.parked[:]
            worker.parked.clear()
            for call in parked:
                call.target = None
            # Placed calls lost their kept inputs with the worker: all are taken again, and
            # those whose input was the failed call fail with its error. Calls computing lost
            # values again go first.
            self._requeue(again + taken_back + list(worker.outbox) + parked)
            if again:
                # A call made ready before a value it reads was lost waits for it again.
                ready, self._ready = self._ready, collections.deque()
                for call in ready:
                    if type(call) is _MapSource or not self._wait_again(call):
                        self._ready.append(call)
            worker.outbox.clear()
            worker.kept.clear()
            worker.releases.clear()
            if not any(w.alive for w in self._workers):
                self._fail_everything(WorkerDiedError(f"every worker ended: {why}"))
            self._cond.notify_all()

    _MAX_RUNS = 3  # times a Dask task runs at most when workers die under it (Dask's default)

    def _run_again(self, future, again):
        """Makes lost kept value `future` pending again and appends its call to `again`, after
        the calls computing again the kept values it reads that are gone too (lost or
        released). False when it cannot be: its arguments were not kept, or it ran
        _MAX_RUNS times.
        REQUIRES: self._lock is held."""
        call = future._producer
        if call is None or future._runs + 1 >= self._MAX_RUNS:
            return False
        future._runs += 1
        future._producer = None  # set again when it is kept again
        future._state, future._ok, future._kept, future._size = _PENDING, None, False, 0
        for dep in set(call.deps):
            if not dep._keep:
                continue
            dep._refs += 1  # the call reads it once more (and lets go of it once it has run)
            held = dep._holder is not None and self._workers[dep._holder].alive
            if dep._state == _DONE and dep._kept and dep._part is None and not held:
                self._run_again(dep, again)  # if it cannot be, the call fails on it, naming it
        again.append(call)
        self.runs_again += 1
        return True

    def _wait_again(self, call):
        """Whether `call` waits for an input that is pending again (a lost value computed
        again); it is then registered with that input's dependents.
        REQUIRES: self._lock is held."""
        pending = [dep for dep in call.deps if dep._state != _DONE]
        for dep in pending:
            call.waiting += 1
            self._dependents.setdefault(dep._id, []).append(call)
        return bool(pending)

    def _fail_everything(self, error):
        if self._fatal is None:
            self._fatal = error
        calls = list(self._submitted) + list(self._ready)
        self._submitted.clear()
        self._ready.clear()
        for source in [c for c in calls if type(c) is _MapSource]:
            calls.remove(source)
            calls += [_Call(future, None, None, []) for future in source.pending_futures()]
            source.next = len(source.items)
        for waiting in list(self._dependents.values()):
            calls += waiting
        self._dependents.clear()
        for worker in self._workers:
            calls += list(worker.outbox) + list(worker.outstanding.values()) + worker.parked
            worker.outbox.clear()
            worker.outstanding.clear()
            worker.parked.clear()
        for call in calls:
            if call.future._state != _DONE:
                self._finish_with_error(call, error)
        self._cond.notify_all()

    def _read_status(self):
        """Reads status lines; False at their end."""
        chunk = self._status.read(65536)
        if not chunk:
            self._status_open = False
            return False
        self._status_buffer += chunk
        while b"\n" in self._status_buffer:
            line, self._status_buffer = self._status_buffer.split(b"\n", 1)
            try:
                status = json.loads(line)
            except ValueError:
                continue
            if "error" in status:
                error = status["error"]
                self._fatal = exceptions.from_report(
                    error.get("kind", "Internal"),
                    error.get("message", "the executor failed"),
                    error.get("hint", ""),
                )
            elif "worker" in status and not status.get("ok", True):
                index = status["worker"]
                if 0 <= index < len(self._workers):
                    self._workers[index].ended = status.get("message") or "it ended"
        return True


class _SwitchInterval:
    """While an Executor runs, the interpreter's switch interval is 0.5 ms instead of 5.

    The dispatcher thread and the threads that submit share the GIL. A thread back from a
    blocking call (the dispatcher's select, sendmsg, recvmsg; a submitter's wait for the lock)
    waits for the GIL until its holder drops it, which a busy thread does only after the
    switch interval: with the default, a chain of dependent calls paid milliseconds per batch
    and ran at 170-180 us a link on 2 cores; at 0.5 ms, 50-80 us. The first Executor sets
    it, the last one to shut down restores the old value unless someone changed it meanwhile.
    A program with CPU-bound threads of its own switches between them more often meanwhile."""

    SECONDS = 0.0005

    def __init__(self):
        self._lock = threading.Lock()
        self._users = 0
        self._saved = None

    def lower(self):
        with self._lock:
            self._users += 1
            if self._users == 1 and sys.getswitchinterval() > self.SECONDS:
                self._saved = sys.getswitchinterval()
                sys.setswitchinterval(self.SECONDS)

    def restore(self):
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._saved is not None:
                if sys.getswitchinterval() == self.SECONDS:
                    sys.setswitchinterval(self._saved)
                self._saved = None


_switch_interval = _SwitchInterval()


def _ask_engine(engine_fd, count):
    """Inside a model: function workers from the engine running it (src/exec/worker_call.cc),
    in the model's sandbox. (status pipe, channels)."""
    engine = socket.socket(fileno=os.dup(engine_fd))
    try:
        engine.sendall(b"executors %d\n" % count)
        answer, fds, _, _ = socket.recv_fds(engine, 4096, count + 1)
    finally:
        engine.close()
    if not answer.startswith(b"executors") or len(fds) != count + 1:
        for fd in fds:
            os.close(fd)
        message = answer.decode(errors="replace").strip().removeprefix("error ")
        raise exceptions.SluiceError(f"the engine gave no function workers: {message or 'no answer'}")
    return fds[0], [socket.socket(fileno=fd) for fd in fds[1:]]


# Types that are no Future and hold none: most arguments, checked without walking them.
_ATOMS = frozenset((int, float, str, bytes, bool, type(None)))


def _placeholders(value, deps):
    """`value` with each Future replaced by an Arg naming its place in `deps`."""
    kind = type(value)
    if kind in _ATOMS or ((kind is tuple or kind is list) and all(type(v) in _ATOMS for v in value)):
        return value
    if kind is dict and not value:
        return value

    def leaf(x):
        if isinstance(x, Future):
            deps.append(x)
            return _channel.Arg(len(deps) - 1)
        return x

    return _channel.map_leaves(value, leaf)


def _holds_future(value):
    """Whether a Future is in `value` (also inside tuples, lists and dicts)."""
    kind = type(value)
    if kind in _ATOMS:
        return False
    if kind is tuple or kind is list:
        return any(_holds_future(v) for v in value)
    if kind is dict:
        return any(_holds_future(v) for v in value.values())
    return isinstance(value, Future)


_SHIPPED = set()


def _ship_by_value(fn):
    """Functions of modules the worker cannot import (the user's own files: the worker sees no
    project) travel by value, as those of __main__ do."""
    name = getattr(fn, "__module__", None)
    module = sys.modules.get(name) if name else None
    if module is None or name == "__main__" or name in _SHIPPED:
        return
    path = getattr(module, "__file__", None) or ""
    # No file: built into the interpreter (builtins, sys, ...), so every worker has it. Shipped
    # by value, its classes (int, dict) would be pickled as dynamic classes, endlessly.
    installed = (
        not path
        or "site-packages" in path
        or path.startswith(sys.base_prefix)
        or name.split(".")[0] == "sluice"
    )
    if not installed:
        cloudpickle.register_pickle_by_value(module)
        _SHIPPED.add(name)


def _environment(env, python, pip, resources):
    resources = dict(resources or {})
    if env is not None:
        meta = getattr(env, "__sluice__", None)
        if meta is not None:
            spec = meta.get("python") or {}
            python = python or spec.get("version")
            pip = {**(spec.get("pip") or {}), **(pip or {})}
            for key, value in (meta.get("resources") or {}).items():
                if value is not None:
                    resources.setdefault(key, value)
        elif isinstance(env, dict):
            unknown = set(env) - {"python", "pip", "resources"}
            if unknown:
                raise ValueError(f"env has unknown keys {sorted(unknown)}: use python, pip, resources")
            python = python or env.get("python")
            pip = {**(env.get("pip") or {}), **(pip or {})}
            resources = {**(env.get("resources") or {}), **resources}
        else:
            raise TypeError("env must be a function decorated with @sluice.python or a dict")
    unknown = set(resources) - {"memory", "cpus"}
    if unknown:
        raise ValueError(f"resources has unknown keys {sorted(unknown)}: use memory, cpus")
    for package, version in (pip or {}).items():
        if not isinstance(version, str) or not version:
            raise ValueError(f"pip package {package!r} needs a pinned version string")
    return python, pip or {}, resources


# -- module-level functions over shared executors, one per environment

_EXECUTORS = {}
_EXECUTORS_LOCK = threading.Lock()


def _shared(fn, env, resources, workers):
    if env is None and getattr(fn, "__sluice__", None) is not None:
        env = fn
    python, pip, resources = _environment(env, None, None, resources)
    key = (python, tuple(sorted(pip.items())), tuple(sorted(resources.items())), workers)
    with _EXECUTORS_LOCK:
        executor = _EXECUTORS.get(key)
        if executor is None or executor._closing or executor._fatal is not None:
            executor = Executor(workers, python=python, pip=pip, resources=resources)
            _EXECUTORS[key] = executor
        return executor


def map(
    fn, iterable, *, env=None, resources=None, workers=None, extra_args=(), extra_kwargs=None, chunksize=None
):  # noqa: A001
    """fn(item) for each item in sandboxed workers; a list of futures in order, `chunksize`
    items to a call (Executor.map). The environment is `env`'s, or fn's own @sluice.python /
    @sluice.resources."""
    return _shared(fn, env, resources, workers).map(
        fn, iterable, extra_args=extra_args, extra_kwargs=extra_kwargs, chunksize=chunksize
    )


def map_reduce(map_fn, iterable, reduce_fn, *, env=None, resources=None, workers=None):
    """map, then reduce_fn(list of results) in a worker; the reduce's future."""
    return _shared(map_fn, env, resources, workers).map_reduce(map_fn, iterable, reduce_fn)


def call_async(fn, *args, **kwargs):
    """Runs fn(*args, **kwargs) in a sandboxed worker (fn's own environment); its future."""
    return _shared(fn, None, None, None).call_async(fn, *args, **kwargs)


def _sole_executor(futures):
    """The executor of every one of `futures`, or None when they have several."""
    executors = set(builtins.map(operator.attrgetter("_executor"), futures))  # (map: this module's)
    return executors.pop() if len(executors) == 1 else None


def wait(futures, return_when=ALL_COMPLETED, timeout=None):
    """(done, not_done) for futures of any executors."""
    futures = list(futures)
    executor = _sole_executor(futures)
    if executor is not None:
        return executor.wait(futures, return_when, timeout)
    by_executor = collections.defaultdict(list)
    for f in futures:
        by_executor[f._executor].append(f)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        done = [f for f in futures if f.done()]
        if len(done) == len(futures) or return_when == ALWAYS or (return_when != ALL_COMPLETED and done):
            return done, [f for f in futures if not f.done()]
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if remaining == 0:
            return done, [f for f in futures if not f.done()]
        if len(by_executor) == 1:
            next(iter(by_executor)).wait(futures, return_when, remaining)
        else:
            for executor, fs in by_executor.items():
                executor.wait(fs, ANY_COMPLETED, 0.01 if remaining is None else min(0.01, remaining))


def get_result(futures, timeout=None):
    """The value of a future, or of each future of a list; raises the first failure."""
    if isinstance(futures, Future):
        return futures.result(timeout)
    futures = list(futures)
    executor = _sole_executor(futures)
    if executor is not None:  # without the done and not-done lists wait() makes
        executor._wait_for(futures, ALL_COMPLETED, timeout)
    else:
        wait(futures, ALL_COMPLETED, timeout)
    # Done ones straight from the future: result(0) takes the executor's lock for each.
    return [f._get() if f._state == _DONE else f.result(0) for f in futures]


def shutdown():
    """Stops the shared executors (also done at exit)."""
    with _EXECUTORS_LOCK:
        executors = list(_EXECUTORS.values())
        _EXECUTORS.clear()
    for executor in executors:
        executor.shutdown(wait=False)


atexit.register(shutdown)
