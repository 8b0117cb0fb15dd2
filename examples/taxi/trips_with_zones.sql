-- bauplan: materialization_strategy=NONE
-- Joins every trip with its pickup zone; short trips are dropped.
SELECT
    t.trip_id,
    t.pickup_at,
    t.miles,
    t.fare,
    t.payment,
    z.zone,
    z.borough,
FROM taxi_trips AS t
JOIN taxi_zones AS z ON t.zone_id = z.zone_id
WHERE t.miles >= $min_miles
