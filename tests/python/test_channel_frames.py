"""Messages as frames over a byte stream (python/sluice/_channel.py), the form they take when
the client is remote and no descriptor can travel: what goes in comes out, large values in
sealed memory files of the receiver's own, and a frame that breaks the protocol is refused
without leaking a descriptor."""

import fcntl
import os
import pickle
import socket
import struct
import threading

import numpy as np
import pytest

from sluice import _channel

NO_PARTS = pickle.dumps((("results", []), []))


def stream_pair():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    return _channel.StreamChannel(ours), theirs


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def test_inline_and_large_values_arrive_as_they_were_sent():
    sender, receiver = stream_pair()
    big = np.arange(2_000_000, dtype=np.int64)  # 16 MB: more than a socket buffer holds
    parts = [_channel.Part.dump({"zone": 7}), _channel.Part.dump(big)]
    assert parts[0].fd < 0 and parts[1].fd >= 0
    writer = threading.Thread(target=sender.send_message, args=(("calls", [1, 2]), parts))
    writer.start()
    header, received = _channel.receive(_channel.StreamChannel(receiver))
    writer.join()
    assert header == ("calls", [1, 2])
    assert received[0].load() == {"zone": 7}
    assert received[1].fd >= 0 and received[1].fd != parts[1].fd
    assert np.array_equal(received[1].load(), big)
    # The receiver's copy is sealed: nobody can change it under a mapping.
    seals = fcntl.fcntl(received[1].fd, fcntl.F_GET_SEALS)
    assert seals & _channel._SEALS == _channel._SEALS


def test_the_end_of_the_stream_is_channel_closed():
    sender, receiver = stream_pair()
    sender.close()
    with pytest.raises(_channel.ChannelClosed):
        _channel.receive(_channel.StreamChannel(receiver))


@pytest.mark.parametrize(
    "frame, words",
    [
        # Cut short inside a value it announced (1 GiB): refused, not waited for forever.
        (struct.pack("<IIQ", 10, 1, 1 << 30) + b"x" * 100, "cut short"),
        # An envelope longer than any message may be.
        (struct.pack("<II", 1 << 30, 0), "larger than the protocol allows"),
        # A value larger than any value may be.
        (struct.pack("<IIQ", 4, 1, 1 << 62), "larger than the protocol allows"),
        # Not a pickle at all.
        (struct.pack("<II", 4, 0) + b"junk", "unreadable"),
        # A value sent that the envelope does not name.
        (struct.pack("<IIQ", len(NO_PARTS), 1, 3) + NO_PARTS + b"abc", "sent but not named"),
    ],
)
def test_frames_that_break_the_protocol_are_refused_without_leaking(frame, words):
    sender, receiver = stream_pair()
    before = open_fds()
    sender.sock.sendall(frame)
    sender.close()
    with pytest.raises(_channel.MalformedMessage, match=words):
        _channel.receive(_channel.StreamChannel(receiver))
    assert open_fds() == before - 1  # the sender's end, closed; nothing of the frame's left
