-- The trips of the time window (3 of the 12 months), only the columns the pipeline uses. A view,
-- as the Sluice model is not materialized: the Python model reads it.
{{ config(materialized='view') }}
SELECT
    tpep_pickup_datetime,
    PULocationID,
    DOLocationID,
    passenger_count,
    trip_distance,
    fare_amount,
    tip_amount,
    total_amount,
FROM {{ source('taxi', 'trips') }}
WHERE tpep_pickup_datetime >= TIMESTAMP '2023-04-01'
  AND tpep_pickup_datetime < TIMESTAMP '2023-07-01'
