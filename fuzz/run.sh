#!/usr/bin/env bash
# Runs the fuzz targets built in BUILD_DIR (see README.md), all at once, each for SECONDS:
#   fuzz/run.sh [--smoke] BUILD_DIR SECONDS [TARGET...]
# First every reproducer in fuzz/regressions/<target>/ is replayed (it must not crash any
# more); then the target mutates a copy of fuzz/corpus/<target>/ kept in BUILD_DIR/run (new
# inputs never go into the repository; the copy grows from run to run). --smoke (make test)
# starts from the seeds alone, in BUILD_DIR/smoke, with a fixed random seed. Exits non-zero
# when any target crashed, hung or leaked, printing the reproducer's path. FUZZ_FLAGS adds
# libFuzzer flags.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
mode=run
if [ "${1:-}" = --smoke ]; then
  mode=smoke
  shift
fi
build=$(cd "$1" && pwd)
seconds=$2
shift 2
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(avro iceberg filter rest)

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:symbolize=1}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$root/fuzz/known_issues.supp"

run_target() {
  local target=$1 bin=$build/${1}_fuzzer work=$build/$mode/$1 flags=()
  if [ $mode = smoke ]; then
    rm -rf "$work"
    flags=(-seed=1)
  fi
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -n "$root/fuzz/corpus/$target/"* "$work/corpus/" 2>/dev/null
  local regressions=()
  mapfile -t regressions < <(find "$root/fuzz/regressions/$target" -maxdepth 1 -type f ! -name '*.md' 2>/dev/null | sort)
  if [ ${#regressions[@]} -gt 0 ]; then
    if ! "$bin" -timeout=10 -rss_limit_mb=2048 "${regressions[@]}" >"$work/regressions.log" 2>&1; then
      echo "FAIL $target: a regression input crashes again (log: $work/regressions.log)"
      grep -a 'Running:' "$work/regressions.log" | tail -1
      return 1
    fi
  fi
  # -print_funcs=0: no NEW_FUNC lines; the stack of a crash is still printed.
  if ! "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -print_funcs=0 \
      -artifact_prefix="$work/artifacts/" "${flags[@]}" ${FUZZ_FLAGS:-} "$work/corpus" >"$work/fuzz.log" 2>&1; then
    echo "FAIL $target: crash found (log: $work/fuzz.log)"
    grep -a -m1 -E 'ERROR: |runtime error|terminate called|what\(\)' "$work/fuzz.log"
    grep -a -E 'Test unit written to' "$work/fuzz.log" | sed 's/.*Test unit written to /reproducer: /' | sort -u
    echo "replay: $bin <reproducer>   (then save it under fuzz/regressions/$target/)"
    return 1
  fi
  local execs per_second cov
  execs=$(grep -a 'stat::number_of_executed_units' "$work/fuzz.log" | awk '{print $2}')
  per_second=$(grep -a 'stat::average_exec_per_sec' "$work/fuzz.log" | awk '{print $2}')
  cov=$(grep -a -o 'cov: [0-9]*' "$work/fuzz.log" | tail -1)
  echo "ok   $target: ${#regressions[@]} regression(s) replayed, $execs runs in ${seconds}s ($per_second/s), $cov, corpus $(ls "$work/corpus" | wc -l)"
}

pids=()
for target in "${targets[@]}"; do
  [ -x "$build/${target}_fuzzer" ] || { echo "no fuzz target $build/${target}_fuzzer"; exit 2; }
  run_target "$target" >"$build/run-$target.out" &
  pids+=($!)
done
status=0
for i in "${!targets[@]}"; do
  wait "${pids[$i]}" || status=1
  cat "$build/run-${targets[$i]}.out"
done
exit $status
