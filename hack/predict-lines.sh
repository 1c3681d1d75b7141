#!/usr/bin/env bash
# predict-lines.sh: the offline version matrix (make e2e TARGET=predict
# ISTIO_LINES=all). One code base, one go.mod per Istio line: the main
# go.mod, and hack/istio/<line>/go.mod (+ go.sum) for each other line, used
# through `go build -modfile` into bin/firstbyte-<line>, which runs
# `firstbyte predict` (the predict target through the runner). Each line's build also gets the build tag
# istio_<line> (dots and dashes as underscores) for the few predict files
# that differ per line. The catalogue is predicted once per line; the
# report.json files are joined into one scenarios × versions table by
# cmd/matrixtable, as the kind matrix is, with its summary line.
#
# ISTIO_LINES: "all", or a comma-separated list of line names ("main" for
# the main go.mod, a folder name under hack/istio otherwise).
# Exit status: non-zero when any line fails to build or mismatches.
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
ARTIFACTS=${ARTIFACTS:-$PWD/artifacts}
want=${ISTIO_LINES:-all}

lines=(main)
for mod in hack/istio/*/go.mod; do
	[ -f "$mod" ] && lines+=("$(basename "$(dirname "$mod")")")
done
if [ "$want" != all ]; then
	IFS=, read -r -a asked <<<"$want"
	for l in "${asked[@]}"; do
		if [ "$l" != main ] && [ ! -f "hack/istio/$l/go.mod" ]; then
			echo "ISTIO_LINES=$want: no Istio line $l: want all, main, or one of: ${lines[*]:1} (a folder under hack/istio with a go.mod)" >&2
			exit 2
		fi
	done
	lines=("${asked[@]}")
fi

reports=()
failed=()
for l in "${lines[@]}"; do
	flags=()
	if [ "$l" != main ]; then
		flags=(-modfile="hack/istio/$l/go.mod" -tags "istio_$(tr '.-' '__' <<<"$l")")
	fi
	out="$ARTIFACTS/predict-lines/$l"
	rm -rf "$out" # a line that no longer builds must not show its last table
	bin="bin/firstbyte-$l"
	echo "== Istio line $l: go build ${flags[*]} -o $bin ./cmd/firstbyte"
	start=$(date +%s)
	rc=0
	$GO build "${flags[@]}" -o "$bin" ./cmd/firstbyte || rc=$?
	if [ "$rc" -eq 0 ]; then
		"$bin" predict --artifacts "$out" ${LABELS:+--labels "$LABELS"} ${SCENARIOS:+"$(realpath "$SCENARIOS")"} || rc=$?
	fi
	echo "== Istio line $l: exit $rc after $(($(date +%s) - start))s (build and predict)"
	if [ "$rc" -ne 0 ]; then
		failed+=("$l")
	fi
	if [ -f "$out/predict/report.json" ]; then
		reports+=("$out/predict/report.json")
	fi
done

if [ "${#reports[@]}" -gt 0 ]; then
	echo
	$GO run ./cmd/matrixtable "${reports[@]}" | tee "$ARTIFACTS/predict-lines/matrix.md"
fi
if [ "${#failed[@]}" -gt 0 ]; then
	echo "predict matrix: lines that failed or mismatched: ${failed[*]} (their tables are above)" >&2
	exit 1
fi
