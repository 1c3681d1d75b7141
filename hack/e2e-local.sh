#!/usr/bin/env bash
# make e2e TARGET=local: the Ginkgo suite on this machine, scenarios in
# parallel processes (Ginkgo -p), each scenario in its own network
# namespaces. Needs root, iproute2 and iptables. Environment: SCENARIOS,
# LABELS, ARTIFACTS, FIRSTBYTE_BUDGET, PROCS (default 8, never more than
# the scenarios to run), SERVERS (embedded, or upstream: Debian's MariaDB
# and Exim, installed on demand), E2E_BIN (the compiled suite; make builds
# bin/e2e.test only when a source changed).
set -euo pipefail
cd "$(dirname "$0")/.."

# A bad scenario file is reported once, here, before Ginkgo starts its
# parallel processes (each would load it again); it also says how many
# scenarios the file holds, so a short file starts only as many processes.
checked=$(hack/check-scenarios.sh)

if [ "$(id -u)" -ne 0 ]; then
  echo "make e2e TARGET=local: needs root (it creates network namespaces and iptables rules): run it with sudo, or use TARGET=predict, which needs nothing" >&2
  exit 2
fi
for tool in ip iptables-restore iptables-save; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "make e2e TARGET=local: $tool is missing: apt-get install iproute2 iptables (.ci/run does this)" >&2
    exit 2
  }
done
if [ -n "${DRY_RUN:-}" ] && [ "${DRY_RUN}" != "0" ]; then
  echo "make e2e TARGET=local: there is no dry run for local (it touches nothing outside its own namespaces); DRY_RUN=1 plans the kind and cluster targets" >&2
  exit 2
fi

args=(-target=local -servers="${SERVERS:-embedded}")
[ -n "${SCENARIOS:-}" ] && args+=(-scenarios="$(realpath "$SCENARIOS")")
[ -n "${ARTIFACTS:-}" ] && args+=(-artifacts="$ARTIFACTS")
procs=${PROCS:-8}
if [[ "$checked" =~ :\ ([0-9]+)\ scenarios ]] && [ "${BASH_REMATCH[1]}" -lt "$procs" ]; then
  procs=${BASH_REMATCH[1]}
fi
bin=${E2E_BIN:-bin/e2e.test}
[ -x "$bin" ] || go test -c -o "$bin" ./e2e
# -test.run: the e2e package's other Go tests (plans, workflows, make
# preflights) belong to go test ./..., not to every Ginkgo process; run
# there they cost minutes per process.
args+=(-test.run='^TestE2E$')
ginkgo=(go tool ginkgo -p --procs="$procs" --timeout=30m --no-color)
[ -n "${LABELS:-}" ] && ginkgo+=(--label-filter="$LABELS")

rc=0
"${ginkgo[@]}" "$bin" -- "${args[@]}" || rc=$?

# The suite removes its namespaces per scenario and at tear-down; prove it.
# Namespaces whose owner pid (fb-<pid>-) is alive belong to another run
# still going on this machine, not to this one (its processes have exited).
left=$(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^fb-[0-9]+-' | while read -r ns; do
  pid=${ns#fb-}; pid=${pid%%-*}
  kill -0 "$pid" 2>/dev/null || echo "$ns"
done || true)
if [ -n "$left" ]; then
  echo "make e2e TARGET=local: network namespaces left behind:" >&2
  echo "$left" >&2
  exit 1
fi
echo "network namespaces left behind: 0"
exit "$rc"
