#!/usr/bin/env bash
# scale-bench.sh: issue 23's figures (make bench runs it). firstbyte
# analyze on meshgen's 2k and 10k meshes (remediation checks on, as the
# CLI defaults), wall and peak RSS from /usr/bin/time, and their ratio
# (goal: 10k <= 30 s and <= 1 GiB, 10k/2k <= 6 for 5x the mesh); with
# SCALE_50K=1 the 50k mesh too; then the predict catalogue after the
# build (goal <= 1 s). Figures go to docs/benchmarks.md with machine and
# date.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
command -v /usr/bin/time >/dev/null || { echo "scale-bench: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
go build -o "$dir/firstbyte" ./cmd/firstbyte
go build -o "$dir/meshgen" ./cmd/meshgen
meshes=("2k:-services 2000 -serviceentries 200 -namespaces 50" "10k:-services 10000 -serviceentries 1000 -namespaces 200")
if [ "${SCALE_50K:-}" = 1 ]; then
  meshes+=("50k:-services 50000 -serviceentries 5000 -namespaces 1000")
fi
for m in "${meshes[@]}"; do
  name=${m%%:*}
  # shellcheck disable=SC2086 # the flags are words
  "$dir/meshgen" ${m#*:} >"$dir/$name.yaml"
  rc=0
  /usr/bin/time -f '%e %U %M' -o "$dir/$name.t" "$dir/firstbyte" analyze -f "$dir/$name.yaml" -o json >/dev/null 2>"$dir/$name.err" || rc=$?
  [ "$rc" -le 1 ] || { echo "scale-bench: analyze $name exited $rc:" >&2; tail -5 "$dir/$name.err" >&2; exit 1; }
  read -r wall cpu rss <"$dir/$name.t"
  echo "analyze $name: ${wall} s wall, ${cpu} s user CPU, peak RSS $((rss / 1024)) MiB"
done
read -r t2 _ _ <"$dir/2k.t"
read -r t10 _ _ <"$dir/10k.t"
echo "analyze 10k/2k wall: x$(echo "scale=2; $t10 / $t2" | bc) for x5 the mesh"
"$dir/firstbyte" predict --artifacts "$dir/artifacts" | grep -E 'passed, [0-9]+ failed|generator ran' || true
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
