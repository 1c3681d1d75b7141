# shellcheck shell=bash
# hack/pins.sh has two uses:
#
# Sourced by hack scripts (hack/istioctl.sh): sets a shell variable (not
# exported) for every KEY=VALUE of hack/versions.env that the environment
# does not already set: the environment wins, as in the Go suite's
# targets/kube/pins, and nothing leaks into the environment of the programs
# the script runs.
#
# Run (make pins; the e2e workflow's first job): resolves every pin of
# hack/versions.env against the network and says which did not resolve:
#   - each kind node image (KIND_NODE_IMAGE*): the registry's manifest for
#     the pinned digest exists, and the tag still names that digest;
#   - for each Istio version (ISTIO_VERSION, ISTIO_VERSIONS) and arch
#     (amd64, arm64): the istioctl tarball URL hack/istioctl.sh downloads
#     answers, and its published .sha256 holds a sum (equal to the
#     ISTIOCTL_SHA256_* pin when one is set).
# Every request has a 10 s limit and they run in parallel, so the check
# ends within a minute. It prints the digests and sums it saw as
# versions.env lines, ready to pin. Exit status: 0 all resolved, 1 some did
# not (listed), 3 no network: nothing could be checked, and it says so.
_pins_file="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/versions.env"
while IFS= read -r _line || [[ -n "${_line}" ]]; do
  [[ "${_line}" =~ ^([A-Z][A-Z0-9_]*)=(.*)$ ]] || continue
  _key="${BASH_REMATCH[1]}"
  _val="${BASH_REMATCH[2]}"
  _val="${_val#\"}"
  _val="${_val%\"}"
  if [[ -z "${!_key:-}" ]]; then
    printf -v "${_key}" '%s' "${_val}"
  fi
done < "${_pins_file}"
unset _pins_file _line _key _val

# Sourced: stop here.
if [[ "${BASH_SOURCE[0]}" != "${0}" ]]; then
  return 0
fi

set -uo pipefail

limit=10 # seconds per request
registry="${PINS_REGISTRY:-https://registry-1.docker.io}"
auth="${PINS_REGISTRY_AUTH:-https://auth.docker.io/token?service=registry.docker.io}"
releases="${PINS_RELEASES:-https://github.com/istio/istio/releases/download}"
manifest_types="application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

# Each check writes one result file: "ok|fail|offline<TAB>pin<TAB>detail".
# curl exit codes 5, 6, 7 and 28 (proxy/host not resolved, no connection,
# timeout) mean the network is not there, not that the pin is wrong.
offline_code() { case "$1" in 5|6|7|28) return 0 ;; *) return 1 ;; esac; }

check_image() { # key image out
  local key="$1" image="$2" out="$3"
  local ref="${image%@*}" digest="${image#*@}"
  local repo="${ref%:*}" tag="${ref##*:}"
  if [[ "${image}" != *@sha256:* || ! "${digest}" =~ ^sha256:[0-9a-f]{64}$ ]]; then
    printf 'fail\t%s\t%s is not pinned by digest (want <repo>:<tag>@sha256:<64 hex>)\n' "${key}" "${image}" > "${out}"
    return
  fi
  local token rc
  token="$(curl -fsS --max-time "${limit}" "${auth}&scope=repository:${repo}:pull" 2> "${out}.err")"
  rc=$?
  if (( rc != 0 )); then
    if offline_code "${rc}"; then
      printf 'offline\t%s\t%s: registry token: %s\n' "${key}" "${image}" "$(head -n1 "${out}.err")" > "${out}"
    else
      printf 'fail\t%s\t%s: registry token: %s\n' "${key}" "${image}" "$(head -n1 "${out}.err")" > "${out}"
    fi
    return
  fi
  token="$(sed -n 's/.*"token" *: *"\([^"]*\)".*/\1/p' <<< "${token}")"
  local hdr=(-H "Authorization: Bearer ${token}" -H "Accept: ${manifest_types}")
  # The pinned digest must exist...
  local code
  code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time "${limit}" -I "${hdr[@]}" "${registry}/v2/${repo}/manifests/${digest}" 2> "${out}.err")"
  rc=$?
  if (( rc != 0 )); then
    offline_code "${rc}" && { printf 'offline\t%s\t%s: %s\n' "${key}" "${image}" "$(head -n1 "${out}.err")" > "${out}"; return; }
    printf 'fail\t%s\t%s: %s\n' "${key}" "${image}" "$(head -n1 "${out}.err")" > "${out}"
    return
  fi
  if [[ "${code}" != 200 ]]; then
    printf 'fail\t%s\t%s: the registry answers HTTP %s for the pinned digest\n' "${key}" "${image}" "${code}" > "${out}"
    return
  fi
  # ...and the tag must still name it.
  local seen
  seen="$(curl -sS --max-time "${limit}" -I "${hdr[@]}" "${registry}/v2/${repo}/manifests/${tag}" 2> "${out}.err" | tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}')"
  if [[ -z "${seen}" ]]; then
    printf 'fail\t%s\t%s: tag %s has no digest in the registry (%s)\n' "${key}" "${image}" "${tag}" "$(head -n1 "${out}.err")" > "${out}"
  elif [[ "${seen}" != "${digest}" ]]; then
    printf 'fail\t%s\t%s: tag %s now names %s (seen: %s=%s:%s@%s)\n' "${key}" "${image}" "${tag}" "${seen}" "${key}" "${repo}" "${tag}" "${seen}" > "${out}"
  else
    printf 'ok\t%s\t%s=%s:%s@%s\n' "${key}" "${key}" "${repo}" "${tag}" "${seen}" > "${out}"
  fi
}

check_istioctl() { # version arch out
  local version="$1" arch="$2" out="$3"
  local asset="istioctl-${version}-linux-${arch}.tar.gz"
  local url="${releases}/${version}/${asset}"
  local key="ISTIOCTL_SHA256_${version//./_}_${arch}"
  local code rc
  # The tarball: follow GitHub's redirect, read the headers only.
  code="$(curl -sS -L -o /dev/null -w '%{http_code}' --max-time "${limit}" -I "${url}" 2> "${out}.err")"
  rc=$?
  if (( rc != 0 )); then
    offline_code "${rc}" && { printf 'offline\t%s\t%s: %s\n' "${key}" "${url}" "$(head -n1 "${out}.err")" > "${out}"; return; }
    printf 'fail\t%s\t%s: %s\n' "${key}" "${url}" "$(head -n1 "${out}.err")" > "${out}"
    return
  fi
  if [[ "${code}" != 200 ]]; then
    printf 'fail\t%s\t%s: HTTP %s\n' "${key}" "${url}" "${code}" > "${out}"
    return
  fi
  local sum
  sum="$(curl -fsSL --max-time "${limit}" "${url}.sha256" 2> "${out}.err" | awk '{print $1}')"
  if [[ ! "${sum}" =~ ^[0-9a-f]{64}$ ]]; then
    printf 'fail\t%s\t%s.sha256: no sha256 in it (%s)\n' "${key}" "${url}" "$(head -n1 "${out}.err")" > "${out}"
    return
  fi
  local pinned="${!key:-}"
  if [[ -n "${pinned}" && "${pinned}" != "${sum}" ]]; then
    printf 'fail\t%s\t%s.sha256 says %s, hack/versions.env pins %s\n' "${key}" "${url}" "${sum}" "${pinned}" > "${out}"
    return
  fi
  printf 'ok\t%s\t%s=%s\n' "${key}" "${key}" "${sum}" > "${out}"
}

n=0
# Every node image pin: the default and one per Istio minor.
while IFS= read -r key; do
  n=$((n + 1))
  check_image "${key}" "${!key}" "${work}/${n}" &
done < <(compgen -v | grep -E '^KIND_NODE_IMAGE(_ISTIO_[0-9]+_[0-9]+)?$' | sort)
# Every Istio version's istioctl, for both arches hack/istioctl.sh serves.
read -r -a versions <<< "${ISTIO_VERSION} ${ISTIO_VERSIONS}"
mapfile -t versions < <(printf '%s\n' "${versions[@]}" | sort -uV)
for v in "${versions[@]}"; do
  for arch in amd64 arm64; do
    n=$((n + 1))
    check_istioctl "${v}" "${arch}" "${work}/${n}" &
  done
done
wait

ok=() failed=() offline=()
for ((i = 1; i <= n; i++)); do
  IFS=$'\t' read -r status key detail < "${work}/${i}"
  case "${status}" in
    ok) ok+=("${detail}") ;;
    offline) offline+=("${key}: ${detail}") ;;
    *) failed+=("${key}: ${detail}") ;;
  esac
done

if (( ${#offline[@]} == n )); then
  echo "make pins: cannot check: no network. None of the ${n} pins could be resolved, so none is known good or bad:" >&2
  printf '  %s\n' "${offline[@]}" >&2
  echo "Run make pins on a machine that reaches ${registry} and github.com (the e2e workflow's pins job does)." >&2
  exit 3
fi

echo "resolved ${#ok[@]} of ${n} pins; seen, ready to pin in hack/versions.env:"
printf '  %s\n' "${ok[@]}"
if (( ${#failed[@]} + ${#offline[@]} > 0 )); then
  echo "make pins: $(( ${#failed[@]} + ${#offline[@]} )) pin(s) did not resolve:" >&2
  printf '  %s\n' "${failed[@]}" "${offline[@]}" >&2
  exit 1
fi
