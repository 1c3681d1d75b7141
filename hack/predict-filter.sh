#!/usr/bin/env bash
# Passes `go test -v` output of the predict package through, dropping the
# === RUN / --- PASS bookkeeping so the table reads cleanly, and keeps the
# exit status of go test (pipefail in the caller's shell is not assumed).
set -o pipefail
grep --line-buffered -vE '^(=== (RUN|PAUSE|CONT|NAME)|--- (PASS|SKIP): |PASS$|ok  )' || true
