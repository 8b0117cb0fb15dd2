"""How the client reaches the JSON API (/api/v1/...): HTTP over TCP (`sluice serve` at an
endpoint), HTTP over the data home's unix socket (the background server of `sluice server
start`), or, when that server cannot start, one `sluice api` process per call.

Each transport's `request(method, path, body, query, timeout)` answers (status, content
type, body bytes). A transport is safe to share between threads: calls take turns on one
kept-alive connection.
"""

import http.client
import io
import json
import os
import socket
import subprocess
import threading
import urllib.parse

from sluice import exceptions

# The server closes a kept-alive connection after a while; a request that finds it closed
# before anything was answered is sent again once on a fresh one.
_STALE = (
    http.client.RemoteDisconnected,
    BrokenPipeError,
    ConnectionResetError,
    http.client.CannotSendRequest,
    http.client.BadStatusLine,
)


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over an AF_UNIX socket. Paths longer than sun_path allows are reached through the
    directory's /proc/self/fd entry."""

    def __init__(self, path, timeout=None):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        target, dirfd = self._path, None
        if len(os.fsencode(target)) > 100:
            dirfd = os.open(os.path.dirname(target), os.O_PATH | os.O_DIRECTORY)
            target = f"/proc/self/fd/{dirfd}/{os.path.basename(self._path)}"
        try:
            sock.connect(target)
        except OSError:
            sock.close()
            raise
        finally:
            if dirfd is not None:
                os.close(dirfd)
        self.sock = sock


class _StreamedBody(io.RawIOBase):
    """An answer's body as it arrives; closing it closes its connection."""

    def __init__(self, response, conn):
        self._response, self._conn = response, conn

    def readable(self):
        return True

    def readinto(self, buffer):
        return self._response.readinto(buffer)

    def readline(self, size=-1):
        # The response's own: a buffered reader over readinto would wait for a full buffer.
        return self._response.readline(size)

    def close(self):
        if not self.closed:
            self._conn.close()
        super().close()


class HttpTransport:
    def __init__(self, endpoint=None, socket_path=None, api_key=None, timeout=None):
        self.endpoint = endpoint.rstrip("/") if endpoint else None
        self.socket_path = socket_path
        self.api_key = api_key
        self.timeout = timeout
        self._lock = threading.Lock()
        self._conn = None
        self._prefix = ""
        if self.endpoint:
            parsed = urllib.parse.urlsplit(self.endpoint)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise exceptions.ConfigError(
                    f"endpoint '{endpoint}' is not an http(s) URL", hint="for example: http://127.0.0.1:8181"
                )
            self._scheme, self._host, self._port = parsed.scheme, parsed.hostname, parsed.port
            self._prefix = parsed.path.rstrip("/")

    def describe(self):
        return self.endpoint or f"the data home's server ({self.socket_path})"

    def _connect(self):
        if self.socket_path:
            return _UnixConnection(self.socket_path, timeout=self.timeout)
        cls = http.client.HTTPSConnection if self._scheme == "https" else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self.timeout)
        connect = conn.connect

        def connect_nodelay():
            connect()
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        conn.connect = connect_nodelay
        return conn

    def connection(self):
        """A connection of its own with no timeout, for a long exchange that is not JSON
        (python/sluice/_remote.py); with `target` and `headers`."""
        conn = self._connect()
        conn.timeout = None
        return conn

    def target(self, path):
        return f"{self._prefix}/api/v1/{path}"

    def headers(self, content_type="application/json"):
        headers = {"Content-Type": content_type, "Accept": "*/*"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def request(self, method, path, body=None, query=None, timeout=None, stream=False):
        """(status, content type, payload). With `stream`, a successful answer's payload is a
        file object read as the server sends it (close it when done), on a connection of its
        own, so other calls need not wait for it to be read."""
        target = self.target(path)
        query = {k: v for k, v in (query or {}).items() if v is not None}
        if query:
            target += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        headers = self.headers()
        if stream:
            return self._request_streamed(method, target, data, headers, timeout or self.timeout)
        with self._lock:
            for attempt in (0, 1):
                fresh = self._conn is None
                if fresh:
                    self._conn = self._connect()
                conn = self._conn
                try:
                    if conn.sock is not None:
                        conn.sock.settimeout(timeout or self.timeout)
                    else:
                        conn.timeout = timeout or self.timeout
                    conn.request(method, target, body=data, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    if response.will_close:
                        conn.close()
                        self._conn = None
                    return response.status, response.getheader("Content-Type", ""), payload
                except _STALE:
                    conn.close()
                    self._conn = None
                    if fresh or attempt:
                        raise exceptions.ServiceUnavailableError(
                            f"{self.describe()} closed the connection", hint="is the server running?"
                        ) from None
                except OSError as e:  # TimeoutError included
                    conn.close()
                    self._conn = None
                    raise self._failure(e, timeout or self.timeout) from None

    def _failure(self, error, timeout):
        """The SDK's exception for a connection that failed with `error`."""
        if isinstance(error, TimeoutError):
            return exceptions.GatewayTimeoutError(f"no answer from {self.describe()} within {timeout} s")
        return exceptions.ServiceUnavailableError(
            f"cannot reach {self.describe()}: {getattr(error, 'strerror', None) or error}",
            hint="start it with: sluice serve" if self.endpoint else "sluice server start",
        )

    def _request_streamed(self, method, target, data, headers, timeout):
        conn = self._connect()
        conn.timeout = timeout
        try:
            conn.request(method, target, body=data, headers=headers)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise self._failure(e, timeout) from None
        content_type = response.getheader("Content-Type", "")
        if response.status >= 400:
            payload = response.read()
            conn.close()
            return response.status, content_type, payload
        return response.status, content_type, _StreamedBody(response, conn)

    def close(self):
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class ProcessTransport:
    """One `sluice api` process per call: the fallback when the background server cannot
    start (tens of milliseconds a call instead of about one)."""

    def __init__(self, binary, env):
        self.binary = binary
        self.env = env

    def describe(self):
        return f"{self.binary} api"

    def request(self, method, path, body=None, query=None, timeout=None, stream=False):
        """As HttpTransport.request; a streamed payload has been read whole all the same."""
        args = [self.binary, "api", method, path]
        for key, value in (query or {}).items():
            if value is not None:
                args += ["--query", f"{key}={value}"]
        try:
            proc = subprocess.run(
                args,
                input=json.dumps(body).encode() if body is not None else b"",
                env=self.env,
                capture_output=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            message = f"no answer from {self.describe()} within {timeout} s"
            raise exceptions.GatewayTimeoutError(message) from None
        head, _, payload = proc.stdout.partition(b"\n")
        parts = head.decode(errors="replace").split(" ", 2)
        if len(parts) < 2 or parts[0] != "HTTP":
            message = proc.stderr.decode(errors="replace").strip() or f"sluice exited {proc.returncode}"
            raise exceptions.InternalError(message)
        status = int(parts[1])
        if stream and status < 400:
            payload = io.BytesIO(payload)
        return status, parts[2] if len(parts) > 2 else "", payload

    def close(self):
        pass
