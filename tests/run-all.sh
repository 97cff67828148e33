#!/usr/bin/env bash
# The test command (`make test`, and .ci/run): prepares the lab (engine,
# venv, base image, Go binaries), then runs every stage and prints one line
# per stage with its time, and a closing "stages: N passed, N failed" line.
#
# STAGES=unit,lint,...  runs a subset; MOLECULE_SCENARIOS="etcd ..." likewise.
set -uo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo" || exit 1
export FULEXO_CACHE="${FULEXO_CACHE:-/var/cache/fulexo-dr}"
export ANSIBLE_FORCE_COLOR="${ANSIBLE_FORCE_COLOR:-0}" PY_COLORS=0 NO_COLOR=1
all_stages="prepare unit lint sanity molecule drill"
stages="${STAGES:-$all_stages}"
stages="${stages//,/ }"

passed=0 failed=0 summary=()
run_stage() {
  local name=$1; shift
  local start rc
  start=$(date +%s)
  printf '\n===== stage %s =====\n' "$name"
  "$@"; rc=$?
  local took=$(( $(date +%s) - start ))
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1)); summary+=("$(printf '  %-10s PASS  %4ss' "$name" "$took")")
  else
    failed=$((failed + 1)); summary+=("$(printf '  %-10s FAIL  %4ss  (exit %s)' "$name" "$took" "$rc")")
  fi
  return $rc
}

# pytest exits 5 when it collects nothing: that is a broken test tree, not a
# pass, and is reported as such rather than as a crash.
pytest_stage() {
  "$repo/.venv/bin/python" -m pytest -q -rs "$@"
  local rc=$?
  if [[ $rc -eq 5 ]]; then
    echo "pytest collected no tests in $*: the test tree is broken" >&2
  fi
  return $rc
}

molecule_stage() {
  local scenarios="${MOLECULE_SCENARIOS:-$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -rn1 basename | sort)}"
  local rc=0 s
  export FULEXO_LAB_IMAGE FULEXO_LAB_BASE_IMAGE
  FULEXO_LAB_IMAGE="$(cat "$FULEXO_CACHE/lab-image.ref")"
  FULEXO_LAB_BASE_IMAGE="$(cat "$FULEXO_CACHE/lab-base.ref")"
  for s in $scenarios; do
    local t0
    t0=$(date +%s)
    if PATH="$repo/.venv/bin:$PATH" molecule test -s "$s"; then
      summary+=("$(printf '    molecule/%-12s pass %4ss' "$s" "$(( $(date +%s) - t0 ))")")
    else
      summary+=("$(printf '    molecule/%-12s FAIL %4ss' "$s" "$(( $(date +%s) - t0 ))")")
      rc=1
    fi
  done
  return $rc
}

drill_stage() {
  # The README's first command, end to end, then the lab is removed again.
  local rc=0
  make -C "$repo" drill || rc=$?
  "$repo/lab/lab" down >/dev/null || true
  return $rc
}

for stage in $stages; do
  case "$stage" in
    prepare)  run_stage prepare "$repo/lab/lab" prepare || break ;;  # nothing runs without it
    unit)     run_stage unit pytest_stage tests/unit tests/lab tests/integration ;;
    lint)     run_stage lint env PATH="$repo/.venv/bin:$PATH" ansible-lint --offline ;;
    sanity)   run_stage sanity "$repo/tests/sanity.sh" ;;
    molecule) run_stage molecule molecule_stage ;;
    drill)    run_stage drill drill_stage ;;
    *) echo "unknown stage '$stage' (known: $all_stages)" >&2; failed=$((failed + 1)) ;;
  esac
done

printf '\n===== summary =====\n'
printf '%s\n' "${summary[@]}"
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
