"""bench/pipeline's Python step in dbt-duckdb: the window's trips joined with their pickup zone
in pandas, with two derived columns (as ../../project/models.py)."""


def model(dbt, session):
    """Each trip with its pickup Borough and Zone (trips from unknown zones dropped), its tip
    as a share of the fare and its fare per mile (null when the fare or distance is 0)."""
    dbt.config(materialized="table")
    df = dbt.ref("trips_window").df()
    zones = dbt.source("taxi", "zones").project("LocationID, Borough, Zone").df()
    df = df.merge(zones, left_on="PULocationID", right_on="LocationID", how="inner")
    df = df.drop(columns="LocationID")
    df["tip_ratio"] = df["tip_amount"] / df["fare_amount"].where(df["fare_amount"] > 0)
    df["fare_per_mile"] = df["fare_amount"] / df["trip_distance"].where(df["trip_distance"] > 0)
    return df
