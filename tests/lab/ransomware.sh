#!/usr/bin/env bash
# incident_ransomware.yml on the converged lab (#14). Rows are written and
# archived, a backup is taken (with its manifest), more rows follow; then the
# "attack": every database host's data directory is overwritten with random
# bytes, and in the backup bucket the newest backup's objects are overwritten
# and WAL segments deleted (new versions and delete markers: the locked
# versions stay), and a root delete with --bypass of a locked version is
# tried. Bad input first: a run against hosts that are not isolated, and a run
# for which no backup passes the checks, must refuse. Then the real run: the
# rows written before the attack must all be back, the cluster whole, the
# isolation lifted, the evidence fetched, the application answering.
# Usage: ransomware.sh RESULTS_DIR
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo" || exit 1
results=${1:?usage: ransomware.sh RESULTS_DIR}
playbook=(.venv/bin/ansible-playbook -i inventories/lab/hosts.yml playbooks/incident_ransomware.yml -e "dr_results_dir=$results")
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failures=0
say() { printf '%-4s %s\n' "$1" "$2"; [[ $1 == ok ]] || failures=$((failures + 1)); }
stamp() { date -u +%Y-%m-%dT%H:%M:%S+00:00; }
hosts='{"ransomware_hosts": ["pg1", "pg2", "pg3"]}'
mc() { docker exec -i -e MC_CONFIG_DIR=/etc/minio/mc fulexo-lab-minio1 /usr/local/bin/mc "$@"; }

leader() {
  docker exec fulexo-lab-pg1 /opt/patroni/bin/patronictl -c /etc/patroni/patroni.yml list -f json 2>/dev/null \
    | python3 -c 'import json, sys; print([m["Member"] for m in json.load(sys.stdin) if m["Role"] == "Leader"][0])'
}
sql() {  # sql HOST STATEMENT: one value back
  docker exec "fulexo-lab-$1" su postgres -c "psql -XAtq -d fulexo -c \"$2\""
}
running_patroni() {
  local n=0 h
  for h in pg1 pg2 pg3; do docker exec "fulexo-lab-$h" systemctl is-active -q patroni && n=$((n + 1)); done
  echo "$n"
}
nft_tables() {
  local n=0 h
  for h in pg1 pg2 pg3; do docker exec "fulexo-lab-$h" nft list table inet fulexo_isolation >/dev/null 2>&1 && n=$((n + 1)); done
  echo "$n"
}

# --- Rows before and after a backup, all archived.
lead="$(leader)"
[[ -n "$lead" ]] || { say FAIL "no Patroni leader on the lab"; exit 1; }
sql "$lead" "CREATE TABLE IF NOT EXISTS ransomware_check (id serial PRIMARY KEY, phase text, at timestamptz DEFAULT now())" >/dev/null
sql "$lead" "INSERT INTO ransomware_check (phase) SELECT 'before-backup' FROM generate_series(1, 500)" >/dev/null
if .venv/bin/ansible-playbook -i inventories/lab/hosts.yml playbooks/backup.yml -e backup_logical=false \
    -e "dr_results_dir=$results" >"$log" 2>&1; then
  say ok "backup taken (its manifest recorded by the backup job)"
else
  say FAIL "backup.yml failed: $(grep -m1 -E 'fatal|FAILED' "$log")"
  exit 1
fi
sql "$lead" "INSERT INTO ransomware_check (phase) SELECT 'after-backup' FROM generate_series(1, 300)" >/dev/null
segment="$(sql "$lead" "SELECT pg_walfile_name(pg_switch_wal())")"
for _ in $(seq 1 60); do
  [[ "$(sql "$lead" "SELECT last_archived_wal >= '$segment' FROM pg_stat_archiver")" == t ]] && break
  sleep 1
done
expected="$(sql "$lead" "SELECT count(*) FROM ransomware_check")"
say ok "$expected rows written, WAL archived up to $segment"
sleep 2
attack="$(stamp)"
sleep 2

# --- Refused: the hosts are not isolated (nothing must change).
"${playbook[@]}" -e "$hosts" -e ransomware_isolate=false -e "ransomware_attack_started_at=$attack" >"$log" 2>&1
rc=$?
if [[ $rc -ne 0 ]] && grep -q "not isolated" "$log" && [[ "$(running_patroni)" == 3 && "$(nft_tables)" == 0 ]]; then
  say ok "not isolated: refused ($(grep -o 'not isolated[^.]*' "$log" | head -1 | cut -c1-150)), Patroni still runs on 3 of 3"
else
  say FAIL "a run against hosts that answer was not refused cleanly (exit $rc, Patroni on $(running_patroni) of 3, nft on $(nft_tables))"
fi

# --- The attack.
data_dir="$(sql "$lead" "SELECT current_setting('data_directory')")"
overwritten=""
for h in pg1 pg2 pg3; do
  n="$(docker exec "fulexo-lab-$h" python3 -c '
import os, sys
root, count = sys.argv[1], 0
for d, _, files in os.walk(os.path.join(root, "base")):
    for f in files:
        p = os.path.join(d, f)
        size = os.path.getsize(p)
        with open(p, "r+b") as handle:
            handle.write(os.urandom(min(size, 65536)))
        count += 1
print(count)
' "$data_dir")"
  overwritten+=" $h:${n:-0}"
done
if [[ "$overwritten" =~ :0( |$) ]]; then
  say FAIL "the attack did not reach every data directory ($data_dir; files overwritten per host:$overwritten)"
else
  say ok "data directories ($data_dir) overwritten with random bytes (files per host:$overwritten)"
fi
prefix="local/fulexo-backups/postgres/fulexo-primary"
newest="$(mc --json ls "$prefix/basebackups_005/" | python3 -c '
import json, sys
names = sorted(json.loads(l)["key"] for l in sys.stdin if l.strip() and json.loads(l).get("key", "").endswith("_backup_stop_sentinel.json"))
print(names[-1].replace("_backup_stop_sentinel.json", "") if names else "")')"
encrypted=0
while read -r key; do
  head -c 4096 /dev/urandom | mc pipe "$prefix/basebackups_005/$newest/$key" >/dev/null && encrypted=$((encrypted + 1))
done < <(mc --json ls --recursive "$prefix/basebackups_005/$newest/" | python3 -c '
import json, sys
for l in sys.stdin:
    if l.strip() and json.loads(l).get("type") == "file":
        print(json.loads(l)["key"])')
echo '{"garbage": true}' | mc pipe "$prefix/basebackups_005/${newest}_backup_stop_sentinel.json" >/dev/null && encrypted=$((encrypted + 1))
deleted=0
while read -r key; do
  mc rm "$prefix/wal_005/$key" </dev/null >/dev/null && deleted=$((deleted + 1))
done < <(mc --json ls "$prefix/wal_005/" | python3 -c '
import json, sys
keys = sorted(json.loads(l)["key"] for l in sys.stdin if l.strip() and ".history" not in json.loads(l).get("key", ""))
print("\n".join(keys[-5:]))')
say ok "backup $newest: $encrypted objects overwritten; $deleted newest WAL segments deleted (delete markers)"
version="$(mc --json ls --versions "$prefix/basebackups_005/${newest}_backup_stop_sentinel.json" | python3 -c '
import json, sys
rows = sorted((json.loads(l) for l in sys.stdin if l.strip()), key=lambda r: r["lastModified"])
print(rows[0]["versionId"])')"
if mc rm --version-id "$version" --bypass "$prefix/basebackups_005/${newest}_backup_stop_sentinel.json" >/dev/null 2>&1; then
  say FAIL "root deleted the locked version $version of ${newest}'s sentinel with --bypass"
else
  say ok "root delete with --bypass of the locked sentinel version refused"
fi

# --- Refused: no backup passes when only GOVERNANCE counts as a lock (the lab's are COMPLIANCE).
"${playbook[@]}" -e "$hosts" -e "ransomware_attack_started_at=$attack" -e '{"ransomware_lock_modes": ["GOVERNANCE"]}' >"$log" 2>&1
rc=$?
if [[ $rc -ne 0 ]] && grep -q "passes the immutability checks" "$log" && grep -q "lock" "$log"; then
  say ok "no backup passes with only GOVERNANCE accepted: refused ($(grep -o 'no backup[^"]*' "$log" | head -1 | cut -c1-200))"
else
  say FAIL "a run with no provable backup was not refused (exit $rc): $(grep -m1 -E 'fatal|msg' "$log" | cut -c1-300)"
fi

# --- The response.
started=$(date +%s)
run_log="$results/incident-ransomware.log"
"${playbook[@]}" -e "$hosts" -e "ransomware_attack_started_at=$attack" >"$run_log" 2>&1
rc=$?
took=$(( $(date +%s) - started ))
result="$(find "$results" -maxdepth 1 -name 'incident-ransomware-*.json' -newermt "@$started" | sort | tail -1)"
if [[ $rc -eq 0 ]]; then
  say ok "incident_ransomware.yml done in $took s"
else
  say FAIL "incident_ransomware.yml failed (exit $rc) after $took s: $(grep -A3 -E '^fatal' "$run_log" | tail -4 | cut -c1-400) (whole log: $run_log)"
fi
lead="$(leader)"
got="$(sql "$lead" "SELECT count(*) FROM ransomware_check" 2>/dev/null)"
if [[ "$got" == "$expected" ]]; then
  say ok "all $expected rows written before the attack are back (leader $lead)"
else
  say FAIL "rows after the restore: ${got:-none}, expected $expected"
fi
streaming="$(docker exec fulexo-lab-pg1 /opt/patroni/bin/patronictl -c /etc/patroni/patroni.yml list -f json 2>/dev/null \
  | python3 -c 'import json, sys; print(sum(m["State"] == "streaming" for m in json.load(sys.stdin)))')"
if [[ "$streaming" == 2 ]]; then
  say ok "cluster whole: leader and 2 streaming replicas"
else
  say FAIL "streaming replicas after the response: ${streaming:-none}"
fi
if [[ "$(nft_tables)" == 0 ]]; then
  say ok "isolation lifted on pg1, pg2, pg3"
else
  say FAIL "isolation still on $(nft_tables) hosts"
fi
if [[ -n "$result" ]]; then
  if python3 - "$result" "$results" <<'EOF'
import hashlib, json, os, sys
result = json.load(open(sys.argv[1]))
problems = []
for host, sums in result["evidence"].items():
    for name, sha in sums.items():
        path = os.path.join(sys.argv[2], "evidence-" + "".join(c for c in result["started_at"] if c.isdigit() or c == "T"), host, name)
        if not os.path.exists(path) or hashlib.sha256(open(path, "rb").read()).hexdigest() != sha:
            problems.append("%s/%s" % (host, name))
rewind = result.get("backups", {}).get("rewind", {})
print("result: %s; backup %s (%s rejected), rewind: %s copied back, %s hidden; restore reached %s; evidence %d files%s" % (
    result["status"], result.get("backups", {}).get("backup"), len(result.get("backups", {}).get("rejected", [])),
    rewind.get("to_copy"), rewind.get("to_hide"), result["restore"]["reached"].get("last_replayed_transaction"),
    sum(len(s) for s in result["evidence"].values()), (", MISMATCH " + ", ".join(problems)) if problems else ", sums match"))
for step in result["timeline"]:
    print("  %-18s %s" % (step["step"], step["at"]))
sys.exit(1 if problems or result["status"] != "done" else 0)
EOF
  then
    say ok "result and evidence consistent ($result)"
  else
    say FAIL "result or evidence inconsistent ($result)"
  fi
else
  say FAIL "no incident-ransomware result in $results"
fi
if docker exec fulexo-lab-web1 python3 -c 'import urllib.request; urllib.request.urlopen("http://127.0.0.1/health/app", timeout=5)' 2>/dev/null; then
  say ok "the application answers through nginx"
else
  say FAIL "the application does not answer through nginx after the response"
fi
exit $(( failures > 0 ))
