#!/usr/bin/env bash
# The data-centre outage (#11, plan §4 and §6): with dr-pg1 following the
# primary site (tests/lab/dr-site.sh first) and the drill's write probe
# (roles/dr/files/dr_write_probe.py --resolve, on the controller) writing
# through db.fulexo.lab, every host of the primary site is cut off the network.
# dr_activate.yml must refuse a wrong DNS key and a DNS server that does not
# answer with nothing changed, then activate the DR site: db.fulexo.lab
# points at it and writes through the name succeed. Prints the RTO (cut ->
# first write acknowledged through the name) and the RPO (acknowledged writes
# missing on the DR site). The old site, reconnected with its old addresses,
# must take no writes (fenced), and a second dr_activate.yml run must change
# nothing. Then dr_failback.yml, with a probe writing through the name all
# along: the old site rebuilt as a standby of the DR site, the service moved
# back, no acknowledged write lost, the DR site following again; it prints
# how long nothing took writes, and a second run must change nothing.
# Usage: dr-outage.sh    (LAB_INVENTORY, LAB_PREFIX, LAB_NETWORK for another lab)
set -uo pipefail
# shellcheck source=tests/lab/dr-lib.sh
. "$(dirname "$0")/dr-lib.sh"
secrets="${FULEXO_CACHE:-/var/cache/fulexo-dr}/secrets"
primary_site=(pg1 pg2 pg3 lb1)
probe_pid=""
cut=()
declare -A old_address
reconnect() {  # reconnect HOST: back on the lab network with the address it had
  # (the old site's etcd and Patroni know each other by address); a lab
  # network without a subnet of its own (lab_subnet) cannot give it back.
  docker network connect --alias "$1" --ip "${old_address[$1]}" "$network" "$prefix-$1" 2>/dev/null \
    || docker network connect --alias "$1" "$network" "$prefix-$1"
}
stop_probe() {  # SIGTERM: the probe ends its writes and writes its summary
  [[ -n $probe_pid ]] || return 0
  kill -TERM "$probe_pid" 2>/dev/null
  wait "$probe_pid" 2>/dev/null
  probe_pid=""
}
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  stop_probe
  # Never leave a host without its network, whatever failed.
  for host in "${cut[@]}"; do
    reconnect "$host" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
now() { date +%s.%N | cut -c1-14; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a - b }'; }
playbook() {  # playbook NAME PLAYBOOK [ARGS...]: output in $work/NAME.log; prints "rc seconds"
  local name=$1 start rc
  shift
  start=$(now)
  env --unset=ANSIBLE_CALLBACKS_ENABLED .venv/bin/ansible-playbook -i "$inventory" "$@" >"$work/$name.log" 2>&1
  rc=$?
  echo "$rc $(minus "$(now)" "$start")"
}
activate() {  # activate NAME [ARGS...]: dr_activate.yml
  local name=$1
  shift
  playbook "$name" playbooks/dr_activate.yml "$@"
}
start_probe() {  # start_probe NAME: the drill's write probe on the controller, writing
  # through the DNS name (resolved on dns1 before every connection, no cache)
  # into the probe table; a line per write in $work/probe.log
  PGPASSWORD="$(cat "$secrets/patroni_app")" .venv/bin/python roles/dr/files/dr_write_probe.py \
    --dsn "port=5000 dbname=fulexo user=fulexo" --table dr_outage_probe --rate 20 --duration 3600 \
    --resolve "$name" --dns-server "$(address dns1)" --log "$work/probe.log" --output "$work/$1.json" \
    2>>"$work/probe.err" &
  probe_pid=$!
}
wait_acks() {  # wait_acks ADDRESS COUNT TRIES: until the probe has COUNT writes acknowledged
  # by ADDRESS, looking every 0.2 s at most TRIES times (the caller checks what it got)
  local n
  for _ in $(seq "$3"); do
    n=$(grep -c "^ack .* $1$" "$work/probe.log" 2>/dev/null)
    (( ${n:-0} >= $2 )) && return 0
    sleep 0.2
  done
  return 1
}
secrets_in() {  # secrets_in LOG: the names (never the values) of the lab secrets LOG holds
  local secret printed=""
  for secret in "$secrets"/*; do
    grep -qF -- "$(cat "$secret")" "$1" && printed+="$(basename "$secret") "
  done
  echo "$printed"
}
unchanged() {  # unchanged LOG: a play recap, and nothing changed on any host
  local recap
  recap="$(grep -E '^\S+ +: ok=' "$1")"
  [[ -n $recap ]] && ! grep -qv 'changed=0 ' <<<"$recap"
}
resolve() {  # resolve NAME: the A records the lab's DNS server gives
  .venv/bin/python - "$1" "$(address dns1)" <<'EOF'
import sys, dns.resolver
r = dns.resolver.Resolver(configure=False)
r.nameservers = [sys.argv[2]]
r.lifetime = 3
try:
    print(" ".join(sorted(a.address for a in r.resolve(sys.argv[1], "A", tcp=True))))
except Exception as exc:
    print("none (%s)" % exc.__class__.__name__)
EOF
}
finish() {
  exit $(( failures > 0 ))
}

lb_address=$(address lb1)
dr_address=$(address dr-pg1)
name=db.fulexo.lab
if [[ "$(resolve $name)" == "$lb_address" ]]; then
  say ok "$name points at the primary site's load balancer ($lb_address)"
else
  say FAIL "$name answers '$(resolve $name)', not lb1's address $lb_address: no DNS server set up by site.yml?"
  finish
fi
if [[ "$(dr_role)" != standby_leader ]]; then
  say FAIL "dr-pg1 is '$(dr_role)', not a standby leader: run tests/lab/dr-site.sh first"
  finish
fi

# A new probe table (the probe creates it through the name; the DR site gets it by WAL).
leader=$(leader)
if [[ -z $leader ]] || ! sql "$leader" "drop table if exists dr_outage_probe" >/dev/null; then
  say FAIL "cannot drop an old probe table on the primary's leader ('${leader:-none}')"
  finish
fi
start_probe outage
wait_acks "$lb_address" 30 100
acked_before=$(grep -c "^ack .* $lb_address$" "$work/probe.log")
if (( acked_before < 30 )); then
  say FAIL "the probe wrote only $acked_before rows through $name in 20 s; its errors:"
  grep '^err' "$work/probe.log" | tail -5; tail -5 "$work/probe.err"
  finish
fi
say ok "the probe writes through $name to the primary site ($acked_before rows acknowledged)"

# The outage: every host of the primary site loses its network at once.
for host in "${primary_site[@]}"; do
  old_address[$host]=$(address "$host")
done
cut_at=$(now)
for host in "${primary_site[@]}"; do
  docker network disconnect "$network" "$prefix-$host" && cut+=("$host")
done
say ok "cut ${cut[*]} off the network at $(date -u -d "@${cut_at%.*}" +%T)"

# Bad input first: nothing may change.
tsig_wrong="$(head -c 33 /dev/urandom | base64)"
read -r rc took < <(activate wrong-key -e "dr_activate_dns_tsig_secret=$tsig_wrong")
if [[ $rc -ne 0 ]] && logged "$work/wrong-key.log" "refused the key" \
    && [[ "$(dr_role)" == standby_leader && "$(resolve $name)" == "$lb_address" ]]; then
  say ok "a wrong TSIG key is refused in $took s: $(flat "$work/wrong-key.log" | grep -o "dns switch: [^\"']*refused the key [^(]*" | head -1)- dr-pg1 still a standby, $name unchanged"
else
  say FAIL "a wrong TSIG key: exit $rc, dr-pg1 $(dr_role), $name -> $(resolve $name); its end:"
  tail -n 25 "$work/wrong-key.log"
fi
read -r rc took < <(activate silent-dns -e dr_activate_dns_port=5399)
if [[ $rc -ne 0 ]] && logged "$work/silent-dns.log" "no answer from the DNS server" \
    && [[ "$(dr_role)" == standby_leader && "$(resolve $name)" == "$lb_address" ]]; then
  say ok "a DNS server that does not answer is refused in $took s, dr-pg1 still a standby, $name unchanged"
else
  say FAIL "a silent DNS server: exit $rc, dr-pg1 $(dr_role), $name -> $(resolve $name); its end:"
  tail -n 25 "$work/silent-dns.log"
fi

# A fail-back with nothing activated (the DR site a standby, the primary site gone) is refused.
read -r rc took < <(playbook failback-early playbooks/dr_failback.yml)
if [[ $rc -ne 0 ]] && logged "$work/failback-early.log" "dr_failback: refused, nothing changed:" \
    && [[ "$(dr_role)" == standby_leader && "$(resolve $name)" == "$lb_address" ]]; then
  say ok "dr_failback.yml before any activation is refused in $took s ($(flat "$work/failback-early.log" \
| grep -o "dr_failback: refused, nothing changed: [^\"'(]*" | head -1)), dr-pg1 still a standby, $name unchanged"
else
  say FAIL "dr_failback.yml before any activation: exit $rc, dr-pg1 $(dr_role), $name -> $(resolve $name); its end:"
  tail -n 25 "$work/failback-early.log"
fi

activation_at=$(now)
read -r rc took < <(activate activate)
report="$(flat "$work/activate.log" | grep -o "dr_activate: activated: [^\"']*" | head -1)"
if [[ $rc -eq 0 && -n $report ]]; then
  say ok "dr_activate.yml took $took s: $report"
else
  say FAIL "dr_activate.yml exited $rc after $took s without activating; its end:"
  tail -n 40 "$work/activate.log"
fi
flat "$work/activate.log" | grep -o "dr_activate: DR site [^\"']*" | head -1 | sed 's/^/     /'
if [[ "$(resolve $name)" == "$dr_address" ]]; then
  say ok "$name now points at the DR site ($dr_address)"
else
  say FAIL "$name answers '$(resolve $name)', not the DR site's $dr_address"
fi
wait_acks "$dr_address" 1 150
first_dr=$(grep -m1 "^ack .* $dr_address$" "$work/probe.log")
if [[ -n $first_dr ]]; then
  read -r _ _ first_dr_at _ <<<"$first_dr"
  # Let it write through the DR site for a while, then stop it.
  sleep 3
  say ok "writes through $name succeed on the DR site: RTO $(minus "$first_dr_at" "$cut_at") s from the cut \
(of it $(minus "$activation_at" "$cut_at") s for the three refused runs; $(minus "$first_dr_at" "$activation_at") s from the start of the activating run)"
else
  say FAIL "no write through $name was acknowledged by the DR site within 30 s of the activation; the probe's last lines:"
  tail -5 "$work/probe.log"
fi
stop_probe

# RPO: every acknowledged write must be on the DR site.
grep '^ack' "$work/probe.log" | awk '{print $2}' | sort >"$work/acked"
sql dr-pg1 "select id from dr_outage_probe" | sort >"$work/present"
lost=$(comm -23 "$work/acked" "$work/present" | wc -l)
acked=$(wc -l <"$work/acked")
last_before=$(grep "^ack .* $lb_address$" "$work/probe.log" | tail -1 | awk '{print $3}')
if (( acked > 0 && lost == 0 )); then
  say ok "RPO: 0 of $acked acknowledged writes lost (the last one the old site acknowledged, \
$(minus "$last_before" "$cut_at") s after the cut began, is on the DR site)"
else
  say FAIL "RPO: $lost of $acked acknowledged writes are missing on the DR site: $(comm -23 "$work/acked" "$work/present" | head -10 | tr '\n' ' ')"
fi

# The old site comes back, with its old addresses: it must take no writes.
for host in "${cut[@]}"; do
  reconnect "$host" || say FAIL "cannot reconnect $host"
  [[ "$(address "$host")" == "${old_address[$host]}" ]] \
    || say FAIL "$host came back as $(address "$host"), not ${old_address[$host]}: does the lab network have a lab_subnet?"
done
cut=()
sleep 15
fenced=""
for host in pg1 pg2 pg3; do
  state="$(docker exec "$prefix-$host" systemctl is-active patroni 2>/dev/null)/$(docker exec "$prefix-$host" systemctl is-enabled patroni 2>/dev/null)"
  postgres="$(docker exec "$prefix-$host" pgrep -c -x postgres 2>/dev/null || true)"
  fenced+="$host: patroni $state, ${postgres:-0} postgres processes; "
  # failed: Patroni was killed at the end of its stop timeout; stopped all the same.
  [[ $state =~ ^(inactive|failed)/disabled$ && ${postgres:-0} -eq 0 ]] \
    || say FAIL "$host is not fenced after it came back: patroni $state, ${postgres:-0} postgres processes"
done
if PGPASSWORD="$(cat "$secrets/patroni_app")" .venv/bin/python - "$(address lb1)" >/dev/null 2>"$work/old-write.err" <<'EOF'
import sys, psycopg
with psycopg.connect(host=sys.argv[1], port=5000, dbname="fulexo", user="fulexo", connect_timeout=3) as conn:
    conn.execute("insert into dr_outage_probe (id) values (-1)")
EOF
then
  say FAIL "the old primary site took a write through lb1 after it was reconnected"
else
  say ok "reconnected, the old primary site takes no write (${fenced}through lb1: $(grep -m1 -o 'OperationalError: .*' "$work/old-write.err" | cut -c1-100))"
fi

# At -vvv on stock Ansible (which prints each command with its environment,
# where Mitogen passes both by RPC): what the DNS key and the REST API
# password pass through is printed.
read -r rc took < <(ANSIBLE_STRATEGY=linear activate again -vvv)
printed="$(secrets_in "$work/again.log")"
if [[ -n $printed ]]; then
  say FAIL "the second dr_activate.yml run printed secrets at -vvv: $printed"
fi
if [[ $rc -eq 0 ]] && unchanged "$work/again.log" && logged "$work/again.log" "dr_activate: already active"; then
  say ok "a second dr_activate.yml run changed nothing ($took s; at -vvv, none of the $(find "$secrets" -type f | wc -l) lab secrets printed)"
else
  say FAIL "the second dr_activate.yml run exited $rc or changed something:"
  grep -E '^\S+ +: ok=' "$work/again.log" || echo "(no play recap)"
  tail -n 20 "$work/again.log"
fi

# Fail-back, with the probe writing through the name all along.
mv "$work/probe.log" "$work/probe-outage.log"
start_probe failback
wait_acks "$dr_address" 20 100
read -r rc took < <(playbook failback playbooks/dr_failback.yml)
report="$(flat "$work/failback.log" | grep -o "dr_failback: failed back: [^\"']*" | head -1)"
if [[ $rc -eq 0 && -n $report ]]; then
  say ok "dr_failback.yml took $took s: $report"
else
  say FAIL "dr_failback.yml exited $rc after $took s without failing back; its end:"
  tail -n 40 "$work/failback.log"
fi
backup="$(flat "$work/failback.log" | grep -o "backup done: base_[0-9A-F]*" | head -1)"
if [[ -n $backup ]]; then
  say ok "a full base backup on the new timeline (the DR site archived nothing): ${backup#backup done: }"
else
  say FAIL "dr_failback.yml took no full base backup after the switch back"
fi
if [[ "$(resolve $name)" == "$lb_address" ]]; then
  say ok "$name points at the primary site again ($lb_address)"
else
  say FAIL "$name answers '$(resolve $name)', not lb1's $lb_address"
fi
wait_acks "$lb_address" 1 150
sleep 2
stop_probe
back_leader=$(leader)
# The rebuilt site's etcd state was new: without the walg role's settings
# again it would take writes and archive none (no PITR, a backup without WAL).
archiving=$(sql "${back_leader:-pg1}" "select current_setting('archive_mode') || ' ' || (select archived_count from pg_stat_archiver)
  || ' ' || (select failed_count from pg_stat_archiver)" 2>/dev/null)
read -r archive_mode archived archive_failed <<<"$archiving"
if [[ $archive_mode == on ]] && (( ${archived:-0} > 0 && ${archive_failed:-1} == 0 )); then
  say ok "the primary site archives again after the fail-back ($archived files archived by $back_leader, none failed)"
else
  say FAIL "the primary site does not archive after the fail-back: archive_mode '${archive_mode:-?}', archived ${archived:-?}, failed ${archive_failed:-?}"
fi
read -r dr_role_now dr_state_now < <(dr_patroni)
if [[ -n $back_leader && $dr_role_now == standby_leader && $dr_state_now == streaming ]] \
    && grep -q "^ack .* $lb_address$" "$work/probe.log"; then
  # The longest the probe went without an acknowledged write during the fail-back.
  gap=$(awk '$1 == "ack" { if (last) { d = $3 - last; if (d > max) max = d } last = $3 } END { printf "%.1f", max }' "$work/probe.log")
  say ok "writes through $name succeed on the primary site ($back_leader leads); the DR site follows it again (streaming); \
the probe's longest wait for an acknowledged write during the fail-back: $gap s"
else
  say FAIL "after the fail-back: primary-site leader '${back_leader:-none}', dr-pg1 $dr_role_now/$dr_state_now, \
writes through lb1: $(grep -c "^ack .* $lb_address$" "$work/probe.log")"
fi
cat "$work/probe-outage.log" "$work/probe.log" | grep '^ack' | awk '{print $2}' | sort >"$work/acked"
sql "${back_leader:-pg1}" "select id from dr_outage_probe" | sort >"$work/present"
lost=$(comm -23 "$work/acked" "$work/present" | wc -l)
acked=$(wc -l <"$work/acked")
if (( acked > 0 && lost == 0 )); then
  say ok "nothing lost: all $acked writes acknowledged since the test began (through the outage, on the DR site, during the fail-back) are on the primary site"
else
  say FAIL "$lost of $acked acknowledged writes are missing on the primary site after the fail-back: $(comm -23 "$work/acked" "$work/present" | head -10 | tr '\n' ' ')"
fi
kept=""
for host in pg1 pg2 pg3; do
  kept+="$(docker exec "$prefix-$host" sh -c 'ls -d /var/lib/postgresql/*/*.fenced-* 2>/dev/null' | sort | tail -1 | sed "s|^|$host:|") "
done
if [[ $(wc -w <<<"$kept") -eq 3 ]]; then
  say ok "the old data directories are kept aside: $kept"
else
  say FAIL "not every old data directory was kept aside: '$kept'"
fi

# Not at -vvv: what it passes secrets through (the patroni role, the REST
# API, the DNS key, backup.yml) is searched at -vvv above and in
# secrets-in-output.sh, and a stock -vvv run of it costs minutes.
read -r rc took < <(playbook failback-again playbooks/dr_failback.yml)
if [[ $rc -eq 0 ]] && unchanged "$work/failback-again.log" && logged "$work/failback-again.log" "dr_failback: already failed back"; then
  say ok "a second dr_failback.yml run changed nothing ($took s)"
else
  say FAIL "the second dr_failback.yml run exited $rc or changed something:"
  grep -E '^\S+ +: ok=' "$work/failback-again.log" || echo "(no play recap)"
  tail -n 20 "$work/failback-again.log"
fi
finish
