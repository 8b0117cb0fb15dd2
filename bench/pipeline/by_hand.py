"""bench/pipeline written by hand as one DuckDB + pandas script: what a user would run instead
of `sluice run`. The same steps as project/: DuckDB reads the Parquet files with the time-window
filter, pandas joins the trips with their pickup zone and adds the derived columns, then the
per-zone group-by, written as a Parquet file (the closest to a REPLACE of a table).
Usage: python by_hand.py DATA_DIR OUT.parquet"""

import sys

import duckdb
import pandas as pd

data, out = sys.argv[1], sys.argv[2]
trips = (
    duckdb.connect()
    .execute(
        f"""
        SELECT tpep_pickup_datetime, PULocationID, DOLocationID, passenger_count, trip_distance,
               fare_amount, tip_amount, total_amount
        FROM read_parquet('{data}/trips/*.parquet')
        WHERE tpep_pickup_datetime >= TIMESTAMP '2023-04-01'
          AND tpep_pickup_datetime < TIMESTAMP '2023-07-01'
        """
    )
    .df()
)
zones = pd.read_parquet(f"{data}/zones.parquet", columns=["LocationID", "Borough", "Zone"])
trips = trips.merge(zones, left_on="PULocationID", right_on="LocationID", how="inner")
trips = trips.drop(columns="LocationID")
trips["tip_ratio"] = trips["tip_amount"] / trips["fare_amount"].where(trips["fare_amount"] > 0)
trips["fare_per_mile"] = trips["fare_amount"] / trips["trip_distance"].where(trips["trip_distance"] > 0)
stats = (
    trips.groupby(["Borough", "Zone"])
    .agg(
        trips=("PULocationID", "size"),
        passengers=("passenger_count", "sum"),
        miles=("trip_distance", "sum"),
        fares=("fare_amount", "sum"),
        tips=("tip_amount", "sum"),
        totals=("total_amount", "sum"),
        avg_tip_ratio=("tip_ratio", "mean"),
        avg_fare_per_mile=("fare_per_mile", "mean"),
    )
    .reset_index()
)
stats.to_parquet(out, index=False)
print(f"by hand: {len(trips)} trips in the window, {len(stats)} zones")
