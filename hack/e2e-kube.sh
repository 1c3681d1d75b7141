#!/usr/bin/env bash
# make e2e TARGET=kind|cluster — the Ginkgo suite (e2e/) on a kind cluster it
# creates, or on an existing cluster from KUBECONFIG.
#
# Environment (the Makefile passes what it has; the rest defaults here):
#   DRY_RUN=1       print the full ordered plan; no Docker, no cluster, no download
#   SCENARIOS=file  a scenario file instead of the catalogue
#   LABELS=filter   Ginkgo label filter, e.g. 'protocol:mysql && !control'
#   ARTIFACTS=dir   reports go to <dir>/<target> (default artifacts/)
#   ISTIO_VERSION   the Istio the kind target installs (default: hack/versions.env)
#   KEEP_CLUSTER=1  keep the kind cluster this run creates; KIND_CLUSTER=name reuses one
#   REINSTALL_ISTIO=1  install ISTIO_VERSION over a reused cluster that runs another Istio
#   FIRSTBYTE_DISPOSABLE_MESH=1  allow the cluster target's mesh-wide changes
#   FIRSTBYTE_IMAGE the agent image (cluster target: a pushed image is required)
#   SERVERS         embedded (the agent's servers) or upstream (the images
#                   pinned in hack/versions.env)
#   GINKGO_TIMEOUT_MINUTES  the suite's time limit (default 180)
set -euo pipefail

target="${1:-${TARGET:-kind}}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

case "${target}" in
  kind|cluster) ;;
  *) echo "hack/e2e-kube.sh: unknown target '${target}': want kind or cluster" >&2; exit 2 ;;
esac

# A bad scenario file is reported once, before anything else runs.
hack/check-scenarios.sh >/dev/null

artifacts="${ARTIFACTS:-${root}/artifacts}"
args=(-target="${target}" -artifacts="${artifacts}" -servers="${SERVERS:-embedded}")
if [[ -n "${SCENARIOS:-}" ]]; then
  scenarios="${SCENARIOS}"
  [[ "${scenarios}" = /* ]] || scenarios="${root}/${scenarios}"
  args+=(-scenarios="${scenarios}")
fi
if [[ -n "${LABELS:-}" ]]; then
  args+=(-ginkgo.label-filter="${LABELS}")
fi



gotest=(go test ./e2e/ -run '^TestE2E$' -count=1 -v)

if [[ "${DRY_RUN:-}" == "1" || "${DRY_RUN:-}" == "true" ]]; then
  # The plan is printed by the suite itself (runner/plan.go); drop go test's
  # bookkeeping lines so it reads cleanly, keep go test's exit status.
  "${gotest[@]}" -args -dry-run "${args[@]}" | { grep -vE '^(=== RUN|--- (PASS|SKIP)|PASS$|ok  )' || true; }
  exit "${PIPESTATUS[0]}"
fi

# Fail fast, before compiling anything, when the target cannot run here.
preflight_timeout="${DOCKER_PREFLIGHT_TIMEOUT:-5}"
alternatives="run without it: make e2e TARGET=local (network namespaces, needs root), make e2e TARGET=predict (no traffic), or make e2e DRY_RUN=1 (print the plan)"
case "${target}" in
  kind)
    if ! command -v docker >/dev/null 2>&1; then
      echo "make e2e: the kind target needs Docker, and there is no docker command. Install and start Docker, or ${alternatives}" >&2
      exit 3
    fi
    if ! docker_out="$(timeout --kill-after=2 "${preflight_timeout}" docker info --format '{{.ServerVersion}}' 2>&1)"; then
      docker_err="$(printf '%s\n' "${docker_out}" | grep -v '^[[:space:]]*$' | head -n 1 || true)"
      echo "make e2e: the kind target needs a running Docker engine, and 'docker info' failed or did not answer within ${preflight_timeout}s (${docker_err:-no answer}). Start Docker, or ${alternatives}" >&2
      exit 3
    fi
    if [[ -z "${ISTIOCTL:-}" ]]; then
      ISTIOCTL="$(hack/istioctl.sh ${ISTIO_VERSION:+"${ISTIO_VERSION}"})"
      export ISTIOCTL
    fi
    ;;
  cluster)
    if [[ -z "${KUBECONFIG:-}" && ! -f "${HOME}/.kube/config" ]]; then
      echo "make e2e TARGET=cluster: no cluster: KUBECONFIG is unset and ~/.kube/config does not exist. Set KUBECONFIG to a cluster with Istio installed, or use make e2e (kind, Docker), TARGET=local or TARGET=predict" >&2
      exit 3
    fi
    ;;
esac

# Ginkgo's timeout ends the suite while there is time left to write the
# reports (its interrupt runs the tear-down and the report hooks); go test's
# own timeout, which kills without reports, comes 15 minutes later. The e2e
# workflow's job timeout leaves room for both and the build (a test in
# e2e/workflows_test.go keeps the margin).
ginkgo_minutes="${GINKGO_TIMEOUT_MINUTES:-180}"
exec "${gotest[@]}" -timeout "$((ginkgo_minutes + 15))m" -args "${args[@]}" -ginkgo.v -ginkgo.timeout="${ginkgo_minutes}m"
