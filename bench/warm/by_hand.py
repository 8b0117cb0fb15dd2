"""The bundled example (examples/taxi) written by hand as one DuckDB + pandas script: what a
user would run instead of `sluice run`. Same steps: the SQL join with the short-trip filter,
the pandas fare-per-mile model from start_date on, the per-borough totals written as Parquet,
and the expectation. Usage: python by_hand.py DATA_DIR OUT.parquet"""

import sys

import duckdb
import pandas as pd

data, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
trips = con.execute(
    f"""
    SELECT t.trip_id, t.pickup_at, t.miles, t.fare, t.payment, z.zone, z.borough
    FROM read_parquet('{data}/taxi_trips.parquet') AS t
    JOIN read_csv_auto('{data}/taxi_zones.csv') AS z ON t.zone_id = z.zone_id
    WHERE t.miles >= 0.5 AND t.pickup_at >= TIMESTAMP '2024-01-01'
    """
).df()
trips["fare_per_mile"] = (trips["fare"] / trips["miles"].where(trips["miles"] > 0)).round(3)
print(f"clean_trips: kept {len(trips)} trips")
stats = (
    trips.groupby("borough")
    .agg(
        trips=("trip_id", "size"),
        total_miles=("miles", "sum"),
        total_fares=("fare", "sum"),
        avg_fare_per_mile=("fare_per_mile", "mean"),
    )
    .round({"total_miles": 2, "total_fares": 2, "avg_fare_per_mile": 3})
    .sort_values("trips", ascending=False)
    .reset_index()
)
assert stats["borough"].notna().all() and len(stats) == 5
stats.to_parquet(out, index=False)
print(pd.read_parquet(out).to_string(index=False))
