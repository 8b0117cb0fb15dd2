"""The function worker (python -m sluice._executor) as its own process, spoken to over its
channel as sluice.parallel speaks to it: placed calls read results it keeps, and it says when
it cannot ("input failed", "missing")."""

import operator
import os
import socket
import subprocess
import sys

import pytest
from worker_harness import PYTHON_DIR

from sluice import _channel

# Builtins, so the worker imports them by name: 0 neg, 1 int (int("fare") fails), 2 bytes (a
# large result), 3 slice (three arguments, kept in order: shows which value went where), 4 len.
FUNCTIONS = (operator.neg, int, bytes, slice, len)


@pytest.fixture
def worker():
    """(call, send, answers, release, fetch) speaking to a fresh worker, which ends with the
    test: call(...) makes a call's entry and parts, send(*calls) sends them in one message,
    answers(n) reads n answers as (call id, outcome, value), release(ids) releases results,
    fetch(ids) asks for kept values."""
    mine, theirs = _channel.socket_pair()
    stdin_mine, stdin_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluice._executor"],
        stdin=stdin_theirs.fileno(),
        # A memory limit of 128 MiB: kept values are given back past 64 MiB.
        env=dict(os.environ, PYTHONPATH=str(PYTHON_DIR), SLUICE_WORKER_MEMORY=str(128 * 2**20)),
    )
    socket.send_fds(stdin_mine, [b"channel\n"], [theirs.fileno()])
    for end in (theirs, stdin_mine, stdin_theirs):
        end.close()
    for fn_id, fn in enumerate(FUNCTIONS):
        _channel.send(mine, ("function", fn_id), [_channel.Part.dump(fn)])

    def call(call_id, fn_id, args=(), local=(), forwarded=(), keep=False):
        parts = [_channel.Part.dump((args, {}))] + [_channel.Part.dump(v) for v in forwarded]
        return (call_id, fn_id, len(parts), tuple(local), keep), parts

    def send(*calls):
        parts = [part for _, call_parts in calls for part in call_parts]
        _channel.send(mine, ("calls", [entry for entry, _ in calls]), parts)

    def answers(count):
        got = []
        while len(got) < count:
            header, parts = _channel.receive(mine)
            assert header[0] == "results"
            for (call_id, outcome, _, _), part in zip(header[1], parts):
                carries = outcome in (True, False, "value", "evicted", "value failed")
                value = part.load() if carries else None
                got.append((call_id, outcome, value))
        return got

    release = lambda ids: _channel.send(mine, ("release", ids))  # noqa: E731
    yield call, send, answers, release, lambda ids: _channel.send(mine, ("fetch", ids))
    mine.close()
    proc.wait(timeout=30)


def test_placed_calls_read_the_results_it_keeps(worker):
    call, send, answers, *_ = worker
    # A chain in one message, then a fan-in of two kept results around a forwarded value.
    send(
        call(0, 0, (1,)),
        call(1, 0, (_channel.Arg(0),), local=[(0, 0)]),
        call(2, 0, (_channel.Arg(0),), local=[(0, 1)]),
        call(3, 0, (10,)),
    )
    assert answers(4) == [(0, True, -1), (1, True, 1), (2, True, -1), (3, True, -10)]
    args = (_channel.Arg(0), _channel.Arg(1), _channel.Arg(2))
    send(call(4, 3, args, local=[(0, 1), (2, 3)], forwarded=[100]))
    assert answers(1) == [(4, True, slice(1, 100, -10))]


def test_a_failed_input_fails_its_readers_and_a_released_one_is_missing(worker):
    call, send, answers, release, _ = worker
    send(
        call(0, 1, ("fare",)),
        call(1, 0, (_channel.Arg(0),), local=[(0, 0)]),
        call(2, 0, (_channel.Arg(0),), local=[(0, 1)]),
    )
    (failed, *readers) = answers(3)
    assert failed[:2] == (0, False) and failed[2][0] == "ValueError"
    assert readers == [(1, "input failed", None), (2, "input failed", None)]

    send(call(3, 0, (5,)))
    assert answers(1) == [(3, True, -5)]
    release([3])
    send(call(4, 0, (_channel.Arg(0),), local=[(0, 3)]))
    assert answers(1) == [(4, "missing", None)]


def test_past_its_cap_it_drops_the_oldest_results(worker):
    call, send, answers, *_ = worker
    # 80 MiB after a small result: over the 64 MiB cap, the small one goes, the newest stays.
    send(call(0, 0, (1,)), call(1, 2, (80 * 2**20,)))
    assert [a[:2] for a in answers(2)] == [(0, True), (1, True)]
    send(
        call(2, 0, (_channel.Arg(0),), local=[(0, 0)]),
        call(3, 0, (_channel.Arg(0),), local=[(0, 2)]),  # a reader of a missing one: missing
        call(4, 4, (_channel.Arg(0),), local=[(0, 1)]),
    )
    assert answers(3) == [(2, "missing", None), (3, "missing", None), (4, True, 80 * 2**20)]


def test_a_kept_value_stays_in_the_worker_until_fetched_or_evicted(worker):
    call, send, answers, release, fetch = worker
    small, big = sys.getsizeof(bytes(1000)), sys.getsizeof(bytes(40 * 2**20))  # their sizes there
    # Kept: only its size comes back; a placed reader reads it there.
    send(call(0, 2, (1000,), keep=True), call(1, 4, (_channel.Arg(0),), local=[(0, 0)]))
    assert answers(2) == [(0, ("kept", small), None), (1, True, 1000)]
    # A fetch gives its pickle, and it stays kept; one of a value it does not keep: "no value".
    fetch([0, 1, 99])
    assert answers(3) == [(0, "value", b"\0" * 1000), (1, "no value", None), (99, "no value", None)]
    send(call(2, 4, (_channel.Arg(0),), local=[(0, 0)]))
    assert answers(1) == [(2, True, 1000)]
    release([0])
    fetch([0])
    assert answers(1) == [(0, "no value", None)]
    # Past the cap, a kept value is given to the client before it is dropped ("evicted"), and a
    # reader of it is answered "missing", the value being with the client.
    send(call(3, 2, (40 * 2**20,), keep=True), call(4, 2, (40 * 2**20,), keep=True))
    got = answers(3)
    assert got[0] == (3, ("kept", big), None)
    assert got[1][:2] == (3, "evicted") and len(got[1][2]) == 40 * 2**20
    assert got[2] == (4, ("kept", big), None)
    send(call(5, 4, (_channel.Arg(0),), local=[(0, 3)]), call(6, 4, (_channel.Arg(0),), local=[(0, 4)]))
    assert answers(2) == [(5, "missing", None), (6, True, 40 * 2**20)]
    # A failure is sent as ever, kept or not.
    send(call(7, 1, ("fare",), keep=True))
    ((call_id, outcome, value),) = answers(1)
    assert (call_id, outcome, value[0]) == (7, False, "ValueError")
