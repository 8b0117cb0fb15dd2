"""Regenerates the bundled example data (deterministic: same seed, same files).

Run from the repo root: .venv/bin/python examples/taxi/data/generate.py
"""

import datetime as dt
import pathlib
import random

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = pathlib.Path(__file__).parent
BOROUGHS = ["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island"]


def zones():
    names = [
        "Midtown",
        "Harlem",
        "Williamsburg",
        "Astoria",
        "Flushing",
        "Fordham",
        "St. George",
        "Chelsea",
        "Park Slope",
        "Jamaica",
        "Riverdale",
        "Tottenville",
    ]
    rows = [
        {"zone_id": i + 1, "zone": name, "borough": BOROUGHS[i % len(BOROUGHS)]}
        for i, name in enumerate(names)
    ]
    return pa.Table.from_pylist(rows)


def trips(n=20000, seed=7):
    rng = random.Random(seed)
    start = dt.datetime(2023, 12, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(n):
        # Trips are written in time order, so row groups hold disjoint time ranges and a
        # time filter can skip them.
        pickup = start + dt.timedelta(minutes=4 * i + rng.randint(0, 3))
        miles = round(rng.expovariate(1 / 2.5), 2)
        rows.append(
            {
                "trip_id": i + 1,
                "pickup_at": pickup,
                "zone_id": rng.randint(1, 12),
                "passengers": rng.choice([1, 1, 1, 2, 2, 3, 4]),
                "miles": miles,
                "fare": round(3.0 + miles * 2.75 + rng.random() * 2, 2),
                "payment": rng.choice(["card", "card", "cash", "app"]),
            }
        )
    schema = pa.schema(
        [
            ("trip_id", pa.int64()),
            ("pickup_at", pa.timestamp("us", tz="UTC")),
            ("zone_id", pa.int64()),
            ("passengers", pa.int64()),
            ("miles", pa.float64()),
            ("fare", pa.float64()),
            ("payment", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


if __name__ == "__main__":
    pq.write_table(trips(), HERE / "taxi_trips.parquet", row_group_size=2500, compression="zstd")
    pacsv.write_csv(zones(), HERE / "taxi_zones.csv")
