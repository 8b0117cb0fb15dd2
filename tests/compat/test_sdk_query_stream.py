"""Query answers are streamed: the server sends an Arrow IPC stream as the query worker wrote
it, `max_rows` stops the query where it runs, and the query_to_* methods write batch by batch
without a partial file when a query fails. Both modes (embedded and remote)."""

import json
import os
import time

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sluice import exceptions


def home_pids(home):
    """The processes of data home `home` (its server, its workers): SLUICE_HOME in their
    environment. Only its own: other tests' servers run at the same time."""
    mine = f"SLUICE_HOME={home}".encode() + b"\0"
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                if mine in environ.read():
                    pids.append(pid)
        except OSError:
            continue
    return pids


def open_answers(home):
    """Answer files still open in the processes of data home `home` (its server's memory files
    of query answers)."""
    found = []
    for pid in home_pids(home):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if "sluice-query-answer" in os.readlink(f"/proc/{pid}/fd/{fd}"):
                    found.append((pid, fd))
            except OSError:
                pass
    return found


# More rows than DuckDB could produce, let alone count, within the tests' time.
ENDLESS = "SELECT i FROM range(1000000000000) t(i)"


def test_a_large_answer_arrives_in_batches_and_whole(client, tmp_path):
    sql = "SELECT i, i * 2 AS twice, 'row ' || i::VARCHAR AS label FROM range(700000) t(i)"
    table = client.query(sql, ref="tester.dev")
    assert table.num_rows == 700_000
    assert pc.sum(table["twice"]).as_py() == 2 * sum(range(700_000))

    batches = 0
    with client._query_stream(sql, {"ref": "tester.dev"}) as reader:
        assert reader.schema.names == ["i", "twice", "label"]
        for _ in reader:
            batches += 1
    assert batches > 1  # a stream of DuckDB's batches, not one table sent whole

    rows = client.query_to_generator(sql, ref="tester.dev")
    assert sum(row["twice"] for row in rows) == 2 * sum(range(700_000))

    parquet = client.query_to_parquet_file(tmp_path / "big.parquet", sql, ref="tester.dev")
    assert pq.read_table(parquet).equals(table)
    lines = client.query_to_json_file(
        tmp_path / "big.jsonl", sql, ref="tester.dev", file_format="jsonl", max_rows=3
    )
    labels = [json.loads(line)["label"] for line in lines.read_text().splitlines()]
    assert labels == ["row 0", "row 1", "row 2"]
    empty = client.query_to_json_file(tmp_path / "none.json", sql, ref="tester.dev", max_rows=0)
    assert json.loads(empty.read_text()) == []


def test_max_rows_stops_the_query_where_it_runs(client):
    started = time.monotonic()
    table = client.query(ENDLESS, ref="tester.dev", max_rows=5, client_timeout=120)
    assert table["i"].to_pylist() == [0, 1, 2, 3, 4]
    assert time.monotonic() - started < 60
    assert next(iter(client.query_to_generator(ENDLESS, ref="tester.dev", max_rows=1))) == {"i": 0}
    assert client.query(ENDLESS, ref="tester.dev", max_rows=0).num_rows == 0


def test_a_failed_query_leaves_no_file_behind(client, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = out / "out.parquet"
    with pytest.raises(exceptions.BauplanQueryError):
        client.query_to_parquet_file(target, "SELECT no_such_column FROM titanic", ref="tester.dev")
    with pytest.raises(exceptions.TableNotFoundError):
        client.query_to_csv_file(out / "out.csv", "SELECT * FROM no_such_table", ref="tester.dev")
    # A query that fails while it runs, after DuckDB produced rows.
    with pytest.raises(exceptions.BauplanQueryError, match="(?i)conversion|convert|could not"):
        client.query_to_parquet_file(
            target,
            "SELECT CASE WHEN i < 200000 THEN i::VARCHAR ELSE 'x' END::INTEGER AS n FROM range(300000) t(i)",
            ref="tester.dev",
        )
    assert os.listdir(out) == []


def test_a_client_that_walks_away_mid_answer_does_not_hurt_the_server(client, sdk_home):
    """Hostile: a client that asks for a large answer and drops the connection after a few
    bytes, again and again; the server goes on answering and keeps nothing of those answers."""
    sql = "SELECT i, repeat('x', 200) AS pad FROM range(400000) t(i)"
    transport = client._current_transport()
    for _ in range(5):
        status, content_type, body = transport.request(
            "POST", "query", body={"sql": sql, "ref": "tester.dev", "output": "arrow_stream"}, stream=True
        )
        assert status == 200 and content_type == "application/vnd.apache.arrow.stream"
        assert len(body.read(1000)) == 1000
        body.close()
    assert client.query("SELECT count(*) AS n FROM titanic", ref="tester.dev")["n"].to_pylist() == [6]
    deadline = time.monotonic() + 10
    assert home_pids(sdk_home.cli.home)  # its server is found: the check below looks at it
    while open_answers(sdk_home.cli.home) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert open_answers(sdk_home.cli.home) == []


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("max_rows", -1, "max_rows must be a non-negative integer"),
        ("max_rows", 1.5, "max_rows must be a non-negative integer"),
        ("max_rows", "5", "max_rows must be a non-negative integer"),
        ("max_rows", 2**64 - 1, "max_rows must be a non-negative integer"),
        ("output", "../../etc/passwd", "output must be arrow, arrow_stream, json or tty"),
    ],
)
def test_a_client_that_sends_bad_query_fields_gets_a_clear_error(client, field, value, message):
    """Hostile: the raw API, past the SDK's own checks; each is one 400 naming the field."""
    status, _, payload = client._current_transport().request(
        "POST", "query", body={"sql": "SELECT 1 AS x", "ref": "tester.dev", field: value}
    )
    assert status == 400
    assert message in json.loads(payload)["error"]["message"]


def test_the_arrow_file_answer_of_older_clients_still_arrives(client):
    import pyarrow as pa

    status, content_type, payload = client._current_transport().request(
        "POST", "query", body={"sql": "SELECT PassengerId FROM titanic ORDER BY 1", "ref": "tester.dev"}
    )
    assert status == 200 and content_type == "application/vnd.apache.arrow.file"
    table = pa.ipc.open_file(pa.py_buffer(payload)).read_all()
    assert table["PassengerId"].to_pylist() == [1, 2, 3, 4, 5, 6]
