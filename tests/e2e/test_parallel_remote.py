"""sluice.map, futures and Dask graphs from a script against `sluice serve` (issue 11 §2,
remote mode): the workers run on the server, in its sandboxes, and values travel inline over
HTTP(S) through it. The scripts run where no `sluice` binary can be found, so nothing can run
on the client's machine."""

import http.client
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.parse

import pytest
from cli_harness import ROOT, Sluice


@pytest.fixture
def server(tmp_path):
    home = Sluice(tmp_path / "server")
    keys = {
        role: home("key", "create", "--user", role, "--role", role).stdout.strip()
        for role in ("reader", "writer")
    }
    keys["other writer"] = home("key", "create", "--user", "mallory", "--role", "writer").stdout.strip()
    with home.serving() as uri:
        yield uri, keys, home
    home.remove_shared_memory()


def run_remote(tmp_path, uri, key, code, timeout=120, extra_env=None):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    # No SLUICE_BINARY, no sluice on PATH, no data home: only the server can run anything.
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT / "python"),
        "SLUICE_ENDPOINT": uri,
        "SLUICE_API_KEY": key,
        "SLUICE_HOME": str(tmp_path / "no-home"),
        **(extra_env or {}),
    }
    return subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout
    )


def ok(proc):
    assert proc.returncode == 0, f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def server_workers(home_pid):
    """The sandboxed function workers running under the server process."""
    found, frontier = [], [home_pid]
    while frontier:
        parent = frontier.pop()
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                frontier.append(int(entry))
                if cmdline.endswith(b"sluice._executor\0") and b"sluice-sandbox" not in cmdline:
                    found.append(int(entry))
    return found


def serve_pid(uri):
    port = urllib.parse.urlsplit(uri).port
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True).stdout
    return int(out.split("pid=")[1].split(",")[0])


def test_map_futures_large_values_and_dask_run_on_the_servers_workers(server, tmp_path):
    uri, keys, _ = server
    out = ok(
        run_remote(
            tmp_path,
            uri,
            keys["writer"],
            """
            import os
            import numpy as np
            import dask, dask.array as da
            import sluice

            with sluice.Executor(workers=2) as ex:
                squares = [f.result() for f in ex.map(lambda x: x * x, range(1000))]
                print("squares", sum(squares) == sum(x * x for x in range(1000)))
                # 24 MiB each way: more than one request body, in both directions.
                big = np.arange(3_000_000, dtype=np.float64)
                back = ex.call_async(lambda a: a * 2, big).result()
                print("large", back.shape == big.shape and float(back[-1]) == 2 * float(big[-1]))
                chained = ex.call_async(lambda a: a.sum(), ex.call_async(lambda: np.ones(1_000_000)))
                print("chained", chained.result())
                print("mapreduce", ex.map_reduce(lambda x: x + 1, range(100), sum).result())

                def where():
                    print("printed on the server")
                    return os.path.exists("/proc/self"), os.getuid()
                print("where", ex.call_async(where).result()[0])

                def fails():
                    raise KeyError("no such zone")
                try:
                    ex.call_async(fails).result()
                except KeyError as e:
                    print("raised", type(e).__name__, e, "fails" in str(e.__cause__))

            x = da.random.default_rng(3).random((4000, 64), chunks=(500, 64))
            q, r = da.linalg.tsqr(x)
            try:
                mine = dask.compute(r, scheduler=sluice.dask.get)[0]
            except Exception as e:
                while e.__context__ is not None:
                    e = e.__context__
                print("tsqr failed", type(e).__name__, e)
                raise
            theirs = dask.compute(r, scheduler="sync")[0]
            print("tsqr", np.allclose(np.abs(mine), np.abs(theirs)))
            """,
        )
    )
    assert "squares True" in out
    assert "large True" in out
    assert "chained 1000000.0" in out
    assert "mapreduce 5050" in out
    assert "where True" in out and "printed on the server" in out
    assert "raised KeyError 'no such zone' True" in out
    assert "tsqr True" in out


def test_remote_workers_need_a_writer_key_and_stay_their_owners(server, tmp_path):
    uri, keys, _ = server
    script = """
        import sluice
        try:
            with sluice.Executor(workers=1) as ex:
                print("ran", ex.call_async(lambda: 1).result())
        except Exception as e:
            print("refused", type(e).__name__, e)
        """
    assert "refused ForbiddenError" in ok(run_remote(tmp_path, uri, keys["reader"], script))
    assert "refused UnauthorizedError" in ok(run_remote(tmp_path, uri, "not-a-key", script))
    assert "ran 1" in ok(run_remote(tmp_path, uri, keys["writer"], script))

    # Another writer cannot read, feed or end somebody else's workers, even knowing the id.
    host, port = urllib.parse.urlsplit(uri).hostname, urllib.parse.urlsplit(uri).port

    def call(method, path, key, body=b""):
        conn = http.client.HTTPConnection(host, port, timeout=10)
        conn.request(method, "/api/v1/" + path, body=body, headers={"Authorization": f"Bearer {key}"})
        response = conn.getresponse()
        return conn, response

    conn, session = call("POST", "executors", keys["writer"], json.dumps({"workers": 1}).encode())
    assert session.status == 200
    executor = json.loads(session.readline())["executor"]
    for method in ("GET", "POST", "DELETE"):
        other, answer = call(method, f"executors/{executor}/workers/0", keys["other writer"], b"junk")
        assert answer.status == 404 and b"not yours" in answer.read()
        other.close()
    other, answer = call("DELETE", f"executors/{executor}", keys["other writer"])
    assert answer.status == 404
    other.close()
    # Its owner may, and may read a worker once only.
    mine, down = call("GET", f"executors/{executor}/workers/0", keys["writer"])
    assert down.status == 200
    again, twice = call("GET", f"executors/{executor}/workers/0", keys["writer"])
    assert twice.status == 409 and b"already being read" in twice.read()
    again.close()
    mine.close()
    conn.close()


def test_limits_and_bad_environments_are_clear_errors(server, tmp_path):
    uri, keys, _ = server
    out = ok(
        run_remote(
            tmp_path,
            uri,
            keys["writer"],
            """
            import sluice
            for make in (
                lambda: sluice.Executor(workers=17),
                lambda: sluice.Executor(workers=1, pip={"pandas": ""}),
                lambda: sluice.Executor(workers=1, resources={"memory": "lots"}),
            ):
                try:
                    make()
                except Exception as e:
                    print("refused", type(e).__name__, e)
            held = sluice.Executor(workers=8)  # this user's share of the server's workers
            try:
                sluice.Executor(workers=1)
            except Exception as e:
                print("limit", type(e).__name__, e)
            held.shutdown()
            with sluice.Executor(workers=8) as ex:  # given back
                print("after", ex.call_async(lambda: 2).result())
            with sluice.Executor(workers=1, pip={"no-such-package-sluice": "1.0"}) as ex:
                try:
                    ex.call_async(lambda: 1).result()
                except Exception as e:
                    print("environment", type(e).__name__, e)
            """,
        )
    )
    assert "'workers' must be a whole number from 1 to 16, not 17" in out
    assert "pip package 'pandas' has no pinned version" in out or "needs a pinned version" in out
    assert "refused" in out and "lots" in out
    assert "limit UpdateConflictError" in out
    assert "user 'writer' holds 8 function workers" in out and "share of one user, 8" in out
    assert "after 2" in out
    assert "environment" in out and "no-such-package-sluice" in out


def test_one_user_never_holds_every_worker(server):
    """Hostile to other users: one writer asks for every worker the server has, with two keys
    of its own. It gets its share (half the server's 16) and no more, the 409 says the share and
    how many it holds, and another user still gets workers; the server's own limit holds over
    all users."""
    uri, keys, home = server
    keys["writer's second key"] = home("key", "create", "--user", "writer", "--role", "writer").stdout.strip()
    keys["third writer"] = home("key", "create", "--user", "carol", "--role", "writer").stdout.strip()
    host, port = urllib.parse.urlsplit(uri).hostname, urllib.parse.urlsplit(uri).port
    held = []

    def ask(key, workers):
        """POST /executors; a session granted stays held (its answer open) to the test's end."""
        conn = http.client.HTTPConnection(host, port, timeout=60)
        conn.request(
            "POST",
            "/api/v1/executors",
            body=json.dumps({"workers": workers}).encode(),
            headers={"Authorization": f"Bearer {keys[key]}"},
        )
        answer = conn.getresponse()
        if answer.status != 200:
            error = json.loads(answer.read())["error"]
            conn.close()
            return answer.status, error["message"]
        held.append(conn)
        return answer.status, json.loads(answer.readline())

    try:
        assert ask("writer", 17)[0] == 400  # more than the server has at all
        status, session = ask("writer", 8)
        assert status == 200 and session["workers"] == 8
        for key in ("writer", "writer's second key"):  # another key of the same user
            status, message = ask(key, 1)
            assert status == 409, message
            assert "user 'writer' holds 8 function workers" in message, message
            assert "share of one user, 8 (of the server's 16)" in message, message
        # Another user is not locked out: it has a share of its own.
        status, session = ask("other writer", 8)
        assert status == 200 and session["workers"] == 8
        # Both shares taken, the server has none left for a third user, and says so.
        status, message = ask("third writer", 1)
        assert status == 409 and "already runs 16 function workers" in message and "limit of 16" in message
    finally:
        for conn in held:
            conn.close()
    # Closed sessions give their workers back: the users get their shares again.
    deadline = time.monotonic() + 30
    while True:
        status, session = ask("third writer", 8)
        if status == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200, session
    held.pop().close()


def test_a_share_other_than_half_is_the_servers_setting(tmp_path):
    home = Sluice(tmp_path / "server")
    key = home("key", "create", "--user", "ann", "--role", "writer").stdout.strip()
    refused = home("serve", "--port", "0", "--workers-per-user", "17", check=False)
    assert refused.returncode != 0 and "from 1 to 16" in refused.stderr
    home.env["SLUICE_REMOTE_WORKERS_PER_USER"] = "many"
    refused = home("serve", "--port", "0", check=False)
    assert refused.returncode != 0 and "SLUICE_REMOTE_WORKERS_PER_USER" in refused.stderr
    home.env["SLUICE_REMOTE_WORKERS_PER_USER"] = "2"
    with home.serving() as uri:
        answers, conns = [], []
        where = urllib.parse.urlsplit(uri)
        for workers in (2, 1):
            conn = http.client.HTTPConnection(where.hostname, where.port)
            conns.append(conn)  # the first session is held while the second is asked for
            conn.request(
                "POST",
                "/api/v1/executors",
                body=json.dumps({"workers": workers}).encode(),
                headers={"Authorization": f"Bearer {key}"},
            )
            answer = conn.getresponse()
            answers.append((answer.status, answer.readline() if answer.status == 200 else answer.read()))
        assert answers[0][0] == 200
        assert answers[1][0] == 409 and b"holds 2 function workers" in answers[1][1]
        assert b"share of one user, 2" in answers[1][1]
        for conn in conns:
            conn.close()
    home.remove_shared_memory()


def test_a_client_that_goes_away_leaves_no_worker_running(server, tmp_path):
    """Hostile to the server: a client killed with SIGKILL while its workers run endless calls.
    The server notices its session's answer is gone and ends them."""
    uri, keys, _ = server
    pid = serve_pid(uri)
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; exec(sys.stdin.read())"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT / "python"),
            "SLUICE_ENDPOINT": uri,
            "SLUICE_API_KEY": keys["writer"],
            "SLUICE_HOME": str(tmp_path / "no-home"),
        },
        text=True,
    )
    proc.stdin.write(
        textwrap.dedent(
            """
            import time, sluice
            ex = sluice.Executor(workers=2)
            futures = [ex.call_async(lambda: time.sleep(600)) for _ in range(2)]
            time.sleep(1)
            print("running", flush=True)
            time.sleep(600)
            """
        )
    )
    proc.stdin.close()
    assert proc.stdout.readline().strip() == "running"
    assert len(server_workers(pid)) == 2
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 15
    while server_workers(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert server_workers(pid) == []


def test_a_worker_that_forges_its_frames_cannot_act_in_the_client(server, tmp_path):
    """A hostile function writes on its worker's stream itself: a frame whose envelope would
    run a command in the client when unpickled, and a frame cut short. Neither acts."""
    uri, keys, _ = server
    marker = tmp_path / "pwned"
    out = ok(
        run_remote(
            tmp_path,
            uri,
            keys["writer"],
            f"""
            import sluice

            def channel():
                import os, socket
                for fd in range(3, 256):
                    try:
                        s = socket.socket(fileno=os.dup(fd))
                    except OSError:
                        continue
                    if s.type == socket.SOCK_STREAM and s.family == socket.AF_UNIX:
                        return s
                    s.close()

            def forged_envelope():
                import os, pickle, struct
                class Exploit:
                    def __reduce__(self):
                        return (os.system, ("touch {marker}",))
                envelope = pickle.dumps((Exploit(), []))
                channel().sendall(struct.pack("<II", len(envelope), 0) + envelope)
                return "sent"

            def cut_short():
                import os, struct
                channel().sendall(struct.pack("<IIQ", 10, 1, 1 << 30) + b"x" * 100)
                os._exit(0)

            for fn in (forged_envelope, cut_short):
                with sluice.Executor(workers=1) as ex:
                    try:
                        print(fn.__name__, "returned", ex.call_async(fn).result())
                    except Exception as e:
                        print(fn.__name__, "failed", type(e).__name__, e)
            print("client alive")
            """,
        )
    )
    assert not marker.exists()
    assert "forged_envelope failed WorkerDiedError" in out and "breaks the protocol" in out
    assert "cut_short failed WorkerDiedError" in out
    assert "client alive" in out


def test_over_https_with_the_servers_certificate(tmp_path):
    """Beyond loopback the server speaks only HTTPS: the workers' bytes go through TLS like any
    other call's, with nothing of their own to configure."""
    home = Sluice(tmp_path / "server")
    key = home("key", "create", "--user", "ops", "--role", "writer").stdout.strip()
    cert, private = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", private, "-out", cert],
        check=True,
        capture_output=True,
    )
    try:
        with home.serving("--host", "0.0.0.0", "--tls-cert", cert, "--tls-key", private) as uri:
            port = urllib.parse.urlsplit(uri).port
            out = ok(
                run_remote(
                    tmp_path,
                    f"https://127.0.0.1:{port}",
                    key,
                    """
                    import numpy as np
                    import sluice
                    with sluice.Executor(workers=2) as ex:
                        print("sum", sum(f.result() for f in ex.map(lambda x: x + 1, range(500))))
                        print("array", float(ex.call_async(lambda a: a.sum(), np.ones(1 << 20)).result()))
                    """,
                    extra_env={"SSL_CERT_FILE": str(cert)},
                )
            )
            assert "sum 125250" in out and "array 1048576.0" in out
    finally:
        home.remove_shared_memory()
