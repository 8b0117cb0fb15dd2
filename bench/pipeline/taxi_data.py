"""Synthetic NYC-taxi-like data for bench/pipeline, generated (never downloaded) and
deterministic: the same rows for the same row count, whoever runs it. The trips are spread
evenly over the 12 months of 2023, one Parquet file per month, with the mixed-case columns of
the real TLC yellow-taxi files; the zones table has the real shape (265 LocationIDs, a
Borough and a Zone each). Cached under CACHE/<rows>/ and reused when complete."""

import pathlib

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

CACHE = pathlib.Path("/tmp/sluice-bench-pipeline")
SEED = 2023
ZONES = 265
BOROUGHS = ["Manhattan", "Brooklyn", "Queens", "Bronx", "Staten Island", "EWR", "Unknown"]
# The time window the pipeline keeps: 3 of the 12 months (a quarter of the rows).
WINDOW = ("2023-04-01", "2023-07-01")


def zones_table():
    ids = np.arange(1, ZONES + 1, dtype=np.int64)
    rng = np.random.default_rng(SEED)
    borough = rng.choice(len(BOROUGHS) - 2, ZONES)  # most zones in the five boroughs
    borough[0], borough[-2:] = len(BOROUGHS) - 2, len(BOROUGHS) - 1  # EWR, and two Unknown
    return pa.table(
        {
            "LocationID": ids,
            "Borough": pa.array([BOROUGHS[b] for b in borough]),
            "Zone": pa.array([f"Zone {i:03d}" for i in ids]),
            "service_zone": pa.array(["Yellow Zone" if b == 0 else "Boro Zone" for b in borough]),
        }
    )


def month_table(month, rows):
    """The trips of one month of 2023: `rows` rows from a generator seeded by (SEED, month)."""
    rng = np.random.default_rng([SEED, month])
    start = np.datetime64(f"2023-{month:02d}-01T00:00:00", "us")
    end = np.datetime64(f"2023-{month + 1:02d}-01" if month < 12 else "2024-01-01", "us")
    span = (end - start).astype(np.int64)
    pickup = start + np.sort(rng.integers(0, span, rows)).astype("timedelta64[us]")
    distance = np.round(rng.gamma(1.6, 2.0, rows), 2)  # miles, mostly short, a long tail
    minutes = distance * rng.uniform(2.5, 6.0, rows) + rng.uniform(1.0, 8.0, rows)
    dropoff = pickup + (minutes * 60e6).astype("timedelta64[us]")
    fare = np.round(3.0 + 2.5 * distance + 0.5 * minutes, 2)
    extra = rng.choice([0.0, 0.5, 1.0, 2.5], rows)
    mta_tax = np.full(rows, 0.5)
    payment = rng.choice([1, 2, 3, 4], rows, p=[0.75, 0.2, 0.03, 0.02]).astype(np.int64)
    # Card payments tip 0-30 % of the fare; the others record no tip.
    tip = np.where(payment == 1, np.round(fare * rng.uniform(0.0, 0.3, rows), 2), 0.0)
    tolls = np.where(rng.random(rows) < 0.05, 6.55, 0.0)
    surcharge = np.full(rows, 1.0)
    congestion = np.where(rng.random(rows) < 0.9, 2.5, 0.0)
    airport = np.where(rng.random(rows) < 0.08, 1.75, 0.0)
    total = np.round(fare + extra + mta_tax + tip + tolls + surcharge + congestion + airport, 2)
    passengers = rng.choice([1.0, 1.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0], rows)
    passenger_missing = rng.random(rows) < 0.02  # like the real files: some counts are null
    return pa.table(
        {
            "VendorID": pa.array(rng.choice([1, 2], rows).astype(np.int32)),
            "tpep_pickup_datetime": pa.array(pickup),
            "tpep_dropoff_datetime": pa.array(dropoff),
            "passenger_count": pa.array(passengers, mask=passenger_missing),
            "trip_distance": pa.array(distance),
            "RatecodeID": pa.array(rng.choice([1.0, 2.0, 5.0], rows, p=[0.95, 0.04, 0.01])),
            "PULocationID": pa.array(rng.integers(1, ZONES + 1, rows).astype(np.int32)),
            "DOLocationID": pa.array(rng.integers(1, ZONES + 1, rows).astype(np.int32)),
            "payment_type": pa.array(payment),
            "fare_amount": pa.array(fare),
            "extra": pa.array(extra),
            "mta_tax": pa.array(mta_tax),
            "tip_amount": pa.array(tip),
            "tolls_amount": pa.array(tolls),
            "improvement_surcharge": pa.array(surcharge),
            "total_amount": pa.array(total),
            "congestion_surcharge": pa.array(congestion),
            "airport_fee": pa.array(airport),
        }
    )


def generate(rows):
    """The data directory for `rows` trips (trips/yellow_tripdata_2023-MM.parquet and
    zones.parquet), generated on first use. Returns its path."""
    directory = CACHE / str(rows)
    done = directory / "complete"
    if done.exists():
        return directory
    (directory / "trips").mkdir(parents=True, exist_ok=True)
    pq.write_table(zones_table(), directory / "zones.parquet")
    per_month = [rows // 12 + (1 if m < rows % 12 else 0) for m in range(12)]
    for month, count in enumerate(per_month, start=1):
        table = month_table(month, count)
        path = directory / "trips" / f"yellow_tripdata_2023-{month:02d}.parquet"
        pq.write_table(table, path, row_group_size=1 << 20)
        del table
    done.write_text(f"{rows}\n")
    return directory
