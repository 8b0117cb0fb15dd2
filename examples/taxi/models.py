"""The Python models of the taxi example: one pandas model, one materialized polars model
and an expectation on the result."""

from helpers import fare_per_mile

import bauplan


@bauplan.model()
@bauplan.python("3.11", pip={"pandas": "2.2.3"})
def clean_trips(
    trips=bauplan.Model(
        "trips_with_zones",
        columns=["trip_id", "pickup_at", "miles", "fare", "borough"],
        filter="pickup_at >= $start_date",
    ),
):
    """Trips since start_date with a fare per mile, as a pandas DataFrame."""
    df = trips.to_pandas()
    df["fare_per_mile"] = fare_per_mile(df["fare"], df["miles"])
    print(f"clean_trips: kept {len(df)} trips")
    return df


@bauplan.python("3.11", pip={"polars": "1.37.1"})
@bauplan.model(materialization_strategy="REPLACE")
def borough_stats(trips=bauplan.Model("clean_trips")):
    """Per-borough totals, materialized as the table bauplan.borough_stats."""
    import polars as pl

    return (
        pl.from_arrow(trips)
        .group_by("borough")
        .agg(
            pl.len().alias("trips"),
            pl.col("miles").sum().round(2).alias("total_miles"),
            pl.col("fare").sum().round(2).alias("total_fares"),
            pl.col("fare_per_mile").mean().round(3).alias("avg_fare_per_mile"),
        )
        .sort("trips", descending=True)
    )


@bauplan.expectation()
@bauplan.python("3.11")
def every_borough_has_trips(stats=bauplan.Model("borough_stats", columns=["borough", "trips"])):
    from bauplan.standard_expectations import expect_column_no_nulls

    return expect_column_no_nulls(stats, "borough") and stats.num_rows == 5
