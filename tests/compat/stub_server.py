"""A stand-in for a remote Sluice server, for the tests of profiles and endpoints (test_cli.py,
test_sdk_config.py): it answers every GET with one JSON body, after `delay` seconds, and
records each request's (path, Authorization header)."""

import contextlib
import http.server
import json
import threading
import time


@contextlib.contextmanager
def stub_server(answer, delay=0.0):
    """Yields (url, seen): the server's base URL and the list of requests it has answered."""
    seen = []
    body = json.dumps(answer).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            seen.append((self.path, self.headers.get("Authorization")))
            time.sleep(delay)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    # Threaded with daemon handler threads: a slow answer never holds up shutdown.
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
