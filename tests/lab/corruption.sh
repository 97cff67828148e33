#!/usr/bin/env bash
# incident_corruption.yml on the converged lab (#14). Three runs, with writes
# acknowledged by the leader throughout the second:
#   1. a healthy cluster: reported clean, nothing changed;
#   2. physical corruption: a page of a table overwritten on the leader's
#      disk (the page cache dropped by a restart). The leader must hand over
#      to a healthy replica, be rebuilt with its data directory kept, and every
#      member pass the checks; no acknowledged write may be lost;
#   3. logical corruption: a "bad deploy" deletes parent rows with the
#      foreign keys switched off (children orphaned) and changes others, then
#      legitimate rows follow. Without a good point in time the run must
#      refuse and change nothing; with one, the deleted rows must be back, the
#      foreign key hold, and the changed and later rows stay as they are.
# Usage: corruption.sh RESULTS_DIR
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo" || exit 1
results=${1:?usage: corruption.sh RESULTS_DIR}
playbook=(.venv/bin/ansible-playbook -i inventories/lab/hosts.yml playbooks/incident_corruption.yml -e "dr_results_dir=$results")
log="$(mktemp)"
acked="$(mktemp)"
writer=""
trap '[[ -n "$writer" ]] && kill "$writer" 2>/dev/null; rm -f "$log" "$acked"' EXIT
failures=0
say() { printf '%-4s %s\n' "$1" "$2"; [[ $1 == ok ]] || failures=$((failures + 1)); }
stamp() { date -u +%Y-%m-%dT%H:%M:%S+00:00; }

patroni_list() {
  docker exec fulexo-lab-pg1 /opt/patroni/bin/patronictl -c /etc/patroni/patroni.yml list -f json 2>/dev/null
}
leader() {
  patroni_list | python3 -c 'import json, sys; print([m["Member"] for m in json.load(sys.stdin) if m["Role"] == "Leader"][0])'
}
streaming() {
  patroni_list | python3 -c 'import json, sys; print(sum(m["State"] == "streaming" for m in json.load(sys.stdin)))'
}
sql() {  # sql HOST STATEMENT: the values back
  docker exec "fulexo-lab-$1" su postgres -c "psql -XAtq -v ON_ERROR_STOP=1 -d fulexo -c \"$2\""
}
kept_dirs() {
  local h
  for h in pg1 pg2 pg3; do
    docker exec "fulexo-lab-$h" sh -c 'ls -d /var/lib/postgresql/15/*.corrupt-* 2>/dev/null' | sed "s/^/$h:/"
  done
}
newest_result() {  # newest_result EPOCH: the result written since then
  find "$results" -maxdepth 1 -name 'incident-corruption-*.json' -newermt "@$1" | sort | tail -1
}
field() {  # field RESULT_FILE PYTHON_EXPRESSION_ON_r
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

lead="$(leader)"
[[ -n "$lead" ]] || { say FAIL "no Patroni leader on the lab"; exit 1; }
mkdir -p "$results"
sql "$lead" "DROP TABLE IF EXISTS corruption_child, corruption_parent, corruption_probe, corruption_writes" >/dev/null
# autovacuum off on the probe table: nothing may rewrite its pages between
# the corruption on disk and the restart that makes the server read it.
sql "$lead" "CREATE TABLE corruption_probe (id int PRIMARY KEY, payload text) WITH (autovacuum_enabled = false);
  CREATE TABLE corruption_writes (id int PRIMARY KEY, at timestamptz DEFAULT now());
  CREATE TABLE corruption_parent (id int PRIMARY KEY, name text NOT NULL);
  CREATE TABLE corruption_child (id serial PRIMARY KEY, parent_id int NOT NULL REFERENCES corruption_parent (id), note text);
  INSERT INTO corruption_probe SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 2000) g;
  INSERT INTO corruption_parent SELECT g, 'parent ' || g FROM generate_series(1, 200) g;
  INSERT INTO corruption_child (parent_id, note) SELECT p, 'child of ' || p FROM generate_series(1, 200) p, generate_series(1, 2)" >/dev/null \
  || { say FAIL "could not create the test tables on $lead"; exit 1; }

# --- 1. A healthy cluster: clean, nothing changed.
kept_before="$(kept_dirs)"
started=$(date +%s)
"${playbook[@]}" >"$log" 2>&1
rc=$?
result="$(newest_result "$started")"
if [[ $rc -eq 0 && -n "$result" && "$(field "$result" 'r["status"]')" == clean && "$(leader)" == "$lead" && "$(kept_dirs)" == "$kept_before" ]]; then
  say ok "healthy cluster: reported clean in $(( $(date +%s) - started )) s, leader still $lead, no data directory moved"
else
  say FAIL "healthy cluster not reported clean without change (exit $rc, result ${result:-none}, leader $(leader)): $(grep -m1 -A2 -E '^fatal' "$log" | cut -c1-300)"
fi

# --- 2. Physical corruption of the leader, with writes acknowledged throughout.
(
  i=0
  current="$lead"
  while true; do
    i=$((i + 1))
    if docker exec "fulexo-lab-$current" su postgres -c "psql -XAtq -v ON_ERROR_STOP=1 -d fulexo -c 'INSERT INTO corruption_writes (id) VALUES ($i)'" >/dev/null 2>&1; then
      echo "$i" >>"$acked"
    else
      current="$(leader 2>/dev/null || echo "$current")"
    fi
    sleep 0.2
  done
) &
writer=$!
sleep 3
sql "$lead" "VACUUM (FREEZE) corruption_probe" >/dev/null
sql "$lead" "CHECKPOINT" >/dev/null
relfile="$(sql "$lead" "SELECT current_setting('data_directory') || '/' || pg_relation_filepath('corruption_probe')")"
docker exec "fulexo-lab-$lead" python3 -c '
import os, sys
with open(sys.argv[1], "r+b") as f:
    f.seek(8192 * 3 + 2048)     # inside block 3, among its tuples
    f.write(os.urandom(512))
' "$relfile"
scope="$(patroni_list | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["Cluster"])')"
docker exec fulexo-lab-pg1 /opt/patroni/bin/patronictl -c /etc/patroni/patroni.yml restart "$scope" "$lead" --force >/dev/null 2>&1
for _ in $(seq 1 30); do [[ "$(leader 2>/dev/null)" == "$lead" && "$(streaming)" == 2 ]] && break; sleep 1; done
# sum(length()) reads every heap page (a count could use the index alone).
if probe="$(sql "$lead" "SELECT sum(length(payload)) FROM corruption_probe" 2>&1)"; then
  say FAIL "the overwritten page was not noticed by the server (read $probe bytes): the test injected nothing"
else
  say ok "page 3 of corruption_probe overwritten on the leader $lead: $(echo "$probe" | grep -o 'invalid page[^"]*' | head -1)"
fi
started=$(date +%s)
run_log="$results/incident-corruption-physical.log"
"${playbook[@]}" >"$run_log" 2>&1
rc=$?
took=$(( $(date +%s) - started ))
sleep 3
kill "$writer" 2>/dev/null
wait "$writer" 2>/dev/null
writer=""
result="$(newest_result "$started")"
now_lead="$(leader)"
if [[ $rc -eq 0 && -n "$result" && "$(field "$result" 'r["status"]')" == "done" ]]; then
  say ok "incident_corruption.yml done in $took s: $(field "$result" '"findings: %s; switchover %s; rebuilt %s" % (r["findings"]["findings"], r.get("switchover"), {h: v["kept"] for h, v in r.get("rebuilt", {}).items()})')"
  field "$result" '"\n".join("  %-28s %s" % (s["step"], s["at"]) for s in r["timeline"])'
else
  say FAIL "incident_corruption.yml (physical) failed (exit $rc) after $took s: $(grep -A3 -E '^fatal' "$run_log" | tail -4 | cut -c1-400) (log: $run_log)"
fi
if [[ -n "$now_lead" && "$now_lead" != "$lead" && "$(streaming)" == 2 ]]; then
  say ok "leadership moved from $lead to $now_lead; the cluster is whole (2 streaming replicas)"
else
  say FAIL "after the run: leader ${now_lead:-none} (was $lead), $(streaming) streaming replicas"
fi
kept_new="$(comm -13 <(echo "$kept_before") <(kept_dirs))"
if [[ "$kept_new" == "$lead:"* ]]; then
  say ok "the corrupted data directory is kept: $kept_new"
else
  say FAIL "no kept data directory on $lead"
fi
rows="$(sql "$lead" "SELECT count(*) FROM corruption_probe WHERE length(payload) = 192" 2>&1)"
if [[ "$rows" == 2000 ]]; then
  say ok "the rebuilt $lead reads all 2000 rows of corruption_probe"
else
  say FAIL "the rebuilt $lead reads ${rows:0:200} rows of corruption_probe, expected 2000"
fi
n_acked=$(wc -l <"$acked")
lost="$(sql "$now_lead" "SELECT count(*) FROM unnest(ARRAY[$(paste -sd, "$acked")]::int[]) a(id)
  WHERE NOT EXISTS (SELECT 1 FROM corruption_writes w WHERE w.id = a.id)" 2>&1)"
if [[ $n_acked -gt 0 && "$lost" == 0 ]]; then
  say ok "no acknowledged write lost: $n_acked acknowledged during the incident, all on $now_lead"
else
  say FAIL "acknowledged writes lost: ${lost:0:200} of $n_acked"
fi

# --- 3. Logical corruption: a bad deploy.
lead="$now_lead"
sleep 1
good="$(stamp)"
sleep 2
sql "$lead" "SET session_replication_role = replica;
  DELETE FROM corruption_parent WHERE id % 10 = 0;
  UPDATE corruption_parent SET name = name || ' (deployed)' WHERE id % 10 = 5" >/dev/null
sql "$lead" "INSERT INTO corruption_parent SELECT g, 'parent ' || g FROM generate_series(201, 210) g;
  INSERT INTO corruption_child (parent_id, note) SELECT g, 'after the deploy' FROM generate_series(201, 210) g" >/dev/null
say ok "bad deploy at $good + 2 s: $(sql "$lead" "SELECT count(*) FROM corruption_child c WHERE NOT EXISTS (SELECT 1 FROM corruption_parent p WHERE p.id = c.parent_id)") children orphaned, 20 parents changed; then 10 parents and 10 children written"
parents_before="$(sql "$lead" "SELECT count(*) FROM corruption_parent")"

started=$(date +%s)
"${playbook[@]}" >"$log" 2>&1
rc=$?
result="$(newest_result "$started")"
if [[ $rc -ne 0 ]] && grep -q "Give corruption_good_time" "$log" && [[ "$(sql "$lead" "SELECT count(*) FROM corruption_parent")" == "$parents_before" ]]; then
  say ok "without a good point in time: refused, nothing changed ($(grep -o 'the leader [^"]*every replica replays it' "$log" | head -1))"
else
  say FAIL "a logical repair without corruption_good_time was not refused cleanly (exit $rc): $(grep -m1 -A2 -E '^fatal' "$log" | cut -c1-300)"
fi

started=$(date +%s)
run_log="$results/incident-corruption-logical.log"
"${playbook[@]}" -e "corruption_good_time=$good" >"$run_log" 2>&1
rc=$?
took=$(( $(date +%s) - started ))
result="$(newest_result "$started")"
if [[ $rc -eq 0 && -n "$result" && "$(field "$result" 'r["status"]')" == "done" ]]; then
  say ok "incident_corruption.yml (logical) done in $took s; copy restored to $(field "$result" 'r["restore"]["reached"]'); repair: $(field "$result" 'json.dumps({k: r["logical_repair"].get(k) for k in ("totals", "repaired")})' 2>/dev/null)"
  field "$result" '"\n".join("  %-28s %s" % (s["step"], s["at"]) for s in r["timeline"])'
else
  say FAIL "incident_corruption.yml (logical) failed (exit $rc) after $took s: $(grep -A3 -E '^fatal' "$run_log" | tail -4 | cut -c1-400) (log: $run_log)"
fi
state="$(sql "$lead" "SELECT (SELECT count(*) FROM corruption_parent), (SELECT count(*) FROM corruption_parent WHERE id % 10 = 0),
  (SELECT count(*) FROM corruption_parent WHERE name LIKE '% (deployed)'), (SELECT count(*) FROM corruption_parent WHERE id > 200),
  (SELECT count(*) FROM corruption_child c WHERE NOT EXISTS (SELECT 1 FROM corruption_parent p WHERE p.id = c.parent_id))" | tr '|' ' ')"
if [[ "$state" == "210 21 20 10 0" ]]; then
  say ok "after the repair: 210 parents, the 20 deleted back (21 with id % 10 = 0, 210 included), the 20 changed left as deployed, the 10 later rows kept, 0 orphans"
else
  say FAIL "after the repair (parents, id%10=0, deployed, later, orphans): $state, expected 210 21 20 10 0"
fi
sql "$lead" "DROP TABLE IF EXISTS corruption_child, corruption_parent, corruption_probe, corruption_writes" >/dev/null
exit $(( failures > 0 ))
