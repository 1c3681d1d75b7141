#!/usr/bin/env bash
# hack/actionlint.sh — lint .github/workflows with actionlint, pinned as a Go
# tool in go.mod (go tool actionlint). make test can call this; the e2e
# package's TestWorkflowsPassActionlint runs the same linter as a library.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"
exec go tool actionlint -no-color "$@"
