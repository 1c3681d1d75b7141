# shellcheck shell=bash
# Sourced by hack scripts: sets a shell variable (not exported) for every
# KEY=VALUE of hack/versions.env that the environment does not already set:
# the environment wins, as in the Go suite's target/kube/pins, and nothing
# leaks into the environment of the programs the script runs.
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
