"""The SDK's table creation (issue 8 §2 through §3): create is not import, plans with schema
conflicts, external tables, embedded and remote."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from bauplan import exceptions, state
from bauplan.schema import Table, TableKind


def test_create_is_not_import(client, sdk_home):
    table = client.create_table("passengers", str(sdk_home.titanic), branch="tester.dev")
    assert isinstance(table, Table) and table.fqn == "bauplan.passengers"
    assert [f.name for f in table.fields] == ["PassengerId", "Name", "Age", "Fare", "Survived"]
    assert not table.records  # the schema, no rows
    imported = client.import_data("passengers", str(sdk_home.titanic), branch="tester.dev")
    assert isinstance(imported, state.TableDataImportState) and imported.job_status == "SUCCESS"
    assert imported.ctx.table_name == "passengers" and imported.ctx.branch_name == "tester.dev"
    assert imported.error is None
    assert client.get_table("passengers", "tester.dev").records == 6  # not 12
    with pytest.raises(exceptions.AlreadyExistsError) as error:
        client.create_table("passengers", str(sdk_home.titanic), branch="tester.dev")
    assert isinstance(error.value, exceptions.UpdateConflictError)
    replaced = client.create_table("passengers", str(sdk_home.titanic), branch="tester.dev", replace=True)
    assert not replaced.records
    with pytest.raises(exceptions.TableNotFoundError):
        client.import_data("nobody_made_me", str(sdk_home.titanic), branch="tester.dev")


def test_create_in_a_namespace_with_partitions(client, sdk_home):
    client.create_namespace("Taxi", "tester.dev")
    table = client.create_table(
        "trips",
        str(sdk_home.taxi),
        branch=client.get_branch("tester.dev"),
        namespace="Taxi",
        partitioned_by="day(tpep_pickup_datetime), PULocationID",
    )
    assert table.fqn == "Taxi.trips"
    assert [(p.transform, p.name) for p in table.partitions][:1][0][0] == "day"
    assert len(table.partitions) == 2
    client.import_data("trips", str(sdk_home.taxi), branch="tester.dev", namespace="Taxi")
    assert (
        client.scan("trips", ref="tester.dev", namespace="Taxi", filters="PULocationID = 132").num_rows == 3
    )


def test_plans_auto_apply_or_wait_for_a_resolution(client, sdk_home, tmp_path):
    planned = client.plan_table_creation("planned", str(sdk_home.titanic), branch="tester.dev")
    assert isinstance(planned, state.TableCreatePlanState) and planned.can_auto_apply
    assert planned.ctx.table_name == "planned" and "schema_info" in yaml.safe_load(planned.plan)
    assert client.has_table("planned", "tester.dev")  # applied at once: no conflicts
    # Two files disagree on Age's type: the plan waits for a resolution.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pq.write_table(pa.table({"PassengerId": [1], "Age": pa.array([22], pa.int64())}), mixed / "a.parquet")
    pq.write_table(pa.table({"PassengerId": [2], "Age": pa.array(["38"], pa.string())}), mixed / "b.parquet")
    conflicted = client.plan_table_creation("mixed", str(mixed), branch="tester.dev")
    assert not conflicted.can_auto_apply and not client.has_table("mixed", "tester.dev")
    with pytest.raises(exceptions.TableCreatePlanApplyStatusError) as error:
        client.apply_table_creation_plan(conflicted)
    assert "Age" in error.value.message and error.value.state.job_status == "FAILED"
    plan = yaml.safe_load(conflicted.plan)
    for column in plan["schema_info"]["detected_schemas"]:
        column["dst_datatype"] = column["dst_datatype"][:1]
    applied = client.apply_table_creation_plan(yaml.safe_dump(plan))
    assert isinstance(applied, state.TableCreatePlanApplyState) and applied.error is None
    assert client.has_table("mixed", "tester.dev")
    with pytest.raises(exceptions.InvalidPlanError):
        client.apply_table_creation_plan("")


def test_external_tables(client, sdk_home, tmp_path):
    made = client.create_external_table_from_parquet("outside", [str(sdk_home.titanic)], branch="tester.dev")
    assert made.job_status == "SUCCESS" and made.ctx.table_name == "outside" and made.error is None
    table = client.get_table("outside", "tester.dev")
    assert table.kind == TableKind.ExternalTable and table.is_external() and table.records == 6
    assert client.query("SELECT MAX(Fare) AS m FROM outside", ref="tester.dev").to_pylist() == [{"m": 71.28}]
    with pytest.raises(exceptions.AlreadyExistsError):
        client.create_external_table_from_parquet("outside", [str(sdk_home.titanic)], branch="tester.dev")
    with pytest.raises(ValueError):
        client.create_external_table_from_parquet("outside", str(sdk_home.titanic), branch="tester.dev")


def test_external_table_from_iceberg_metadata(client, sdk_home, tmp_path):
    from foreign_iceberg import write_iceberg_with_pyiceberg

    location = write_iceberg_with_pyiceberg(tmp_path / "elsewhere", pq.read_table(sdk_home.titanic))
    registered = client.create_external_table_from_metadata(
        "people", location, namespace="bauplan", branch="tester.dev"
    )
    assert isinstance(registered, Table) and registered.is_external() and registered.records == 6
    with pytest.raises(exceptions.UpdateConflictError):
        client.create_external_table_from_metadata(
            "people", location, namespace="bauplan", branch="tester.dev"
        )
    with pytest.raises(exceptions.NamespaceNotFoundError):
        client.create_external_table_from_metadata(
            "people", location, namespace="nowhere", branch="tester.dev"
        )


def test_hostile_table_creation(client, sdk_home):
    with pytest.raises(exceptions.BadRequestError):
        client.create_table("../../escape", str(sdk_home.titanic), branch="tester.dev")
    # A data home's own files are not a source.
    with pytest.raises((exceptions.BadRequestError, exceptions.NotFoundError)):
        client.create_table("stolen", str(sdk_home.cli.home), branch="tester.dev")
    with pytest.raises(exceptions.ProtectedBranchError):
        client.create_table("direct", str(sdk_home.titanic), branch="main")
    assert {t.name for t in client.get_tables("tester.dev")} == {"titanic", "taxi_trips"}
