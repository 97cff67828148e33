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
# Lab jobs run under Mitogen's strategy (see the Makefile);
# ANSIBLE_STRATEGY=linear runs them on stock Ansible. Chosen before each
# stage: the prepare stage is what installs Mitogen (lab/venv.sh), and a
# checkout it has not run in yet must still work, on stock Ansible.
strategy_asked="${ANSIBLE_STRATEGY:-}"
mitogen_plugins="$repo/.cache/ansible_mitogen/plugins/strategy"
select_strategy() {
  if [[ -n $strategy_asked ]]; then
    export ANSIBLE_STRATEGY="$strategy_asked"
  elif [[ -d $mitogen_plugins ]]; then
    export ANSIBLE_STRATEGY=mitogen_linear ANSIBLE_STRATEGY_PLUGINS="$mitogen_plugins"
  else
    echo "Mitogen is not installed in this checkout (lab/venv.sh links it): stock Ansible" >&2
    export ANSIBLE_STRATEGY=linear
  fi
}
all_stages="prepare unit lint sanity molecule drill"
stages="${STAGES:-$all_stages}"
stages="${stages//,/ }"

passed=0 failed=0 summary=() suite_started=$(date +%s)
run_stage() {
  local name=$1; shift
  local start rc
  start=$(date +%s)
  printf '\n===== stage %s =====\n' "$name"
  select_strategy
  "$@"; rc=$?
  record_stage "$name" "$rc" "$(( $(date +%s) - start ))"
  return $rc
}

record_stage() {
  local name=$1 rc=$2 took=$3
  if [[ $rc -eq 0 ]]; then
    passed=$((passed + 1)); summary+=("$(printf '  %-10s PASS  %4ss' "$name" "$took")")
  else
    failed=$((failed + 1)); summary+=("$(printf '  %-10s FAIL  %4ss  (exit %s)' "$name" "$took" "$rc")")
  fi
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

# Lab jobs (each molecule scenario, and the drill) converge containers of
# their own, so LAB_JOBS of them (default 2) run at once; on the 2-core CI
# machine that cuts the lab stages by about a third. Slowest first, so the
# long ones do not end up alone at the tail; a scenario not listed here
# (new, length unknown) starts before them. Each job's output is printed
# whole when it ends, and a failed job's tail again before the summary.
slowest_first="drill molecule/patroni molecule/walg molecule/redis_cluster molecule/monitoring molecule/minio molecule/etcd molecule/nginx_lb molecule/dns"

run_lab_job() {
  # Each task's time and each run's slowest tasks, so a slow or stopped run
  # shows where its time went.
  export ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks
  case "$1" in
    drill)
      # The README's first command, end to end (the quarterly profile),
      # telling a webhook on loopback when it starts and how it ends; then,
      # on the same lab, its report is checked, the monthly profile runs
      # through ansible-runner, and the drill must refuse an estate that is
      # not whole; then the lab is removed.
      local rc=0 results
      results="$(mktemp -d)"
      FULEXO_RESULTS_DIR="$results" DRILL_OUTCOME=passed \
        "$repo/tests/lab/drill-notices.sh" make -C "$repo" drill || rc=$?
      if [[ $rc -eq 0 ]]; then
        "$repo/tests/lab/drill-checks.sh" "$results" || rc=$?
      fi
      rm -rf "$results"
      "$repo/lab/lab" down >/dev/null || true
      return $rc ;;
    molecule/*)
      PATH="$repo/.venv/bin:$PATH" molecule test -s "${1#molecule/}" ;;
  esac
}

last_failed_task() {  # kept short: it is what a CI page that shows only the end of the log shows
  local at
  at="$(grep -n '^fatal: \|^failed: \[' "$1" | tail -n 1 | cut -d: -f1)"
  if [[ -n $at ]]; then
    sed -n "$(( at > 12 ? at - 12 : 1 )),$(( at + 16 ))p" "$1"
  else
    echo "(no failed task in the output)"
  fi
  # The lab tests' own verdicts (tests/lab/*.sh say "FAIL ...").
  grep '^FAIL ' "$1" | tail -n 8
}

lab_stages() {
  local want_molecule=$1 want_drill=$2
  local scenarios jobs=() job s
  scenarios="${MOLECULE_SCENARIOS:-$(find molecule -mindepth 2 -maxdepth 2 -name molecule.yml -printf '%h\n' | xargs -rn1 basename | sort)}"
  scenarios="$(tr '\n' ' ' <<<"$scenarios")"  # one line: the membership tests below match " name "
  export FULEXO_LAB_IMAGE FULEXO_LAB_BASE_IMAGE
  FULEXO_LAB_IMAGE="$(cat "$FULEXO_CACHE/lab-image.ref")"
  FULEXO_LAB_BASE_IMAGE="$(cat "$FULEXO_CACHE/lab-base.ref")"
  if [[ $want_molecule == yes ]]; then
    for s in $scenarios; do
      [[ " $slowest_first " == *" molecule/$s "* ]] || jobs+=("molecule/$s")
    done
  fi
  for job in $slowest_first; do
    case "$job" in
      drill) [[ $want_drill == yes ]] && jobs+=(drill) ;;
      *) [[ $want_molecule == yes && " $scenarios " == *" ${job#molecule/} "* ]] && jobs+=("$job") ;;
    esac
  done

  local max="${LAB_JOBS:-2}" logs started running=0 pid rc
  started=$(date +%s)
  logs="$(mktemp -d)"
  local -A job_of=() t0_of=()
  local molecule_rc=0 drill_rc=0 failed_jobs=()
  printf '\n===== lab jobs (%s at a time, strategy %s): %s =====\n' "$max" "${ANSIBLE_STRATEGY:-linear}" "${jobs[*]}"
  # Stopped from outside (CI's time limit, ^C): a job's output is otherwise
  # printed only when it ends, so show where each running job had got to.
  on_stopped() {
    trap - TERM INT
    local pid
    printf '\n===== stopped by SIG%s after %ss; the jobs that had not ended =====\n' "$1" "$(( $(date +%s) - started ))"
    # Jobs not yet reaped by finish_one: CI stops the whole process group, so
    # they may have just been killed too.
    for pid in "${!job_of[@]}"; do
      printf '\n===== %s, running for %ss: the end of its output =====\n' "${job_of[$pid]}" "$(( $(date +%s) - ${t0_of[$pid]} ))"
      tail -n 150 "$logs/${job_of[$pid]//\//_}.log"
    done
    exit 143
  }
  trap 'on_stopped TERM' TERM
  trap 'on_stopped INT' INT
  finish_one() {
    local ended took word=pass
    wait -n -p pid; rc=$?
    running=$((running - 1))
    ended="${job_of[$pid]}"
    took=$(( $(date +%s) - ${t0_of[$pid]} ))
    unset "job_of[$pid]"
    printf '\n===== %s: exit %s after %ss =====\n' "$ended" "$rc" "$took"
    cat "$logs/${ended//\//_}.log"
    if [[ $rc -ne 0 ]]; then
      word=FAIL; failed_jobs+=("$ended")
      if [[ $ended == drill ]]; then drill_rc=$rc; else molecule_rc=1; fi
    fi
    summary+=("$(printf '    %-22s %s %5ss' "$ended" "$word" "$took")")
  }
  for job in "${jobs[@]}"; do
    while (( running >= max )); do finish_one; done
    run_lab_job "$job" >"$logs/${job//\//_}.log" 2>&1 &
    job_of[$!]="$job"; t0_of[$!]=$(date +%s); running=$((running + 1))
  done
  while (( running > 0 )); do finish_one; done
  trap - TERM INT

  for job in "${failed_jobs[@]}"; do
    # The end of the output (molecule's destroy, a drill's recap), then the
    # last failed task (expected refusals fail earlier, and are ignored or
    # rescued): last, because a CI page that shows only the end of the log
    # then shows why.
    printf '\n===== %s FAILED; the end of its output =====\n' "$job"
    tail -n 40 "$logs/${job//\//_}.log"
    printf '\n===== %s FAILED; its last failed task =====\n' "$job"
    last_failed_task "$logs/${job//\//_}.log"
  done
  rm -rf "$logs"
  local took=$(( $(date +%s) - started ))
  if [[ $want_molecule == yes ]]; then
    record_stage molecule "$molecule_rc" "$took"
  fi
  if [[ $want_drill == yes ]]; then
    record_stage drill "$drill_rc" "$took"
  fi
  summary+=("$(printf '  (lab jobs ran %s at a time: %ss wall time)' "$max" "$took")")
}

for stage in $stages; do
  case "$stage" in
    prepare)  run_stage prepare "$repo/lab/lab" prepare || break ;;  # nothing runs without it
    unit)     run_stage unit pytest_stage tests/unit tests/lab tests/integration ;;
    lint)     run_stage lint env PATH="$repo/.venv/bin:$PATH" ansible-lint --offline ;;
    sanity)   run_stage sanity "$repo/tests/sanity.sh" ;;
    molecule|drill)
      # Both run in one pool of lab jobs, once, where the first of them appears.
      [[ -n ${lab_done:-} ]] && continue
      lab_done=1
      select_strategy
      lab_stages "$([[ " $stages " == *" molecule "* ]] && echo yes || echo no)" \
        "$([[ " $stages " == *" drill "* ]] && echo yes || echo no)" ;;
    *) echo "unknown stage '$stage' (known: $all_stages)" >&2; failed=$((failed + 1)) ;;
  esac
done

printf '\n===== summary =====\n'
printf '%s\n' "${summary[@]}"
printf '  total %ss (%s)\n' "$(( $(date +%s) - suite_started ))" "$(date -u -d @$(( $(date +%s) - suite_started )) +%Hh%Mm%Ss)"
echo "stages: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
