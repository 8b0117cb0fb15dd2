"""bench/pipeline's Python step: the window's trips joined with their pickup zone in pandas,
with two derived columns."""

import bauplan


@bauplan.model()
@bauplan.python("3.11", pip={"pandas": "2.2.3"})
def trips_with_zones(
    trips=bauplan.Model("trips_window"),
    zones=bauplan.Model("taxi_zones", columns=["LocationID", "Borough", "Zone"]),
):
    """Each trip with its pickup Borough and Zone (trips from unknown zones dropped), its tip
    as a share of the fare and its fare per mile (null when the fare or distance is 0)."""
    df = trips.to_pandas()
    df = df.merge(zones.to_pandas(), left_on="PULocationID", right_on="LocationID", how="inner")
    df = df.drop(columns="LocationID")
    df["tip_ratio"] = df["tip_amount"] / df["fare_amount"].where(df["fare_amount"] > 0)
    df["fare_per_mile"] = df["fare_amount"] / df["trip_distance"].where(df["trip_distance"] > 0)
    return df
