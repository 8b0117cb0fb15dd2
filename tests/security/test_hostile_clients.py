"""Hostile clients of `sluice serve` (issue 9 §1): every request needs a key of the data home,
every action is bounded by the key's role, the key's user is the only identity, `main` moves
only for an admin, and the server refuses to listen beyond loopback without keys and TLS.
Everything is checked from outside, on the real binary."""

import json
import subprocess
import time

import pytest
from cli_harness import Sluice, call

import bauplan
from bauplan import exceptions


@pytest.fixture
def keyed(tmp_path):
    home = Sluice(tmp_path / "home")
    keys = {
        role: home("key", "create", "--user", role + "_user", "--role", role).stdout.strip()
        for role in ("reader", "writer", "admin")
    }
    yield home, keys
    home.remove_shared_memory()


def test_each_role_does_what_it_may_and_nothing_more(keyed):
    home, keys = keyed
    with home.serving() as uri:
        reader = bauplan.Client(endpoint=uri, api_key=keys["reader"])
        writer = bauplan.Client(endpoint=uri, api_key=keys["writer"])
        admin = bauplan.Client(endpoint=uri, api_key=keys["admin"])
        main = admin.get_branch("main").hash
        # A reader reads and queries, and writes nothing.
        assert [b.name for b in reader.get_branches()] == ["main"]
        assert reader.query("SELECT 42 AS answer", ref="main").column("answer").to_pylist() == [42]
        with pytest.raises(exceptions.ForbiddenError) as error:
            reader.create_branch("reader_user.dev", "main")
        assert error.value.code == 403
        assert not admin.has_branch("reader_user.dev")
        # A writer writes to its branches, but cannot move main.
        writer.create_branch("writer_user.dev", "main")
        writer.create_namespace("Staging", "writer_user.dev")
        for attempt in (
            lambda: writer.merge_branch("writer_user.dev", "main"),
            lambda: writer.delete_branch("main"),
        ):
            with pytest.raises(exceptions.ForbiddenError):
                attempt()
        assert admin.get_branch("main").hash == main
        status, answer = call(
            f"{uri}/api/v1/branches/main/merge", "POST", {"source_ref": "writer_user.dev"}, keys["writer"]
        )
        assert status == 403 and "admin" in answer["error"]["message"]
        # An admin may; a merge commit is the admin's, whatever the body claims (main moves
        # first, so the writer's branch no longer fast-forwards).
        admin.create_branch("admin_user.side", "main")
        admin.create_namespace("Side", "admin_user.side")
        admin.merge_branch("admin_user.side", "main")
        status, _ = call(
            f"{uri}/api/v1/branches/main/merge",
            "POST",
            {"source_ref": "writer_user.dev", "author": "writer_user"},
            keys["admin"],
        )
        assert status == 200
        head = next(admin.get_commits("main"))
        assert head.author.name == "admin_user" and len(head.parent_hashes) == 2
        assert admin.has_namespace("Staging", "main") and admin.has_namespace("Side", "main")
        assert next(admin.get_commits("writer_user.dev")).author.name == "writer_user"


def test_a_removed_key_is_refused_at_once_and_no_key_is_ever_shown(keyed):
    home, keys = keyed
    listed = home.json("key", "ls")
    assert {k["user"]: k["role"] for k in listed} == {
        "reader_user": "reader",
        "writer_user": "writer",
        "admin_user": "admin",
    }
    shown = home("key", "ls").stdout + json.dumps(listed)
    assert not any(key in shown for key in keys.values())
    with home.serving() as uri:
        assert call(f"{uri}/api/v1/branches", key=keys["writer"])[0] == 200
        writer_id = next(k["id"] for k in listed if k["user"] == "writer_user")
        home("key", "rm", writer_id[:8])
        status, answer = call(f"{uri}/api/v1/branches", key=keys["writer"])
        assert status == 401 and answer["error"]["type"] == "NotAuthorizedException"
        # The other keys still work; a new key works without a restart.
        assert call(f"{uri}/api/v1/branches", key=keys["reader"])[0] == 200
        fresh = home("key", "create", "--user", "carol", "--role", "reader").stdout.strip()
        assert call(f"{uri}/api/v1/branches", key=fresh)[0] == 200


@pytest.mark.parametrize(
    "args, words",
    [
        (["key", "create", "--user", "eve", "--role", "root"], "unknown role 'root'"),
        (["key", "create", "--user", "../eve", "--role", "admin"], "without spaces, quotes or slashes"),
        (["key", "create", "--role", "admin"], "--user"),
        (["key", "rm", "abc"], "not a key id"),
        (["key", "rm", "abcdef12"], "no API key 'abcdef12'"),
        (["--endpoint", "http://127.0.0.1:9", "key", "ls"], "local data home"),
    ],
)
def test_key_commands_refuse_bad_input(sluice, args, words):
    proc = sluice(*args, check=False)
    assert proc.returncode != 0 and words in proc.stderr and "Traceback" not in proc.stderr


def test_the_server_will_not_listen_beyond_loopback_unprotected(tmp_path):
    home = Sluice(tmp_path / "home")
    proc = home("serve", "--host", "0.0.0.0", "--port", "0", check=False, timeout=30)
    assert proc.returncode != 0 and "without API keys" in proc.stderr and "sluice key create" in proc.stderr
    home("key", "create", "--user", "ops", "--role", "admin")
    proc = home("serve", "--host", "0.0.0.0", "--port", "0", check=False, timeout=30)
    assert proc.returncode != 0 and "without TLS" in proc.stderr
    proc = home("serve", "--port", "0", "--tls-cert", tmp_path / "missing.pem", check=False, timeout=30)
    assert proc.returncode != 0 and "--tls-key" in proc.stderr
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    proc = home("serve", "--port", "0", "--tls-cert", garbage, "--tls-key", garbage, check=False, timeout=30)
    assert proc.returncode != 0 and "cannot load the TLS certificate" in proc.stderr
    home.remove_shared_memory()


def test_with_keys_and_tls_it_serves_https_only(keyed, tmp_path):
    home, keys = keyed
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            key,
            "-out",
            cert,
        ],
        check=True,
        capture_output=True,
    )
    with home.serving("--host", "0.0.0.0", "--tls-cert", cert, "--tls-key", key) as uri:
        assert uri.startswith("https://")
        port = uri.rsplit(":", 1)[1]
        https = f"https://127.0.0.1:{port}/api/v1/branches"
        ok = subprocess.run(
            ["curl", "-sS", "--cacert", cert, "-H", f"Authorization: Bearer {keys['reader']}", https],
            capture_output=True,
            text=True,
        )
        assert ok.returncode == 0 and "main" in ok.stdout, ok.stderr
        no_key = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", cert, https],
            capture_output=True,
            text=True,
        )
        assert no_key.stdout == "401"
        # Plain HTTP to the same port gets no answer.
        plain = subprocess.run(
            ["curl", "-sS", "-m", "5", f"http://127.0.0.1:{port}/api/v1/branches"],
            capture_output=True,
            text=True,
        )
        assert plain.returncode != 0 or "main" not in plain.stdout


def test_huge_and_slow_clients_do_not_stop_the_server(tmp_path):
    import socket
    import time

    home = Sluice(tmp_path / "home")
    home("branch", "ls")
    with home.serving("--max-request-mb", "1", "--threads", "16") as uri:
        host, port = uri.removeprefix("http://").split(":")
        # A body past the limit is refused unread, with a typed error.
        status, answer = call(f"{uri}/api/v1/branches", "POST", {"name": "x" * (2 << 20)})
        assert status == 413 and answer["error"]["kind"] == "invalid input"
        # Eight trickling clients (the number that used to stop it) each hold a connection.
        slow = []
        for _ in range(8):
            s = socket.create_connection((host, int(port)))
            s.sendall(b"POST /api/v1/branches HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
            slow.append(s)
        try:
            started = time.monotonic()
            status, branches = call(f"{uri}/api/v1/branches")
            assert status == 200 and time.monotonic() - started < 5
        finally:
            for s in slow:
                s.close()
        assert call(f"{uri}/api/v1/branches")[0] == 200
    home.remove_shared_memory()


def test_bodies_nested_too_deep_or_with_huge_numbers_are_refused_and_the_server_stays_up(tmp_path):
    """Found by fuzz/rest_fuzzer: a 40 KB body of nested arrays overflowed the server's stack
    (one request killed it); a float where an integer belongs was undefined behaviour."""
    import urllib.request

    import pyarrow as pa
    import pyarrow.parquet as pq

    home = Sluice(tmp_path / "home")
    home("checkout", "-b", "dev")
    pq.write_table(pa.table({"a": [1]}), tmp_path / "t.parquet")
    home("table", "create", "t", "--search-uri", tmp_path / "t.parquet")
    with home.serving() as uri:
        deep = b"[" * 20000 + b"]" * 20000
        for path in ("/api/v1/branches", "/v1/dev/namespaces/bauplan/tables/t"):
            request = urllib.request.Request(
                uri + path, data=deep, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                urllib.request.urlopen(request, timeout=30)
                raise AssertionError("a 20,000-deep body was accepted")
            except urllib.error.HTTPError as error:
                assert error.code == 400
                assert "nested more than 256 levels" in json.loads(error.read())["error"]["message"]
        status, answer = call(f"{uri}/api/v1/branches", "POST", {"name": "x.dev", "from_ref": 6.3e19})
        assert status == 400
        assert call(f"{uri}/api/v1/branches")[0] == 200  # still serving
    home.remove_shared_memory()


def test_fifty_clients_at_once_and_hostile_queries_leave_the_server_answering(keyed, tmp_path):
    """Fifty clients at once, some of them hostile (no key, a wrong key, queries that read host
    files or write them): every well-behaved one is answered correctly, every hostile one is
    refused, nothing of the host leaks or is written, and the server stays up."""
    import concurrent.futures

    home, keys = keyed
    written = tmp_path / "stolen.csv"
    hostile_sql = [
        "SELECT * FROM read_text('/etc/shadow')",
        "SELECT * FROM read_csv('/etc/passwd')",
        f"COPY (SELECT 1 AS a) TO '{written}'",
        "SET enable_external_access=true",
        "ATTACH '/tmp/x.duckdb' AS x",
    ]
    with home.serving("--threads", "16") as uri:

        def client(i):
            kind = i % 5
            if kind == 0:  # no key
                return ("nokey", call(f"{uri}/api/v1/branches")[0])
            if kind == 1:  # a key that is not one
                return ("badkey", call(f"{uri}/api/v1/branches", key="sk_" + "0" * 40)[0])
            reader = bauplan.Client(endpoint=uri, api_key=keys["reader"])
            if kind == 2:  # a hostile query with a valid key
                try:
                    table = reader.query(hostile_sql[i % len(hostile_sql)], ref="main")
                    return ("hostile", "answered", str(table.to_pylist()))
                except exceptions.BauplanError as error:
                    return ("hostile", error.code, str(error))
            if kind == 3:
                table = reader.query(f"SELECT {i} AS n", ref="main")
                return ("query", 200, table.column("n").to_pylist() == [i], "")
            status, answer = call(f"{uri}/api/v1/branches", key=keys["reader"])
            return ("branches", status, json.dumps(answer))

        with concurrent.futures.ThreadPoolExecutor(50) as pool:
            outcomes = list(pool.map(client, range(100)))
        for outcome in outcomes:
            kind, status = outcome[0], outcome[1]
            if kind in ("nokey", "badkey"):
                assert status == 401, outcome
            elif kind == "hostile":
                assert status == 400, outcome
                assert "root:" not in outcome[2] and "/bin/" not in outcome[2], outcome
            elif kind == "query":
                assert status == 200 and outcome[2], outcome
            else:
                assert status == 200 and "main" in outcome[2], outcome
        assert not written.exists()
        assert call(f"{uri}/api/v1/branches", key=keys["reader"])[0] == 200


def test_answers_a_client_does_not_read_cannot_fill_the_servers_memory(tmp_path):
    """Hostile: a client asks for large query answers and never reads them. Each waits in the
    server's memory until sent; once they hold the memory budget, further queries are refused
    with one clear error instead of piling up, and served again once the answers go."""
    import http.client
    import urllib.parse

    home = Sluice(tmp_path / "home")
    home.env["SLUICE_MEMORY_BUDGET"] = "4MiB"
    try:
        with home.serving() as uri:
            parsed = urllib.parse.urlsplit(uri)
            sql = json.dumps({"sql": "SELECT range AS i FROM range(2000000)", "output": "arrow_stream"})

            def ask():
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
                conn.request("POST", "/api/v1/query", body=sql, headers={"Content-Type": "application/json"})
                return conn, conn.getresponse()

            unread, answer = ask()  # 16 MB of rows: its headers, and nothing read after them
            assert answer.status == 200
            refused, second = ask()
            assert second.status == 409
            assert "not yet read by their clients" in second.read().decode()
            refused.close()
            unread.close()  # the answer goes; its memory is given back
            deadline = time.monotonic() + 40
            while True:
                again, third = ask()
                status = third.status
                third.read()
                again.close()
                if status == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert status == 200
    finally:
        home.remove_shared_memory()
