"""The embedded client talks to the data home's background server over its unix socket (no
process per call), starts it when absent or gone, and falls back to one `sluice api` process
per call, with a warning, when it cannot start."""

import json
import os
import stat
import statistics
import time
import warnings

import pytest
from cli_harness import Sluice

import sluice
from sluice import exceptions
from sluice._transport import HttpTransport, ProcessTransport


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_USER", "tester")
    monkeypatch.delenv("SLUICE_ENDPOINT", raising=False)
    monkeypatch.setenv("SLUICE_CONFIG_PATH", str(tmp_path / "none.yml"))
    homes = []

    def make(path):
        home = Sluice(path)
        homes.append(home)
        return home

    yield make
    for home in homes:
        home("server", "stop", check=False)
        home.remove_shared_memory()


def median_ms(call, count=20):
    times = []
    for _ in range(count):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def test_calls_go_to_the_background_server(data_home, tmp_path):
    home = data_home(tmp_path / "home")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        client = sluice.Client(home=home.home)
        client.create_branch("tester.dev", "main")
    assert isinstance(client._transport, HttpTransport) and client._transport.socket_path
    socket_path = home.home / "server.sock"
    assert stat.S_ISSOCK(os.stat(socket_path).st_mode) and stat.S_IMODE(os.stat(socket_path).st_mode) == 0o600
    assert home.json("server", "status")["running"] is True
    # A catalog call costs about a millisecond, not a process start (40+ ms here).
    assert median_ms(lambda: list(client.get_branches())) < 15
    assert median_ms(lambda: client.get_branch("tester.dev")) < 15
    # A second client reuses the running server; both see the same catalog.
    other = sluice.Client(home=home.home)
    assert other.get_branch("tester.dev") == client.get_branch("tester.dev")


def test_the_server_comes_back_after_it_stopped(data_home, tmp_path):
    home = data_home(tmp_path / "home")
    client = sluice.Client(home=home.home)
    client.create_branch("tester.a", "main")
    home("server", "stop")
    assert client.has_branch("tester.a")  # restarted on the next call
    assert home.json("server", "status")["running"] is True


def test_a_long_data_home_path_still_works(data_home, tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    home = data_home(deep / "home")
    assert len(str(home.home / "server.sock")) > 108  # longer than sun_path
    client = sluice.Client(home=home.home)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert client.create_branch("tester.deep", "main").name == "tester.deep"
    assert [b.name for b in client.get_branches(name="deep")] == ["tester.deep"]
    if isinstance(client._transport, ProcessTransport):
        # The server could not bind so long a path: the warning says it could not start.
        assert any("could not start" in str(w.message) for w in caught)
    else:
        assert not caught


def test_fallback_when_the_server_cannot_start(data_home, tmp_path):
    home = data_home(tmp_path / "home")
    home("branch", "ls")  # the data home exists
    (home.home / "server.sock").mkdir()  # hostile: the socket's path is taken by a directory
    client = sluice.Client(home=home.home)
    with pytest.warns(RuntimeWarning, match="could not start"):
        branch = client.create_branch("tester.fallback", "main")
    assert isinstance(client._transport, ProcessTransport)
    assert branch.name == "tester.fallback" and client.has_branch("tester.fallback")
    with pytest.raises(exceptions.BranchExistsError):
        client.create_branch("tester.fallback", "main")
    assert json.loads(home("-O", "json", "branch", "ls").stdout)[1]["name"] == "tester.fallback"


def test_a_fresh_client_shared_by_threads_connects_once(data_home, tmp_path, monkeypatch):
    """Threads that make a new embedded client's first calls together connect once (one
    `sluice server start`, one connection), and all use it: no fallback to a process per call."""
    import concurrent.futures

    home = data_home(tmp_path / "home")
    home("branch", "ls")  # the data home exists; its server is not running
    connects = []
    connect = sluice.Client._connect
    monkeypatch.setattr(sluice.Client, "_connect", lambda self: connects.append(1) or connect(self))
    client = sluice.Client(home=home.home)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback would warn
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: [b.name for b in client.get_branches()], range(8)))
    assert answers == [["main"]] * 8 and len(connects) == 1
    assert isinstance(client._transport, HttpTransport) and client._transport.socket_path
    client.close()
