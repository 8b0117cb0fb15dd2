"""Messages between a client of sluice.map and its function workers (python/sluice/parallel.py,
python/sluice/_executor.py), over one AF_UNIX SOCK_SEQPACKET socket pair per worker.

A message is one datagram: a small pickled header and a list of parts, plus the descriptors
the parts need. A part is one pickled value (pickle protocol 5 through cloudpickle, so
lambdas and functions of __main__ travel by value). A small part travels inline in the
datagram. A large one, or one with large out-of-band buffers (numpy arrays, Arrow buffers,
pandas columns), is written once into a memfd: its pickle stream first, then each buffer at a
64-byte boundary. The receiver maps the memfd copy-on-write and unpickles the buffers in place,
so a 100 MiB array costs one copy in all (into the memfd), however many hops it takes: a
client forwards a part it received (a result feeding another task) without opening it.

Where descriptors cannot travel (a client of a remote `sluice serve`: python/sluice/_remote.py),
the same messages go as frames over a byte stream (`StreamChannel`, `write_frame`,
`read_frame`): a memfd part's bytes follow the envelope, and the receiver writes them into a
sealed memfd of its own, so a Part is the same object on both kinds of channel.
"""

import fcntl
import io
import mmap
import os
import pickle
import socket
import struct
import types

import cloudpickle

# What fits in a datagram with room to spare under the default socket buffer (212992 bytes).
MAX_DATAGRAM = 160 * 1024
MAX_INLINE = 64 * 1024  # a part's pickle up to this size travels inline
MIN_OUT_OF_BAND = 16 * 1024  # smaller buffers stay in the pickle stream
MAX_FDS = 250  # SCM_MAX_FD is 253
_ALIGN = 64


# Outcomes of a placed call that did not run (python/sluice/_executor.py): a local input failed,
# or its worker no longer kept it.
INPUT_FAILED, MISSING = "input failed", "missing"
# A call sent with `keep` answers (KEPT, size in bytes) and keeps its value in its worker
# (sluice.dask's intermediates). Answers about such a value, not about a call: VALUE (its pickle,
# for a "fetch" of the client), NO_VALUE (a fetch of one it does not keep), EVICTED (its pickle:
# the worker dropped it from its store, past the cap), VALUE_FAILED (it could not be pickled: an
# error part; the worker no longer keeps it).
KEPT, VALUE, NO_VALUE, EVICTED, VALUE_FAILED = "kept", "value", "no value", "evicted", "value failed"


class ChannelClosed(Exception):
    """The other end closed its socket (or died)."""


class MalformedMessage(ValueError):
    """A message that does not follow this protocol: the other end is broken or hostile."""


_SEALS = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SEAL


class Part:
    """One pickled value: inline bytes, or a memfd holding the pickle stream and its buffers.
    Owns its descriptor; `load()` may be called any number of times."""

    __slots__ = ("data", "fd", "data_len", "spans", "nbytes", "functions")

    def __init__(self, data=None, fd=-1, data_len=0, spans=(), functions=()):
        self.data = data
        self.fd = fd
        self.data_len = data_len
        self.spans = spans
        self.nbytes = len(data) if data is not None else data_len + sum(n for _, n in spans)
        self.functions = functions  # ids of the shipped functions it refers to

    @classmethod
    def dump(cls, value, function_id=None):
        """Pickles `value`. With `function_id` (function -> id), functions that must travel by
        value are not pickled here but referred to by id: the receiver has them already
        (`Part.functions` lists the ids), so a function used by many calls travels once."""
        # Plain data (a call's arguments, most results) in one C call; what that cannot do
        # (a large buffer, which stops it before it is copied; functions) by _dumps.
        data = plain_pickle(value) if type(value) in _PLAIN_TYPES else None
        buffers, functions = [], ()
        if data is None:
            data, functions = _dumps(value, buffers, function_id)
        if not buffers and len(data) <= MAX_INLINE:
            return cls(data=data, functions=functions)
        spans, offset = [], _aligned(len(data))
        for view in buffers:
            spans.append((offset, view.nbytes))
            offset = _aligned(offset + view.nbytes)
        fd = os.memfd_create("sluice-part", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, max(offset, 1))
            with mmap.mmap(fd, max(offset, 1)) as mapped:
                mapped[: len(data)] = data
                for (start, length), view in zip(spans, buffers):
                    mapped[start : start + length] = view
            # Nobody, the sender included, can change or shrink it under a receiver's mapping.
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd=fd, data_len=len(data), spans=tuple(spans), functions=functions)

    def load(self, loads=pickle.loads):
        """The value; `loads(data, buffers=...)` unpickles it (a restricted one for values
        from a worker)."""
        if self.data is not None:
            return loads(self.data, buffers=())
        size = max([self.data_len] + [start + length for start, length in self.spans])
        # A file that could still shrink, or that is shorter than the message says, would fault
        # (SIGBUS) when read: only a sealed file of the right size is mapped.
        if fcntl.fcntl(self.fd, fcntl.F_GET_SEALS) & _SEALS != _SEALS or os.fstat(self.fd).st_size < size:
            raise MalformedMessage("a value's shared memory is not sealed or shorter than announced")
        # Copy-on-write: the receiver may change what it got without touching the sender's.
        mapped = mmap.mmap(self.fd, max(size, 1), flags=mmap.MAP_PRIVATE)
        view = memoryview(mapped)
        buffers = [view[start : start + length] for start, length in self.spans]
        return loads(view[: self.data_len], buffers=buffers)

    def describe(self, fds):
        """The header entry for this part; appends its descriptor to `fds`."""
        if self.data is not None:
            return self.data
        fds.append(self.fd)
        return (len(fds) - 1, self.data_len, self.spans)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __del__(self):
        self.close()


class Arg:
    """A placeholder in a call's arguments for the value of the call's extra part `index` (a
    result the client forwards to the worker without reading it)."""

    __slots__ = ("index",)

    def __init__(self, index):
        self.index = index

    def __reduce__(self):
        return (Arg, (self.index,))


def _dumps(value, buffers, function_id):
    """(pickle stream, ids of the functions it names), the large buffers appended to `buffers`.
    The C pickler when it can do the job (about ten times faster on small values): first
    plain, then (with `function_id`) naming functions that must travel by value by their ids;
    cloudpickle for the rest: lambdas, closures, anything of __main__ or of a module registered
    with cloudpickle.register_pickle_by_value."""
    by_value = _by_value_modules()

    def out_of_band(buffer):
        view = buffer.raw()
        if view.nbytes < MIN_OUT_OF_BAND:
            return True  # in the stream
        buffers.append(view)
        return False

    attempts = [None] if function_id is None else [None, function_id]
    for attempt in attempts:
        buffers.clear()
        functions = set()
        try:
            if attempt is None:
                data = pickle.dumps(value, protocol=5, buffer_callback=out_of_band)
            else:
                stream = io.BytesIO()
                _FunctionRefPickler(stream, out_of_band, attempt, functions, by_value).dump(value)
                data = stream.getvalue()
            if _local_only(data, by_value):
                return data, tuple(functions)
        except (pickle.PicklingError, TypeError, AttributeError):
            pass
    buffers.clear()
    return cloudpickle.dumps(value, protocol=5, buffer_callback=out_of_band), ()


class _FunctionRefPickler(pickle.Pickler):
    def __init__(self, stream, out_of_band, function_id, functions, by_value):
        super().__init__(stream, protocol=5, buffer_callback=out_of_band)
        self._function_id = function_id
        self._functions = functions
        self._by_value = by_value

    def persistent_id(self, obj):
        if type(obj) is not types.FunctionType:
            return None
        module = obj.__module__
        if module != "__main__" and module not in self._by_value and "<" not in obj.__qualname__:
            return None  # importable where it runs: by reference, as pickle does
        fn_id = self._function_id(obj)
        self._functions.add(fn_id)
        return ("sluice.function", fn_id)


def loads_with_functions(functions):
    """A loads(data, buffers=) for Part.load that resolves function ids from `functions`."""

    class _Unpickler(pickle.Unpickler):
        def persistent_load(self, pid):
            known = isinstance(pid, tuple) and len(pid) == 2 and pid[0] == "sluice.function"
            if known and pid[1] in functions:
                return functions[pid[1]]
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")

    def loads(data, buffers=()):
        return _Unpickler(io.BytesIO(data), buffers=buffers).load()

    return loads


# Types whose values Part.dump first tries in one pass of the C pickler (plain_pickle): a
# call's (args, kwargs), a result's tuple or list, a number or a string.
_PLAIN_TYPES = frozenset((tuple, list, dict, int, float, str, bytes, bool, type(None)))


class _LargeBuffer(Exception):
    pass


def _in_band_only(buffer):
    if buffer.raw().nbytes >= MIN_OUT_OF_BAND:
        raise _LargeBuffer  # stops the pickler before it copies the buffer
    return True


def plain_pickle(value):
    """`value` pickled by the C pickler alone, every buffer in the stream; None when it needs
    more: a buffer of MIN_OUT_OF_BAND bytes or more (which should travel out of band, in a
    memfd), something that must travel by value (of __main__ or of a module registered with
    cloudpickle), or anything the C pickler refuses."""
    try:
        data = pickle.dumps(value, protocol=5, buffer_callback=_in_band_only)
    except Exception:
        return None
    return data if _local_only(data, _by_value_modules()) else None


def _local_only(data, by_value):
    """Whether a pickle refers to nothing that must travel by value (__main__'s or a module
    registered with cloudpickle)."""
    return b"__main__" not in data and not any(name.encode() in data for name in by_value)


def _by_value_modules():
    return getattr(cloudpickle.cloudpickle, "_PICKLE_BY_VALUE_MODULES", ())


def map_leaves(value, leaf):
    """`value` with leaf(x) for each x that is not a plain tuple, list or dict, rebuilt where
    needed: how futures become Args in a call's arguments, and Args their values."""
    if type(value) is tuple:
        return tuple(map_leaves(v, leaf) for v in value)
    if type(value) is list:
        return [map_leaves(v, leaf) for v in value]
    if type(value) is dict:
        return {k: map_leaves(v, leaf) for k, v in value.items()}
    return leaf(value)


def _aligned(n):
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def socket_pair():
    """A channel: (client end, worker end), both close-on-exec."""
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def send(sock, header, parts=()):
    """Sends `header` (a small picklable value) with `parts` in one datagram. The parts stay
    the caller's: the receiver gets its own copies of their descriptors."""
    if not isinstance(sock, socket.socket):
        return sock.send_message(header, parts)  # a framed channel (below)
    fds = []
    described = [part.describe(fds) for part in parts]
    datagram = pickle.dumps((header, described), protocol=5)
    if len(datagram) > MAX_DATAGRAM or len(fds) > MAX_FDS:
        raise ValueError("message too large for one datagram: send fewer parts at once")
    socket.send_fds(sock, [datagram], fds)


def receive(sock, loads=pickle.loads):
    """(header, parts) of the next message, its envelope unpickled with `loads` (a restricted
    one where the other end is not trusted); ChannelClosed at the end, MalformedMessage for a
    message that does not follow the protocol."""
    if not isinstance(sock, socket.socket):
        return sock.receive_message(loads)  # a framed channel (below)
    datagram, fds, flags, _ = socket.recv_fds(sock, MAX_DATAGRAM, MAX_FDS)
    try:
        if not datagram:
            raise ChannelClosed()
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise MalformedMessage("a truncated message")
        header, specs, indexes = _envelope(datagram, loads, len(fds))
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    for index, fd in enumerate(fds):
        if index not in indexes:
            os.close(fd)
    return header, _parts(specs, fds)


def _envelope(data, loads, fd_count):
    """(header, part specs, descriptor indexes named) of a message's envelope, checked."""
    try:
        header, described = loads(data, buffers=())
        specs = [_part_spec(entry, fd_count) for entry in described]
    except MalformedMessage:
        raise
    except Exception as e:
        raise MalformedMessage(f"an unreadable message: {e}") from None
    indexes = [spec[0] for spec in specs if spec[0] is not None]
    if len(set(indexes)) != len(indexes):
        raise MalformedMessage("two values in one descriptor")
    return header, specs, indexes


def _parts(specs, fds):
    """The Parts of a checked message; they own their descriptors from here on."""
    return [
        Part(data=data) if index is None else Part(fd=fds[index], data_len=data_len, spans=spans)
        for index, data, data_len, spans in specs
    ]


def _part_spec(entry, fd_count):
    """(descriptor index or None, inline bytes, pickle length, buffer spans), checked."""
    if isinstance(entry, bytes):
        return None, entry, 0, ()
    index, data_len, spans = entry
    index, data_len = int(index), int(data_len)
    spans = tuple((int(start), int(length)) for start, length in spans)
    if not 0 <= index < fd_count or data_len < 0 or any(start < 0 or length < 0 for start, length in spans):
        raise MalformedMessage("a value outside its message")
    return index, None, data_len, spans


def batch_size(parts):
    """Bytes a list of parts takes inline in a datagram (memfd parts: a few dozen)."""
    return sum(len(p.data) if p.data is not None else 64 for p in parts)


# -- frames: the messages above over a byte stream (no descriptors)
#
# A frame is: u32 envelope length, u32 count of blobs, a u64 length per blob, the envelope (the
# pickled (header, described parts), as in a datagram) and the blobs, one per memfd part, in
# the order of their descriptor indexes. A blob is the memfd's pickle stream and buffers.

_FRAME_HEAD = struct.Struct("<II")
_BLOB_LENGTH = struct.Struct("<Q")
MAX_BLOB = 64 << 30  # a value larger than this is not a value but an attack


def frame_buffers(header, parts):
    """The buffers of one frame, in order. Memfd parts are mapped, not copied; the mappings
    outlive the parts' descriptors, so the caller may close the parts at once."""
    fds = []
    described = [part.describe(fds) for part in parts]
    envelope = pickle.dumps((header, described), protocol=5)
    if len(envelope) > MAX_DATAGRAM or len(fds) > MAX_FDS:
        raise ValueError("message too large for one frame: send fewer parts at once")
    blobs = []
    for part, fd in zip([p for p in parts if p.data is None], fds):
        size = max([part.data_len] + [start + length for start, length in part.spans])
        blobs.append(memoryview(mmap.mmap(fd, size, prot=mmap.PROT_READ)) if size else memoryview(b""))
    head = _FRAME_HEAD.pack(len(envelope), len(blobs)) + b"".join(_BLOB_LENGTH.pack(b.nbytes) for b in blobs)
    return [head, envelope, *blobs]


def read_frame(readinto, loads=pickle.loads):
    """The next frame as (header, parts), read with `readinto(memoryview) -> bytes read (0 at
    the end)`. ChannelClosed at a clean end, MalformedMessage for a frame that breaks the
    protocol (a cut one included)."""
    head = _read_exact(readinto, _FRAME_HEAD.size, at_start=True)
    envelope_len, blob_count = _FRAME_HEAD.unpack(head)
    if envelope_len > MAX_DATAGRAM or blob_count > MAX_FDS:
        raise MalformedMessage("a frame larger than the protocol allows")
    lengths = [_BLOB_LENGTH.unpack(_read_exact(readinto, _BLOB_LENGTH.size))[0] for _ in range(blob_count)]
    if any(n > MAX_BLOB for n in lengths):
        raise MalformedMessage("a value larger than the protocol allows")
    envelope = _read_exact(readinto, envelope_len)
    fds = []
    try:
        for length in lengths:
            fds.append(_read_into_memfd(readinto, length))
        header, specs, indexes = _envelope(envelope, loads, len(fds))
        if len(indexes) != len(fds):
            raise MalformedMessage("a value sent but not named")
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    return header, _parts(specs, fds)


def _read_exact(readinto, n, at_start=False):
    buffer = bytearray(n)
    view = memoryview(buffer)
    done = 0
    while done < n:
        got = readinto(view[done:])
        if not got:
            if at_start and done == 0:
                raise ChannelClosed()
            raise MalformedMessage("a frame cut short")
        done += got
    return bytes(buffer)


def _read_into_memfd(readinto, length):
    """A sealed memfd holding the next `length` bytes of the stream, read straight into its
    pages (no buffer in between: a value is copied once, from the socket)."""
    fd = os.memfd_create("sluice-part", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, max(length, 1))
        mapped = mmap.mmap(fd, max(length, 1))
        done = 0
        while done < length:
            got = readinto(memoryview(mapped)[done:length])
            if not got:
                raise MalformedMessage("a frame cut short")
            done += got
        # Not closed on a failed read: its traceback may still hold a view of the mapping, which
        # goes with the mapping once that is dropped.
        mapped.close()
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        os.close(fd)
        raise
    return fd


class StreamChannel:
    """A channel over a connected stream socket, used blocking (a function worker's, when its
    client is remote). It reads exactly one frame at a time, so select() on it tells the truth:
    no frame waits in a buffer of its own."""

    def __init__(self, sock):
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def send_message(self, header, parts):
        for buffer in frame_buffers(header, parts):
            self.sock.sendall(buffer)

    def receive_message(self, loads=pickle.loads):
        return read_frame(self.sock.recv_into, loads)

    def close(self):
        self.sock.close()
