#!/usr/bin/env bash
# predict-lines.sh: the offline version matrix (make e2e TARGET=predict
# ISTIO_LINES=all). One code base, one go.mod per Istio line: the main
# go.mod, and hack/istio/<line>/go.mod (+ go.sum) for each other line.
# Each line is named by what its istio.io/istio module states (release-1.31,
# release-1.30, master; package istioline) and built through
# `go build -modfile` into bin/firstbyte-<line> (cmd/istiolines; rebuilt
# only when a source or the line's go.mod changed), which runs
# `firstbyte predict` (the predict target through the runner). No line
# needs code of its own: each predicts what its own generator builds for
# every row its own validation accepts, and says "needs Istio ≥ X" (with
# the validation error) only for a row it rejects.
#
# How a row is judged on each line. The catalogue's `expect` is a claim
# about the main line. A row whose outcome on another line legitimately
# differs (release-1.30 and April master build ALLOW_ANY_DYNAMIC_DNS as
# not-allow-any, so its rows connect, hang or close there as a plain
# mesh would) is listed in that line's hack/istio/<line>/expect.yaml with
# the outcome that line must show and why. cmd/matrixtable judges each
# such cell against the line's expectation (shown "pass … ≠ main"),
# every other cell against the catalogue. So a predict bug on any line
# still fails the matrix: a row that differs without an entry, a row
# that does not match its entry, or an entry that repeats the
# catalogue's expect (cmd/matrixtable's tests check every entry names a
# catalogue row).
#
# ISTIO_LINES: "all", or a comma-separated list of line names as
# cmd/istiolines resolves them (release-1.30 or 1.30, master, main).
# Exit status: non-zero when a line fails to build or predict, or a cell
# of the matrix fails.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
GO=${GO:-go}
ARTIFACTS=${ARTIFACTS:-$PWD/artifacts}
want=${ISTIO_LINES:-all}

lines=()
if [ "$want" = all ]; then
	mapfile -t lines < <($GO run ./cmd/istiolines list | cut -f1) || exit 2
else
	IFS=, read -r -a asked <<<"$want"
	mapfile -t lines < <($GO run ./cmd/istiolines resolve "${asked[@]}") || exit 2
fi
[ "${#lines[@]}" -gt 0 ] || { echo "predict-lines: no Istio line to run (ISTIO_LINES=$want)" >&2; exit 2; }

args=()
failed=()
for l in "${lines[@]}"; do
	out="$ARTIFACTS/predict-lines/$l"
	rm -rf "$out" # a line that no longer builds must not show its last table
	echo "== Istio line $l"
	start=$(date +%s)
	rc=0
	bin=$($GO run ./cmd/istiolines build "$l") || rc=$?
	if [ "$rc" -eq 0 ]; then
		# Exit 1 is "a row differs from the catalogue": the matrix judges
		# that below, against the line's own expectations; 2 and 3 are
		# bad input and firstbyte's own failure.
		"$bin" predict --artifacts "$out" ${LABELS:+--labels "$LABELS"} ${SCENARIOS:+"$(realpath "$SCENARIOS")"} || rc=$?
		[ "$rc" -eq 1 ] && rc=0
	fi
	echo "== Istio line $l: exit $rc after $(($(date +%s) - start))s (build and predict)"
	[ "$rc" -ne 0 ] && failed+=("$l")
	if [ -f "$out/predict/report.json" ]; then
		# -expect applies to the report that follows it.
		[ -f "hack/istio/$l/expect.yaml" ] && args+=(-expect "hack/istio/$l/expect.yaml")
		args+=("$out/predict/report.json")
	fi
done

rc=0
echo
$GO run ./cmd/matrixtable "${args[@]}" | tee "$ARTIFACTS/predict-lines/matrix.md" || rc=1
if [ "${#failed[@]}" -gt 0 ]; then
	echo "predict matrix: lines that failed to build or predict: ${failed[*]}" >&2
	exit 1
fi
if [ "$rc" -ne 0 ]; then
	echo "predict matrix: cells failed (marked **FAIL** above)" >&2
	exit 1
fi
