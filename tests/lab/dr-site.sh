#!/usr/bin/env bash
# playbooks/dr_site.yml on the converged lab, after the drill checks (#11).
# First with dr-pg1 unable to reach the primary site's load balancer (its
# replication connections rejected): it must be made from the offsite
# archive alone (WAL-G backup-fetch from minio3) and follow the primary site
# from the archive; a row written on the primary must reach it that way.
# Then the link is given back: it must stream, a row must reach it within
# 30 s, a second run must change nothing, and activating it must be refused
# while the primary site is healthy.
# Usage: dr-site.sh    (LAB_INVENTORY, LAB_PREFIX, LAB_NETWORK for another lab)
set -uo pipefail
# shellcheck source=tests/lab/dr-lib.sh
. "$(dirname "$0")/dr-lib.sh"
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  docker exec "$prefix-dr-pg1" nft delete table inet dr_site_test 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
run() {  # run NAME: dr_site.yml, its output in $work/NAME.log; prints its seconds
  local start rc
  start=$(date +%s)
  .venv/bin/ansible-playbook -i "$inventory" playbooks/dr_site.yml >"$work/$1.log" 2>&1
  rc=$?
  echo "$rc $(( $(date +%s) - start ))"
}
probe_row() {  # probe_row SECONDS [SWITCH]: write a row on the leader, wait for it on dr-pg1; prints seconds or nothing
  local token start host
  host=$(leader)
  [[ -n $host ]] || return 1
  token="dr-site-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
  sql "$host" "create table if not exists dr_site_probe (token text primary key, at timestamptz default now());
    insert into dr_site_probe (token) values ('$token')" >/dev/null || return 1
  # The archive only gets a segment once it is full or switched.
  [[ ${2:-} == switch ]] && sql "$host" "select pg_switch_wal()" >/dev/null
  start=$(date +%s)
  for _ in $(seq "$1"); do
    [[ "$(sql dr-pg1 "select token from dr_site_probe where token = '$token'" 2>/dev/null)" == "$token" ]] \
      && echo $(( $(date +%s) - start )) && return 0
    sleep 1
  done
  return 1
}

# `make drill` made the DR site and its data-centre outage step used it
# (activated, failed back): the case here is a DR site made from the offsite
# archive alone, so what the drill left goes first (Patroni stopped, the
# database removed from the DR site's etcd and from disk).
if ! docker exec "$prefix-dr-pg1" bash -ec '
    systemctl stop patroni
    for data in /var/lib/postgresql/*/fulexo-dr; do
      [ -d "$data" ] || continue
      printf "fulexo-dr\nYes I am aware\n" | /opt/patroni/bin/patronictl -c /etc/patroni/patroni.yml remove fulexo-dr >/dev/null
      rm -rf "$data"
    done' >"$work/reset.log" 2>&1; then
  say FAIL "cannot take the drill's DR site away to make it again from the archive:"
  tail -n 5 "$work/reset.log"
  exit 1
fi

# The primary site is out of reach for replication: only the archive is left.
lb=$(address lb1)
if ! docker exec -i "$prefix-dr-pg1" nft -f - <<EOF
table inet dr_site_test {
  chain output {
    type filter hook output priority 0;
    ip daddr $lb tcp dport { 5000, 5002 } reject with tcp reset
  }
}
EOF
then
  say FAIL "cannot block dr-pg1's replication connections to lb1"
  exit 1
fi
read -r rc took < <(run archive)
if [[ $rc -eq 0 ]] && logged "$work/archive.log" "dr-pg1 (standby_leader, WAL from archive)" \
    && docker exec "$prefix-dr-pg1" journalctl -u patroni --no-pager >"$work/journal" \
    && grep -q "replica has been created using walg" "$work/journal"; then
  say ok "with no link to the primary site, dr_site.yml made dr-pg1 from the offsite archive alone in ${took} s (WAL-G backup-fetch; a standby leader replaying the archive)"
else
  say FAIL "dr_site.yml exited $rc after ${took} s; dr-pg1 was not made from the archive, or does not replay it; its end:"
  tail -n 40 "$work/archive.log"
  docker exec "$prefix-dr-pg1" journalctl -u patroni --no-pager | grep -E "replica|walg|ERROR|FATAL" | tail -n 10
fi
if logged "$work/archive.log" "activation now: refuse (the primary site is healthy"; then
  say ok "activating the DR site is refused while the primary site is healthy"
else
  say FAIL "the activation verdict did not refuse a healthy primary site"
fi
if took=$(probe_row 120 switch); then
  say ok "a row written on the primary's leader reached dr-pg1 through the offsite archive in ${took} s (WAL segment switched, pushed to minio1, replicated to minio3, fetched)"
else
  say FAIL "a row written on the primary's leader did not reach dr-pg1 through the archive within 120 s ($(dr_patroni))"
fi

# The link is back: the standby leader streams again.
docker exec "$prefix-dr-pg1" nft delete table inet dr_site_test
state=""
for _ in $(seq 60); do
  state=$(dr_patroni)
  [[ $state == "standby_leader streaming" ]] && break
  sleep 1
done
if [[ $state == "standby_leader streaming" ]]; then
  say ok "once the link is back, dr-pg1 streams from the primary site"
else
  say FAIL "dr-pg1 is '$state' 60 s after the link came back, not a streaming standby leader"
fi
if took=$(probe_row 30); then
  say ok "a row written on the primary's leader is on dr-pg1 by streaming ${took} s later"
else
  say FAIL "a row written on the primary's leader did not reach dr-pg1 within 30 s"
fi

read -r rc took < <(run second)
recap="$(grep -E '^\S+ +: ok=' "$work/second.log")"
if [[ $rc -eq 0 && -n $recap ]] && ! grep -qv 'changed=0 ' <<<"$recap" \
    && logged "$work/second.log" "dr-pg1 (standby_leader, WAL from streaming)"; then
  say ok "a second dr_site.yml run changed nothing and reports dr-pg1 streaming (${took} s)"
else
  say FAIL "the second dr_site.yml run exited $rc, changed something or does not report streaming:"
  printf '%s\n' "${recap:-(no play recap)}"
fi
exit $(( failures > 0 ))
