-- bauplan: materialization_strategy=REPLACE
-- Per pickup zone totals of the window, materialized as the table bauplan.zone_stats.
SELECT
    Borough,
    Zone,
    count(*) AS trips,
    sum(passenger_count) AS passengers,
    sum(trip_distance) AS miles,
    sum(fare_amount) AS fares,
    sum(tip_amount) AS tips,
    sum(total_amount) AS totals,
    avg(tip_ratio) AS avg_tip_ratio,
    avg(fare_per_mile) AS avg_fare_per_mile,
FROM trips_with_zones
GROUP BY Borough, Zone
ORDER BY Borough, Zone
