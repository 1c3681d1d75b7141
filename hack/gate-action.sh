#!/usr/bin/env bash
# hack/gate-action.sh — the change gate of action.yml: analyse the mesh
# YAML at FB_PATH in the working tree against the same path at the base
# ref (git archive of FB_BASE_REF, else the pull request's base branch),
# print the Markdown report, append it to $GITHUB_STEP_SUMMARY, and exit
# with firstbyte analyze's code (1 when the change adds a hazard that
# meets a server-first destination).
#
# Environment: FB_PATH (required), FB_BASE_REF, FB_ARGS (more analyze
# flags, split on spaces), FB_FIRSTBYTE (the binary; default firstbyte on
# PATH). Run it from the repository's root (GITHUB_WORKSPACE in Actions).
set -uo pipefail
die() { echo "gate-action: $*" >&2; exit 2; }
[ -n "${FB_PATH:-}" ] || die "FB_PATH is empty: set the action's path input to the folder of mesh YAML"
[ -e "${FB_PATH}" ] || die "FB_PATH ${FB_PATH} does not exist in the working tree ($(pwd))"
fb="${FB_FIRSTBYTE:-firstbyte}"
command -v "${fb}" >/dev/null || die "${fb}: no firstbyte binary (set FB_FIRSTBYTE)"
ref="${FB_BASE_REF:-}"
if [ -z "${ref}" ]; then
  [ -n "${GITHUB_BASE_REF:-}" ] || die "no base ref: set the action's base-ref input, or run on pull_request (GITHUB_BASE_REF)"
  ref="origin/${GITHUB_BASE_REF}"
  git rev-parse --verify -q "${ref}^{commit}" >/dev/null ||
    git fetch --no-tags --depth=1 origin "${GITHUB_BASE_REF}:refs/remotes/origin/${GITHUB_BASE_REF}" ||
    die "cannot fetch the base branch ${GITHUB_BASE_REF}: check out with fetch-depth: 0 or give base-ref"
fi
git rev-parse --verify -q "${ref}^{commit}" >/dev/null || die "base ref ${ref} is not a commit here: fetch it (actions/checkout with fetch-depth: 0)"

base="$(mktemp -d)"
trap 'rm -rf "${base}"' EXIT
rel="$(realpath --relative-to="$(git rev-parse --show-toplevel)" "${FB_PATH}")" || die "${FB_PATH} is not inside a git repository"
if git cat-file -e "${ref}:${rel}" 2>/dev/null; then
  git archive "${ref}" -- "${rel}" | tar -x -C "${base}" || die "extracting ${rel} at ${ref}"
else
  # The folder is new in this change: an empty mesh is the baseline, and
  # every hazard in it is new.
  mkdir -p "${base}/$(dirname "${rel}")"
  if [ -d "${FB_PATH}" ]; then mkdir -p "${base}/${rel}"; : > "${base}/${rel}/empty.yaml"; else : > "${base}/${rel}"; fi
fi

# shellcheck disable=SC2086 # FB_ARGS is a list of flags
"${fb}" analyze -f "${FB_PATH}" --baseline "${base}/${rel}" -o markdown ${FB_ARGS:-} > "${base}/summary.md"
rc=$?
cat "${base}/summary.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "${base}/summary.md" >> "${GITHUB_STEP_SUMMARY}"; fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "exit-code=${rc}" >> "${GITHUB_OUTPUT}"; fi
case ${rc} in
  0) echo "gate-action: no new hazard meets a server-first destination" >&2 ;;
  1) echo "gate-action: the change adds a hazard that meets a server-first destination (see the summary)" >&2 ;;
  *) echo "gate-action: firstbyte analyze failed (exit ${rc})" >&2 ;;
esac
exit "${rc}"
