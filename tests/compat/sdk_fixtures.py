"""The SDK's two modes over one data home, for the test_sdk*.py files: `client` is an embedded
Client (the data home's background server, or `sluice api` per call where that cannot start)
or a remote one (`sluice serve --port 0` of the same home). Data with bauplan users' mixed-case
columns: titanic (PassengerId, Name, Age, Fare, Survived) and NYC taxi trips (PULocationID,
DOLocationID, tpep_pickup_datetime, trip_distance)."""

import datetime
import subprocess
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_harness import SLUICE, Sluice

import sluice
from sluice import exceptions


def write_titanic(path):
    pq.write_table(
        pa.table(
            {
                "PassengerId": pa.array([1, 2, 3, 4, 5, 6], pa.int64()),
                "Name": ["Braund", "Cumings", "Heikkinen", "Futrelle", "Allen", "Moran"],
                "Age": pa.array([22.0, 38.0, 26.0, 35.0, 35.0, None], pa.float64()),
                "Fare": [7.25, 71.28, 7.92, 53.1, 8.05, 8.46],
                "Survived": [False, True, True, True, False, False],
            }
        ),
        path,
    )
    return path


def write_taxi(path):
    start = datetime.datetime(2023, 1, 1, 8, 0)
    pq.write_table(
        pa.table(
            {
                "tpep_pickup_datetime": pa.array(
                    [start + datetime.timedelta(hours=h) for h in range(8)], pa.timestamp("us")
                ),
                "PULocationID": pa.array([132, 138, 161, 132, 237, 236, 161, 132], pa.int64()),
                "DOLocationID": pa.array([236, 161, 237, 138, 132, 161, 236, 237], pa.int64()),
                "trip_distance": [17.1, 9.4, 1.2, 11.0, 2.5, 0.8, 1.9, 18.3],
            }
        ),
        path,
    )
    return path


def load_table(client, table, path, branch):
    """bauplan's way: create the table from the files' schema, then import them."""
    try:
        client.create_table(table, str(path), branch=branch)
    except exceptions.ApiMethodError:
        pass  # a server without table creation: import creates the table as well
    return client.import_data(table, str(path), branch=branch)


class Home:
    """A data home with titanic and taxi_trips on branch `tester.dev`."""

    def __init__(self, tmp_path):
        self.cli = Sluice(tmp_path / "home")
        self.data = tmp_path / "data"
        self.data.mkdir()
        self.titanic = write_titanic(self.data / "titanic.parquet")
        self.taxi = write_taxi(self.data / "taxi.parquet")
        self.server = None

    def embedded(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # no background server yet: fallback
            client = sluice.Client(home=self.cli.home)
            list(client.get_branches())  # connects now, inside the filter
        return client

    def remote(self):
        self.server = subprocess.Popen(
            [str(SLUICE), "serve", "--port", "0"], env=self.cli.env, stdout=subprocess.PIPE, text=True
        )
        uri = self.server.stdout.readline().split()[5]
        return sluice.Client(endpoint=uri)

    def close(self):
        if self.server:
            self.server.terminate()
            self.server.wait(timeout=10)
        self.cli("server", "stop", check=False)
        self.cli.remove_shared_memory()


@pytest.fixture(params=["embedded", "remote"])
def sdk_home(request, tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_USER", "tester")
    for name in ("SLUICE_ENDPOINT", "SLUICE_PROFILE", "BAUPLAN_PROFILE", "SLUICE_API_KEY", "BAUPLAN_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLUICE_CONFIG_PATH", str(tmp_path / "no-config.yml"))
    h = Home(tmp_path)
    h.mode = request.param
    yield h
    h.close()


@pytest.fixture
def client(sdk_home):
    home = sdk_home
    c = home.embedded() if home.mode == "embedded" else home.remote()
    c.create_branch("tester.dev", from_ref="main")
    load_table(c, "titanic", home.titanic, "tester.dev")
    load_table(c, "taxi_trips", home.taxi, "tester.dev")
    yield c
    c.close()
