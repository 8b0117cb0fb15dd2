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
    """(call, send, answers, release) speaking to a fresh worker, which ends with the test:
    call(...) makes a call's entry and parts, send(*calls) sends them in one message,
    answers(n) reads n answers as (call id, outcome, value), release(ids) releases results."""
    mine, theirs = _channel.socket_pair()
    stdin_mine, stdin_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluice._executor"],
        stdin=stdin_theirs.fileno(),
        env=dict(os.environ, PYTHONPATH=str(PYTHON_DIR)),
    )
    socket.send_fds(stdin_mine, [b"channel\n"], [theirs.fileno()])
    for end in (theirs, stdin_mine, stdin_theirs):
        end.close()
    for fn_id, fn in enumerate(FUNCTIONS):
        _channel.send(mine, ("function", fn_id), [_channel.Part.dump(fn)])

    def call(call_id, fn_id, args=(), local=(), forwarded=()):
        parts = [_channel.Part.dump((args, {}))] + [_channel.Part.dump(v) for v in forwarded]
        return (call_id, fn_id, len(parts), tuple(local)), parts

    def send(*calls):
        parts = [part for _, call_parts in calls for part in call_parts]
        _channel.send(mine, ("calls", [entry for entry, _ in calls]), parts)

    def answers(count):
        got = []
        while len(got) < count:
            header, parts = _channel.receive(mine)
            assert header[0] == "results"
            for (call_id, outcome, _, _), part in zip(header[1], parts):
                value = part.load() if outcome in (True, False) else None
                got.append((call_id, outcome, value))
        return got

    yield call, send, answers, lambda ids: _channel.send(mine, ("release", ids))
    mine.close()
    proc.wait(timeout=30)


def test_placed_calls_read_the_results_it_keeps(worker):
    call, send, answers, _ = worker
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
    call, send, answers, release = worker
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
    call, send, answers, _ = worker
    # 80 MiB after a small result: over the 64 MiB cap, the small one goes, the newest stays.
    send(call(0, 0, (1,)), call(1, 2, (80 * 2**20,)))
    assert [a[:2] for a in answers(2)] == [(0, True), (1, True)]
    send(
        call(2, 0, (_channel.Arg(0),), local=[(0, 0)]),
        call(3, 0, (_channel.Arg(0),), local=[(0, 2)]),  # a reader of a missing one: missing
        call(4, 4, (_channel.Arg(0),), local=[(0, 1)]),
    )
    assert answers(3) == [(2, "missing", None), (3, "missing", None), (4, True, 80 * 2**20)]
