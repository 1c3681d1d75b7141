#!/usr/bin/env bash
# Validates the scenario file in $SCENARIOS once, before any target starts
# (make e2e on every target runs it): every problem printed once as
# file:line: field: problem, exit status 2; on success it prints
# "FILE: N scenarios, all valid". Without SCENARIOS it does nothing. The checker is built, not `go run`, so its exit status is the
# only noise.
set -euo pipefail
[ -n "${SCENARIOS:-}" ] || exit 0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
file="${SCENARIOS}"
[[ "${file}" = /* ]] || file="$(pwd)/${file}"
if [ ! -f "${file}" ]; then
  echo "SCENARIOS=${SCENARIOS}: no such file: give the path of a scenario file (see scenarios/examples/)" >&2
  exit 2
fi
bin="$(mktemp -d)"
trap 'rm -rf "${bin}"' EXIT
(cd "${root}" && go build -o "${bin}/scenariocheck" ./cmd/scenariocheck)
"${bin}/scenariocheck" "${file}"
