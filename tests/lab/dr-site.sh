#!/usr/bin/env bash
# playbooks/dr_site.yml on the converged lab, after the drill checks (#11):
# dr-pg1 must become the standby leader of the DR site's own cluster,
# streaming from the primary site; a row written on the primary's leader must
# reach it; a second run must change nothing; and activating it must be
# refused while the primary site is healthy.
# Usage: dr-site.sh
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo" || exit 1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failures=0
say() { printf '%-4s %s\n' "$1" "$2"; [[ $1 == ok ]] || failures=$((failures + 1)); }
run() {  # run NAME: dr_site.yml, its output in $work/NAME.log; prints its seconds
  local start rc
  start=$(date +%s)
  .venv/bin/ansible-playbook -i inventories/lab/hosts.yml playbooks/dr_site.yml >"$work/$1.log" 2>&1
  rc=$?
  echo "$rc $(( $(date +%s) - start ))"
}
flat() {  # the log on one line: Ansible folds long messages
  tr -s ' \n' ' ' <"$1"
}
sql() {  # sql CONTAINER STATEMENT: the values back
  docker exec "$1" su postgres -c "psql -XAtq -v ON_ERROR_STOP=1 -d fulexo -c \"$2\""
}

read -r rc took < <(run first)
if [[ $rc -eq 0 ]] && flat "$work/first.log" | grep -q "dr-pg1 (standby_leader, WAL from streaming)"; then
  say ok "dr_site.yml made dr-pg1 a streaming standby leader in ${took} s"
else
  say FAIL "dr_site.yml exited $rc after ${took} s, or dr-pg1 is not a streaming standby leader; its end:"
  tail -n 40 "$work/first.log"
fi
if flat "$work/first.log" | grep -q "activation now: refuse (the primary site is healthy"; then
  say ok "activating the DR site is refused while the primary site is healthy"
else
  say FAIL "the activation verdict did not refuse a healthy primary site"
fi

leader=""
for host in pg1 pg2 pg3; do
  [[ "$(sql "fulexo-lab-$host" "select pg_is_in_recovery()" 2>/dev/null)" == f ]] && leader=$host
done
token="dr-site-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
if [[ -n $leader ]] && sql "fulexo-lab-$leader" \
    "create table if not exists dr_site_probe (token text primary key, at timestamptz default now()); insert into dr_site_probe (token) values ('$token')" >/dev/null; then
  seen=""
  for _ in $(seq 30); do
    seen="$(sql fulexo-lab-dr-pg1 "select token from dr_site_probe where token = '$token'" 2>/dev/null)"
    [[ $seen == "$token" ]] && break
    sleep 1
  done
  if [[ $seen == "$token" ]]; then
    say ok "a row written on the primary's leader ($leader) is on dr-pg1"
  else
    say FAIL "a row written on $leader did not reach dr-pg1 within 30 s"
  fi
else
  say FAIL "no writable leader on pg1-pg3 to write the probe row on (leader: '${leader:-none}')"
fi

read -r rc took < <(run second)
recap="$(grep -E '^\S+ +: ok=' "$work/second.log")"
if [[ $rc -eq 0 && -n $recap ]] && ! grep -qv 'changed=0 ' <<<"$recap"; then
  say ok "a second dr_site.yml run changed nothing (${took} s)"
else
  say FAIL "the second dr_site.yml run exited $rc or changed something:"
  printf '%s\n' "${recap:-(no play recap)}"
fi
exit $(( failures > 0 ))
