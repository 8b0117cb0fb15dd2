#!/usr/bin/env bash
# The bundled example end to end on the embedded default: import data on a dev branch, run
# the taxi project (one SQL model, two Python models, one materialized, one expectation),
# merge into main and query the result. Uses its own data home, reset each time.
set -euo pipefail
cd "$(dirname "$0")/.."
export SLUICE_HOME="${SLUICE_DEMO_HOME:-$PWD/.sluice-demo}"
rm -rf "$SLUICE_HOME"
sluice=build/sluice
step() { printf '\n\033[1m$ sluice %s\033[0m\n' "$*"; "$sluice" "$@"; }

step checkout -b demo.dev
step table create taxi_trips --search-uri examples/taxi/data/taxi_trips.parquet
step table import taxi_trips --search-uri examples/taxi/data/taxi_trips.parquet
step table create taxi_zones --search-uri examples/taxi/data/taxi_zones.csv
step table import taxi_zones --search-uri examples/taxi/data/taxi_zones.csv
step run --project-dir examples/taxi
step table get borough_stats
step branch merge demo.dev --into-branch main
step query "SELECT borough, trips, total_miles, avg_fare_per_mile FROM borough_stats ORDER BY trips DESC" --ref main
step commit main --max-count 3
