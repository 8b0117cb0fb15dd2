#!/usr/bin/env bash
# Runs every benchmark; each prints Sluice beside the alternative and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== bench/handoff"
.venv/bin/python bench/handoff/run.py "$@"
echo "== bench/envs"
.venv/bin/python bench/envs/run.py
echo "== bench/catalog"
.venv/bin/python bench/catalog/run.py
.venv/bin/python bench/catalog/sdk_calls.py
echo "== bench/sandbox"
.venv/bin/python bench/sandbox/run.py
echo "== bench/s3"
.venv/bin/python bench/s3/run.py
echo "== bench/cache"
.venv/bin/python bench/cache/run.py
echo "== bench/parallel"
.venv/bin/python bench/parallel/run.py
echo "== bench/warm"
.venv/bin/python bench/warm/run.py
echo "== bench/partitions"
.venv/bin/python bench/partitions/run.py
echo "== bench/query"
.venv/bin/python bench/query/run.py
echo "== bench/pipeline"
.venv/bin/python bench/pipeline/run.py
