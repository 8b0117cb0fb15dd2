"""Function workers on a remote `sluice serve` (src/server/api_executors.h), for an Executor
whose client has an endpoint (`Client(endpoint=...)`, SLUICE_ENDPOINT or a profile's).

Locally the client hands each worker one end of a socket pair (python/sluice/parallel.py).
Descriptors do not cross a network, so here the server holds that end and relays bytes: the
client sends a worker's frames (python/sluice/_channel.py, values inline) as the bodies of
POST /api/v1/executors/{id}/workers/{i}, in order, and reads what the worker sends from one
long GET of the same path. The session itself is the answer to POST /api/v1/executors, a
stream of JSON lines that stays open as long as the workers: status lines as `sluice
_executors` writes them locally, the workers' output, and an empty line every second; closing
it ends the workers. Over HTTP(S) like every other call, a remote executor needs no port or
credentials of its own, and TLS and API keys cover it.

`RemoteChannel` looks to the dispatcher like a local channel: a descriptor to select() on
(readable when a message has arrived), `send_message` that queues a frame for its writer
thread (never blocking the dispatcher), and `receive_message`.
"""

import collections
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

from sluice import _channel, _config, _safe_pickle

# A worker's bytes go in requests of at most this size: the server refuses bodies over 16 MiB.
_UPLINK_BYTES = 8 << 20
_IDLE_REUSE_SECONDS = 2


def remote_client(client=None):
    """The Client whose server runs the workers: `client` when it has an endpoint, else one
    from the profile when that names an endpoint; None for local workers."""
    if client is not None:
        return client if client.endpoint else None
    if not _config.resolve().endpoint:
        return None
    from sluice.client import Client  # the SDK's client, which imports a great deal

    return Client()


class RemoteWorkers:
    """The remote counterpart of the `sluice _executors` process: starts the workers, and holds
    their session. `status_fd` reads status lines as locally; `channels` are RemoteChannels.
    `wait(timeout)` and `kill()` behave as a Popen's."""

    def __init__(self, client, count, name, python, pip, resources, internet_access):
        body = {"workers": count, "name": name, "pip": pip or {}, "internet": bool(internet_access)}
        if python:
            body["python"] = str(python)
        if resources.get("memory"):
            body["memory"] = str(resources["memory"])
        if resources.get("cpus"):
            body["cpus"] = resources["cpus"]
        # Errors (401, 403, a bad package, too many workers) are raised here, typed as any call's.
        self._stream = client._api("POST", "executors", body=body, raw=True, stream=True, timeout=60)
        try:
            first = json.loads(self._stream.readline())
            self.executor_id = str(first["executor"])
        except (ValueError, KeyError, TypeError, OSError):
            self._stream.close()
            raise _channel.ChannelClosed("the server did not start the executor") from None
        transport = client._current_transport()
        self.channels = [RemoteChannel(transport, self.executor_id, i) for i in range(count)]
        self.status_fd, self._status_write = os.pipe()
        self._pump = threading.Thread(target=self._pump_status, name="sluice-remote-status", daemon=True)
        self._pump.start()

    def _pump_status(self):
        try:
            for line in iter(self._stream.readline, b""):
                line = line.strip()
                if not line:
                    continue  # the server's heartbeat
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict) and ("stdout" in message or "stderr" in message):
                    # What a worker prints shows where the client's prints do, as locally.
                    out = sys.stdout if "stdout" in message else sys.stderr
                    out.write(f"{message.get('stdout', message.get('stderr'))}\n")
                    out.flush()
                    continue
                os.write(self._status_write, line + b"\n")
        except (OSError, ValueError, http.client.HTTPException):
            pass  # the session's connection is gone: so are its workers
        finally:
            os.close(self._status_write)

    def wait(self, timeout=None):
        self._pump.join(timeout)
        if self._pump.is_alive():
            raise subprocess.TimeoutExpired("remote executor " + self.executor_id, timeout)
        self._stream.close()

    def kill(self):
        self._stream.close()  # the server ends the workers when their session's answer goes


class RemoteChannel:
    """One remote worker's channel (see the module docstring)."""

    def __init__(self, transport, executor_id, index, loads=_safe_pickle.loads):
        self._transport = transport
        self._path = f"executors/{executor_id}/workers/{index}"
        self._loads = loads
        self._notify, self._notify_peer = socket.socketpair()
        self._notify.setblocking(False)
        self._inbox = collections.deque()  # (header, parts), or the exception that ended it
        self._outbox = collections.deque()  # memoryviews of frames not sent yet
        self._cond = threading.Condition()
        self._closed = False
        self._broken = None  # why sending failed
        self._down = None  # the GET's connection
        self._reader = threading.Thread(target=self._read, name="sluice-remote-read", daemon=True)
        self._writer = threading.Thread(target=self._write, name="sluice-remote-write", daemon=True)
        self._reader.start()
        self._writer.start()

    # -- what the dispatcher uses, as on a local channel

    def fileno(self):
        return self._notify.fileno()

    def setblocking(self, flag):
        pass  # never blocks the dispatcher

    def send_message(self, header, parts):
        if self._closed or self._broken is not None:
            raise BrokenPipeError(f"the channel to the remote worker is closed ({self._broken or 'closed'})")
        buffers = [memoryview(b) for b in _channel.frame_buffers(header, parts)]
        with self._cond:
            self._outbox.extend(buffers)
            self._cond.notify()

    def receive_message(self, loads=None):
        # Wake-ups are drained first: one left over would make select() spin.
        try:
            while self._notify.recv(4096):
                pass
        except (BlockingIOError, OSError):
            pass
        with self._cond:
            if not self._inbox:
                raise BlockingIOError()
            item = self._inbox.popleft()
        if isinstance(item, BaseException):
            with self._cond:
                self._inbox.appendleft(item)  # the end stays the end
            raise item
        return item

    def close(self):
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        try:  # the worker's channel closes on the server: it exits
            self._transport.request("DELETE", self._path, timeout=5)
        except Exception:
            pass
        down = self._down
        if down is not None:
            try:
                down.sock.shutdown(socket.SHUT_RDWR)
            except (OSError, AttributeError):
                pass
        self._notify.close()

    # -- the threads

    def _deliver(self, item):
        with self._cond:
            self._inbox.append(item)
        try:
            self._notify_peer.send(b"x")
        except OSError:
            pass  # closed: nobody reads any more

    def _read(self):
        try:
            conn = self._transport.connection()
            self._down = conn
            conn.request("GET", self._transport.target(self._path), headers=self._transport.headers())
            response = conn.getresponse()
            if response.status >= 400:
                raise _channel.ChannelClosed(response.read(300).decode(errors="replace"))
            while True:
                self._deliver(_channel.read_frame(response.readinto, self._loads))
        except (_channel.MalformedMessage, _channel.ChannelClosed) as e:
            self._deliver(e)
        except (OSError, http.client.HTTPException) as e:
            self._deliver(_channel.ChannelClosed(str(e)))
        except Exception as e:  # whatever it was, the dispatcher must hear of the end
            self._deliver(_channel.MalformedMessage(f"an unreadable message: {e!r}"))
        finally:
            if self._down is not None:
                self._down.close()
            self._notify_peer.close()

    def _write(self):
        conn, last_used = None, 0.0
        try:
            while True:
                with self._cond:
                    while not self._outbox and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    body, size = [], 0
                    while self._outbox and size < _UPLINK_BYTES:
                        view = self._outbox[0]
                        take = min(view.nbytes, _UPLINK_BYTES - size)
                        body.append(view[:take])
                        size += take
                        if take == view.nbytes:
                            self._outbox.popleft()
                        else:
                            self._outbox[0] = view[take:]
                # The server closes a connection idle for a few seconds (5 s on TCP); a request
                # on one it may be closing could lose the frames in it, so none is reused then.
                if conn is not None and time.monotonic() - last_used > _IDLE_REUSE_SECONDS:
                    conn.close()
                    conn = None
                if conn is None:
                    conn = self._transport.connection()
                headers = self._transport.headers("application/octet-stream")
                headers["Content-Length"] = str(size)
                conn.request("POST", self._transport.target(self._path), body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
                if response.status >= 400:
                    raise OSError(f"HTTP {response.status}: {answer[:300].decode(errors='replace')}")
                last_used = time.monotonic()
        except (OSError, http.client.HTTPException) as e:
            # Part of a frame may have gone: the stream cannot go on. The worker is ended, and
            # the dispatcher hears why first.
            self._broken = e
            self._deliver(_channel.ChannelClosed(f"the connection to its server failed: {e}"))
            try:
                self._transport.request("DELETE", self._path, timeout=5)
            except Exception:
                pass
        finally:
            if conn is not None:
                conn.close()
