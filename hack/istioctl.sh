#!/usr/bin/env bash
# hack/istioctl.sh [VERSION] — download istioctl VERSION (default ISTIO_VERSION
# from hack/versions.env) into hack/bin/istioctl-VERSION, verify its sha256, and
# print the path. An existing binary is reused.
#
# The checksum is ISTIOCTL_SHA256_<version with _>_<arch> from versions.env
# when pinned there; otherwise the release's own published .sha256 file, and
# the script says so and prints the sum so it can be pinned.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/pins.sh
source "${root}/hack/pins.sh"
version="${1:-${ISTIO_VERSION}}"
if [[ ! "${version}" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "hack/istioctl.sh: version '${version}' is not major.minor.patch (e.g. 1.32.0)" >&2
  exit 2
fi
case "$(uname -m)" in
  x86_64|amd64) arch=amd64 ;;
  aarch64|arm64) arch=arm64 ;;
  *) echo "hack/istioctl.sh: unsupported machine $(uname -m): istioctl ships for amd64 and arm64" >&2; exit 2 ;;
esac

out="${root}/hack/bin/istioctl-${version}"
if [[ -x "${out}" ]]; then
  echo "${out}"
  exit 0
fi

asset="istioctl-${version}-linux-${arch}.tar.gz"
url="https://github.com/istio/istio/releases/download/${version}/${asset}"
pin_var="ISTIOCTL_SHA256_${version//./_}_${arch}"
want="${!pin_var:-}"

tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
echo "istioctl ${version}: downloading ${url}" >&2
curl -fsSL --retry 3 -o "${tmp}/${asset}" "${url}"
if [[ -z "${want}" ]]; then
  echo "istioctl ${version}: no ${pin_var} in hack/versions.env; verifying against the release's published ${asset}.sha256" >&2
  want="$(curl -fsSL --retry 3 "${url}.sha256" | awk '{print $1}')"
fi
if [[ ! "${want}" =~ ^[0-9a-f]{64}$ ]]; then
  echo "istioctl ${version}: no usable sha256 (got '${want}'): pin ${pin_var} in hack/versions.env" >&2
  exit 1
fi
got="$(sha256sum "${tmp}/${asset}" | awk '{print $1}')"
if [[ "${got}" != "${want}" ]]; then
  echo "istioctl ${version}: sha256 mismatch for ${asset}: got ${got}, want ${want}" >&2
  exit 1
fi
echo "istioctl ${version}: sha256 ${got} verified (pin it as ${pin_var}=${got})" >&2
tar -xzf "${tmp}/${asset}" -C "${tmp}" istioctl
mkdir -p "${root}/hack/bin"
install -m 0755 "${tmp}/istioctl" "${out}"
echo "${out}"
