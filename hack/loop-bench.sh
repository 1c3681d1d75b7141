#!/usr/bin/env bash
# loop-bench.sh: the bug-report loop, timed (make bench runs it). A
# one-row scenario file (the seed's collision) goes through
# `make e2e TARGET=predict` and, as root, `make e2e TARGET=local`: one warm-up
# run each (it builds bin/firstbyte and bin/e2e.test when a source changed),
# then RUNS timed runs. Prints each run's wall time and the best and worst.
# Goals (issue 22): predict <= 5 s, local <= 30 s, warm.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/one.yaml" <<'YAML'
scenarios:
  - id: loop-mysql-10000-http
    why: "the seed's collision: an http Service on 10000 holds an external MySQL"
    protocol: mysql
    placement: external
    port: 10000
    collider: http
    expect: hangs
YAML

time_target() {
  local target=$1 times=() s e
  make --no-print-directory e2e TARGET="$target" SCENARIOS="$dir/one.yaml" ARTIFACTS="$dir/artifacts" >"$dir/warm.log" 2>&1 ||
    { echo "loop-bench: the warm-up run of $target failed:" >&2; tail -20 "$dir/warm.log" >&2; exit 1; }
  for _ in $(seq "$runs"); do
    s=$(date +%s.%N)
    make --no-print-directory e2e TARGET="$target" SCENARIOS="$dir/one.yaml" ARTIFACTS="$dir/artifacts" >"$dir/run.log" 2>&1 ||
      { echo "loop-bench: a timed run of $target failed:" >&2; tail -20 "$dir/run.log" >&2; exit 1; }
    e=$(date +%s.%N)
    times+=("$(awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f", e - s}')")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v t="$target" '{a[NR]=$1} END {printf "loop %s one file warm: %s runs, best %.2fs, worst %.2fs\n", t, NR, a[1], a[NR]}'
}

time_target predict
if [ "$(id -u)" -eq 0 ]; then
  time_target local
else
  echo "loop local: skipped (needs root)"
fi
