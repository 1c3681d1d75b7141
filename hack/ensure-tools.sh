#!/usr/bin/env bash
# hack/ensure-tools.sh — the first step of make test: the Debian packages the
# local target needs (iproute2 for ip, iptables for iptables-restore and
# iptables-save) and shellcheck, which lints the scripts under hack/ and
# .ci/run (make shellcheck). As root it installs the missing ones with
# apt-get, so a fresh machine with only Go passes make test. Without root it
# installs nothing and says so: make test then skips what needs them (the
# local target and the netns tests need root anyway) and names it.
set -euo pipefail

declare -A package_of=([ip]=iproute2 [iptables-restore]=iptables [iptables-save]=iptables [shellcheck]=shellcheck)
tools=(ip iptables-restore iptables-save shellcheck)
need=()
for tool in "${tools[@]}"; do
  command -v "${tool}" >/dev/null 2>&1 && continue
  pkg="${package_of[${tool}]}"
  [[ " ${need[*]} " == *" ${pkg} "* ]] || need+=("${pkg}")
done
(( ${#need[@]} == 0 )) && exit 0

if [[ "$(id -u)" -ne 0 ]]; then
  echo "make test: ${need[*]} missing and not root: not installing; the parts that need them are skipped (see the end of make test)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "make test: ${need[*]} missing and there is no apt-get: install them with your package manager (the local target needs ip, iptables-restore and iptables-save; make shellcheck needs shellcheck)" >&2
  exit 2
fi
echo "make test: installing ${need[*]} (apt-get; the local target and make shellcheck need them)"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || { echo "make test: apt-get update failed: check the network or the apt sources, or install ${need[*]} yourself" >&2; exit 2; }
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null || { echo "make test: apt-get install ${need[*]} failed: install them yourself" >&2; exit 2; }
for tool in "${tools[@]}"; do
  command -v "${tool}" >/dev/null 2>&1 || { echo "make test: ${tool} still missing after installing ${need[*]}" >&2; exit 2; }
done
