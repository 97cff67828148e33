#!/usr/bin/env bash
# On the converged lab: the application tier (plan §3 "Application HA", §8's
# application runbook, §9's degraded mode), each case a real fault.
#   1. a second converge of the app and web hosts changes nothing;
#   2. an API instance and then a worker are killed under load through
#      nginx: no idempotent read fails after the passive-health window, the
#      orders placed meanwhile are all fulfilled (the other worker);
#   3. app_recover.yml on a stopped instance and a hung one restarts those
#      two only, and a second run restarts nothing;
#   4. degraded mode: enabled, it serves what the plan keeps and refuses
#      what it drops, a converge keeps it, a second run changes nothing;
#      disabled, full capacity again; enabling while the database is out of
#      reach still enables, and says what it could not check;
#   5. bad input: no state, an empty upstream list, a health path that
#      never answers 200: one clear line each, nothing changed.
# Prints the measured figures; exits 1 if any case failed.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo" || exit 1
playbook() { "$repo/.venv/bin/ansible-playbook" -i inventories/lab/hosts.yml "$@"; }
python="$repo/.venv/bin/python"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export FULEXO_RESULTS_DIR="${FULEXO_RESULTS_DIR:-$work/results}"
mkdir -p "$FULEXO_RESULTS_DIR"
failures=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*"; failures=$((failures + 1)); }
tail_of() { echo "---- the end of its output:"; tail -n "${2:-25}" "$1"; }

# "changed=N" of the given hosts in a PLAY RECAP, summed.
changed_on() {
  local log=$1; shift
  local total=0 host n
  for host in "$@"; do
    n=$(sed -n "s/^$host *: .*changed=\([0-9]*\).*/\1/p" "$log" | tail -n 1)
    total=$((total + ${n:-999}))
  done
  echo "$total"
}
in_container() { docker exec "fulexo-lab-$1" "${@:2}"; }
newest() { find "$FULEXO_RESULTS_DIR" -maxdepth 1 -name "$1" -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-; }
json() { "$python" -c "import json, sys; d = json.load(open(sys.argv[1])); print($1)" "$2"; }

# SQL on the Patroni leader, as postgres, in the application's database.
leader_sql() {
  local host
  for host in pg1 pg2 pg3; do
    if [[ "$(in_container "$host" su postgres -c "psql -Atc 'select pg_is_in_recovery()'" 2>/dev/null)" == f ]]; then
      in_container "$host" su postgres -c "psql -d fulexo -Atc \"$1\""
      return
    fi
  done
  echo "no leader" >&2; return 1
}

# ---- 1. a second converge changes nothing --------------------------------
playbook playbooks/site.yml --limit app,web >"$work/converge.log" 2>&1; rc=$?
changed=$(changed_on "$work/converge.log" app1 app2 web1)
if [[ $rc -ne 0 || $changed -ne 0 ]]; then
  fail "second converge of app1 app2 web1: exit $rc, changed=$changed"; tail_of "$work/converge.log" 40
else
  ok "second converge of app1 app2 web1: changed=0"
fi

# ---- 2. an API instance, then a worker, killed under load ------------------
docker cp lab/app/load.py fulexo-lab-web1:/root/load.py >/dev/null
fail_timeout=$(sed -n 's/^nginx_lb_fail_timeout: *//p' roles/nginx_lb/defaults/main.yml)
in_container web1 python3 /root/load.py http://127.0.0.1:80 40 --threads 4 --write-every 0.25 >"$work/load.json" 2>&1 &
load_pid=$!
sleep 10
api_killed=$(date +%s.%N)
in_container app1 systemctl kill --signal=SIGKILL fulexo-app-api@8080.service
sleep 10
worker_killed=$(date +%s.%N)
in_container app1 systemctl kill --signal=SIGKILL fulexo-app-worker@1.service
wait "$load_pid"
if ! "$python" - "$work/load.json" "$api_killed" "$fail_timeout" >"$work/load.verdict" <<'EOF'
import json, sys
summary = json.load(open(sys.argv[1]))
killed, window = float(sys.argv[2]), float(sys.argv[3])
reads, writes = summary["read"], summary["write"]
late = [f for f in reads["failures"] if f["epoch"] > killed + window]
print("reads %d, failed %d (%s); writes %d, failed %d; read p50 %s ms, p99 %s ms; upstreams %s" % (
    reads["total"], reads["failed"],
    ", ".join("%+.2f s %s" % (f["epoch"] - killed, f["status"]) for f in reads["failures"]) or "none",
    writes["total"], writes["failed"], reads["p50_ms"], reads["p99_ms"], len(reads["upstreams"])))
sys.exit(1 if late or reads["total"] < 100 or len(reads["upstreams"]) < 3 else 0)
EOF
then
  fail "API instance killed under load: a read failed after the ${fail_timeout}s window, or too little load: $(cat "$work/load.verdict")"
  head -c 3000 "$work/load.json"; echo
else
  ok "API instance killed under load: $(cat "$work/load.verdict")"
fi
# Every order placed under load is fulfilled, by whichever worker was alive.
ids=$("$python" -c 'import json, sys; print(",".join(map(str, json.load(open(sys.argv[1]))["placed_order_ids"])))' "$work/load.json" 2>/dev/null)
pending=unknown
for _ in $(seq 1 30); do
  pending=$(leader_sql "select count(*) from order_jobs where kind = 'fulfil' and processed_at is null and order_id in (${ids:-0})")
  [[ $pending == 0 ]] && break
  sleep 1
done
processed_by=$(leader_sql "select string_agg(distinct processed_by, ', ') from order_jobs where order_id in (${ids:-0}) and processed_at > to_timestamp($worker_killed)")
if [[ $pending != 0 || -z $ids ]]; then
  fail "worker killed: $pending fulfil jobs of the orders placed under load still pending 30 s later"
else
  ok "worker killed: every order placed under load fulfilled ($(tr ',' '\n' <<<"$ids" | wc -l) orders; after the kill by: $processed_by)"
fi
for unit in fulexo-app-api@8080 fulexo-app-worker@1; do
  for _ in $(seq 1 15); do in_container app1 systemctl is-active -q "$unit" && break; sleep 1; done
done

# ---- 3. app_recover.yml on a stopped and a hung instance -------------------
in_container app1 systemctl stop fulexo-app-api@8081.service
in_container app2 systemctl kill --signal=SIGSTOP fulexo-app-api@8080.service
playbook playbooks/app_recover.yml >"$work/recover.log" 2>&1; rc=$?
result=$(newest 'app-recover-*.json')
restarted=$([[ -n $result ]] && json "sorted(u for units in d['restarted'].values() for u in units)" "$result")
if [[ $rc -ne 0 || $restarted != "['fulexo-app-api@8080.service', 'fulexo-app-api@8081.service']" ]]; then
  fail "app_recover on a stopped and a hung instance: exit $rc, restarted $restarted"; tail_of "$work/recover.log" 40
else
  ok "app_recover on a stopped and a hung instance: restarted $restarted; $(json "'steps (s): ' + ', '.join('%s %s' % kv for kv in d['seconds'].items()) + '; smoke ' + ('ok' if d['smoke']['rc'] == 0 else 'failed')" "$result")"
fi
playbook playbooks/app_recover.yml >"$work/recover2.log" 2>&1; rc=$?
result=$(newest 'app-recover-*.json')
restarted=$([[ -n $result ]] && json "sum(len(u) for u in d['restarted'].values())" "$result")
changed=$(changed_on "$work/recover2.log" app1 app2)
if [[ $rc -ne 0 || $restarted != 0 || $changed -ne 0 ]]; then
  fail "app_recover on a healthy tier: exit $rc, restarted $restarted, changed=$changed"; tail_of "$work/recover2.log" 40
else
  ok "app_recover on a healthy tier: nothing restarted, changed=0, $(json "d['seconds']['total']" "$result") s"
fi

# ---- 4. degraded mode ----------------------------------------------------
running() { for h in app1 app2; do in_container "$h" systemctl list-units --plain --no-legend --state=active 'fulexo-app-*@*' | awk -v h="$h" '{print h ":" $1}'; done | sort | tr '\n' ' '; }
served() { json "', '.join('%s %s' % (c['check'], c['status']) for c in d['served'])" "$1"; }
playbook playbooks/degraded_mode.yml -e degraded_mode_state=enabled -e 'degraded_mode_reason=lab test' >"$work/deg1.log" 2>&1; rc=$?
result=$(newest 'degraded-mode-enabled-*.json')
now_running=$(running)
if [[ $rc -ne 0 || $(wc -w <<<"$now_running") -ne 2 ]] || [[ -z $result ]] \
   || [[ $(json "len(d['not_as_expected'])" "$result") != 0 ]]; then
  fail "degraded mode enabled: exit $rc, running $now_running"; tail_of "$work/deg1.log" 40
else
  ok "degraded mode enabled in $(json "d['seconds']" "$result") s: running $now_running; $(served "$result")"
fi
docker cp lab/app/smoke.py fulexo-lab-web1:/root/smoke.py >/dev/null
if in_container web1 python3 /root/smoke.py http://127.0.0.1:80 >"$work/smoke.log" 2>&1; then
  ok "degraded mode serves order viewing, search, login and new orders (smoke tests)"
else
  fail "degraded mode: smoke tests of what it keeps failed"; cat "$work/smoke.log"
fi
playbook playbooks/degraded_mode.yml -e degraded_mode_state=enabled >"$work/deg2.log" 2>&1; rc=$?
playbook playbooks/site.yml --limit app >"$work/deg-converge.log" 2>&1; rc2=$?
changed=$(( $(changed_on "$work/deg2.log" app1 app2) + $(changed_on "$work/deg-converge.log" app1 app2) ))
if [[ $rc -ne 0 || $rc2 -ne 0 || $changed -ne 0 || "$(running)" != "$now_running" ]]; then
  fail "degraded mode enabled again, then a converge: exit $rc/$rc2, changed=$changed, running $(running)"
  tail_of "$work/deg2.log"; tail_of "$work/deg-converge.log"
else
  ok "degraded mode enabled again, then a converge: changed=0, still $(running)"
fi
playbook playbooks/degraded_mode.yml -e degraded_mode_state=disabled >"$work/deg3.log" 2>&1; rc=$?
result=$(newest 'degraded-mode-disabled-*.json')
playbook playbooks/degraded_mode.yml -e degraded_mode_state=disabled >"$work/deg4.log" 2>&1; rc2=$?
changed=$(changed_on "$work/deg4.log" app1 app2)
if [[ $rc -ne 0 || $rc2 -ne 0 || $changed -ne 0 || $(wc -w <<<"$(running)") -ne 5 ]]; then
  fail "degraded mode disabled: exit $rc/$rc2, changed=$changed on the second run, running $(running)"; tail_of "$work/deg3.log" 40
else
  ok "degraded mode disabled in $(json "d['seconds']" "$result") s: $(running); $(served "$result"); a second run changed=0"
fi
# The database out of the application's reach (its load balancer stopped).
in_container lb1 systemctl stop haproxy
playbook playbooks/degraded_mode.yml -e degraded_mode_state=enabled >"$work/deg5.log" 2>&1; rc=$?
result=$(newest 'degraded-mode-enabled-*.json')
unhealthy=$([[ -n $result ]] && json "len(d['unhealthy'])" "$result")
if [[ $rc -ne 0 || $(wc -w <<<"$(running)") -ne 2 || ${unhealthy:-0} -eq 0 ]] || ! grep -q "could not check" "$work/deg5.log"; then
  fail "degraded mode with the database out of reach: exit $rc, running $(running), unhealthy ${unhealthy:-?}"; tail_of "$work/deg5.log" 40
else
  ok "degraded mode with the database out of reach: enabled, $(grep -o 'could not check[^;]*' "$work/deg5.log" | head -n 1)"
fi
in_container lb1 systemctl start haproxy
playbook playbooks/degraded_mode.yml -e degraded_mode_state=disabled >"$work/deg6.log" 2>&1 \
  || { fail "degraded mode disabled once the database is back"; tail_of "$work/deg6.log" 40; }

# ---- 5. bad input ---------------------------------------------------------
playbook playbooks/degraded_mode.yml >"$work/bad1.log" 2>&1; rc=$?
if [[ $rc -eq 0 ]] || ! grep -q "say -e degraded_mode_state=enabled" "$work/bad1.log"; then
  fail "degraded mode without a state: exit $rc"; tail_of "$work/bad1.log"
else
  ok "degraded mode without a state: refused in one line"
fi
before=$(in_container web1 sha256sum /etc/nginx/nginx.conf)
playbook playbooks/site.yml --limit web -e '{"nginx_lb_upstream_servers": []}' >"$work/bad2.log" 2>&1; rc=$?
if [[ $rc -eq 0 ]] || ! grep -q "nginx_lb_upstream_servers is empty" "$work/bad2.log" \
   || [[ "$(in_container web1 sha256sum /etc/nginx/nginx.conf)" != "$before" ]]; then
  fail "an empty upstream list: exit $rc, or nginx.conf changed"; tail_of "$work/bad2.log"
else
  ok "an empty upstream list: refused in one line, nginx.conf unchanged"
fi
playbook playbooks/site.yml --limit app2 -e app_service_health_path=/never-answers-200 -e app_service_health_timeout=4 \
  -e '{"app_service_environment": {"FULEXO_APP_CHANGED": "1"}}' >"$work/bad3.log" 2>&1; rc=$?
if [[ $rc -eq 0 ]] || ! grep -q "not healthy 4 s after its restart" "$work/bad3.log"; then
  fail "a health path that never answers 200: exit $rc"; tail_of "$work/bad3.log"
else
  ok "a health path that never answers 200: refused after the first instance, '$(grep -o 'fulexo-app-api@[0-9]*.service not healthy 4 s after its restart' "$work/bad3.log" | head -n 1)'"
fi
# Put app2 back as the inventory says.
playbook playbooks/site.yml --limit app2 >"$work/restore.log" 2>&1 \
  || { fail "app2 back to its inventory configuration"; tail_of "$work/restore.log"; }

exit $(( failures > 0 ))
