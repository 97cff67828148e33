#!/usr/bin/env bash
# On the converged lab: no secret the lab generated (lab_secrets_dir) appears
# in what the collection's playbooks print at -vvv, or in the results files
# they write. Stock Ansible, as an AWX job log shows it: it prints every
# command with its environment, where Mitogen would pass both by RPC.
# A canary (a made-up value in a task's environment) must be found, or the
# search itself is broken and the run fails.
# Usage: secrets-in-output.sh   (prints one line per run, names never values)
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo" || exit 1
secrets_dir="${FULEXO_CACHE:-/var/cache/fulexo-dr}/secrets"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export FULEXO_RESULTS_DIR="$work/results" ANSIBLE_STRATEGY=linear
mkdir -p "$FULEXO_RESULTS_DIR" "$work/logs"
failures=0
say() { printf '%-4s %s\n' "$1" "$2"; [[ $1 == ok ]] || failures=$((failures + 1)); }

run() {
  local name=$1 start rc; shift
  start=$(date +%s)
  "$repo/.venv/bin/ansible-playbook" -vvv -i inventories/lab/hosts.yml "$@" >"$work/logs/$name.log" 2>&1
  rc=$?
  printf '%s %s %s\n' "$name" "$rc" "$(( $(date +%s) - start ))" >>"$work/runs"
  if [[ $rc -ne 0 ]]; then
    say FAIL "$name at -vvv exited $rc; its end:"; tail -n 20 "$work/logs/$name.log"
  fi
}

# The positive control: a value in a task's environment is in the -vvv output.
canary="canary-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
cat >"$work/canary.yml" <<CANARY
- name: Canary
  hosts: pg1
  gather_facts: false
  tasks:
    - name: A command with a made-up value in its environment
      ansible.builtin.command: "true"
      environment: {FULEXO_CANARY: "$canary"}
      changed_when: false
CANARY
"$repo/.venv/bin/ansible-playbook" -vvv -i inventories/lab/hosts.yml "$work/canary.yml" >"$work/canary.log" 2>&1 || true
if grep -qF "$canary" "$work/canary.log"; then
  say ok "canary: a value in a task's environment is found in the -vvv output"
else
  say FAIL "canary: a value in a task's environment was not found; the search below would prove nothing"
fi

run site playbooks/site.yml
run backup playbooks/backup.yml
run storage_check playbooks/storage_check.yml
run health_report playbooks/health_report.yml
run app_recover playbooks/app_recover.yml
run cache_recover playbooks/cache_recover.yml
run switchover playbooks/switchover.yml
# WAL-G's storage keys travel in its environment on the restore host.
run restore playbooks/restore.yml
run incident_corruption playbooks/incident_corruption.yml

# Every secret file's value, searched in every log and results file; a hit
# names the secret and the file, never the value.
"$repo/.venv/bin/python" - "$secrets_dir" "$work" <<'SEARCH' || failures=$((failures + 1))
import os, sys
secrets_dir, work = sys.argv[1], sys.argv[2]
secrets = {}
for name in sorted(os.listdir(secrets_dir)):
    with open(os.path.join(secrets_dir, name)) as handle:
        # ansible.builtin.password files: the value, then optional " salt=...".
        value = handle.read().split()[0] if os.path.getsize(os.path.join(secrets_dir, name)) else ""
    if len(value) >= 8:
        secrets[name] = value
files = []
for root in (os.path.join(work, "logs"), os.path.join(work, "results")):
    for base, _dirs, names in os.walk(root):
        files += [os.path.join(base, n) for n in names]
hits = []
size = 0
for path in files:
    with open(path, errors="replace") as handle:
        text = handle.read()
    size += len(text)
    hits += ["%s in %s" % (name, os.path.relpath(path, work)) for name, value in secrets.items() if value in text]
if not secrets or not files:
    print("FAIL no secrets (%d) or no output (%d files) to search" % (len(secrets), len(files)))
    sys.exit(1)
if hits:
    print("FAIL secrets printed: %s" % "; ".join(hits))
    sys.exit(1)
print("ok   %d secrets searched in %d files (%.1f MB of -vvv output and results): 0 hits"
      % (len(secrets), len(files), size / 1e6))
SEARCH
while read -r name rc took; do
  echo "     $name at -vvv: exit $rc, ${took} s, $(wc -c <"$work/logs/$name.log") bytes"
done <"$work/runs"
exit $(( failures > 0 ))
