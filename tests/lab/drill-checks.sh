#!/usr/bin/env bash
# After the quarterly drill ran on the lab (`make drill`, its report in
# RESULTS_DIR): its report must be consistent and show what the lab can
# show; the monthly profile must run through ansible-runner (AWX's engine)
# and be read back from the runner's artifacts; the plan's alerts must reach
# their receiver when real faults cross them (tests/lab/alerts.yml), and bad
# monitoring input be refused; the application tier must survive its faults
# (tests/lab/app-tier.sh); the drill must refuse an estate that is not
# whole; the incident runbooks must repair corruption and recover from
# ransomware; no secret may appear in what the playbooks print at -vvv; and
# dr_site.yml must make dr-pg1 a standby cluster that follows the primary;
# then the primary site is cut off and dr_activate.yml must move the service
# to the DR site (RTO, RPO, fencing), and dr_failback.yml bring it back;
# last, incident_breach.yml must rotate every credential with the estate up.
# Usage: drill-checks.sh RESULTS_DIR
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
python="$repo/.venv/bin/python"
results=${1:?usage: drill-checks.sh RESULTS_DIR}
# ansible.cfg (collections path, pipelining) is read from the working directory.
cd "$repo" || exit 1
# Each check's time, printed as it ends and again at the end, so the job's
# slowest parts are known (the checks are most of the drill job's time).
timeline=""
check() {
  local name=$1 start rc; shift
  start=$(date +%s)
  "$@"; rc=$?
  timeline+="$(printf '  %-22s %5d s  exit %d' "$name" "$(( $(date +%s) - start ))" "$rc")"$'\n'
  echo "drill-checks: $name took $(( $(date +%s) - start )) s (exit $rc)"
  return "$rc"
}
finish() { printf 'drill-checks timeline:\n%s' "$timeline"; exit "$1"; }
# Every step of the quarterly profile, the data-centre outage among them, passed.
check report "$python" "$repo/tests/lab/check_drill_report.py" "$results" --outcome passed --profile quarterly --users \
  || finish 1
check runner "$python" "$repo/tests/lab/drill_runner.py" "$repo" || finish 1
# The plan's alerts on the same lab: real faults, notifications timed.
check alerts env FULEXO_RESULTS_DIR="$results" .venv/bin/ansible-playbook -i inventories/lab/hosts.yml \
  tests/lab/alerts.yml -e alerts_results_dir="$results" || finish 1
check monitoring-refusals env FULEXO_RESULTS_DIR="$results" "$repo/tests/lab/monitoring-refusals.sh" || finish 1
# The backups are immutable even for MinIO's root credentials (COMPLIANCE).
check backup-immutability "$repo/tests/lab/backup-immutability.sh" || finish 1
# The application tier: an instance and a worker killed under load, the
# application runbook, degraded mode, bad input.
check app-tier env FULEXO_RESULTS_DIR="$results" "$repo/tests/lab/app-tier.sh" || finish 1
check drill-refusals "$repo/tests/lab/drill-refusals.sh" || finish 1
# The incident runbooks: corruption (a page overwritten on disk, rows a bad
# deploy destroyed), then ransomware (data directories and backup objects
# overwritten; the hosts are rebuilt, so it comes last).
check corruption "$repo/tests/lab/corruption.sh" "$results" || finish 1
check ransomware "$repo/tests/lab/ransomware.sh" "$results" || finish 1
# No secret in what the playbooks print at -vvv (stock Ansible) or write.
check secrets "$repo/tests/lab/secrets-in-output.sh" || finish 1
# The DR site as a standby cluster of the primary site (#11), then the
# data-centre outage and the fail-back.
check dr-site "$repo/tests/lab/dr-site.sh" || finish 1
check dr-outage "$repo/tests/lab/dr-outage.sh" || finish 1
# Last: it rotates every lab secret (the converged lab then runs on the new ones).
check breach "$repo/tests/lab/breach.sh" "$results" || finish 1
finish 0
