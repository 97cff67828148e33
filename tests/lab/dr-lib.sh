# shellcheck shell=bash
# Shared by tests/lab/dr-site.sh and dr-outage.sh (sourced): which lab they
# run on (LAB_INVENTORY, LAB_PREFIX, LAB_NETWORK, for a second lab beside the
# main one), their verdict lines and how they read the lab. Each script sets
# its own EXIT trap, which must remove $work.
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo" || exit 1
# shellcheck disable=SC2034  # read by the scripts that source this file
inventory=${LAB_INVENTORY:-inventories/lab/hosts.yml}
prefix=${LAB_PREFIX:-fulexo-lab}
network=${LAB_NETWORK:-fulexo-lab}
# shellcheck disable=SC2034  # as inventory
work="$(mktemp -d)"
failures=0
say() { printf '%-4s %s\n' "$1" "$2"; [[ $1 == ok ]] || failures=$((failures + 1)); }
flat() {  # the log on one line: Ansible folds long messages
  tr -s ' \n' ' ' <"$1"
}
logged() {  # logged LOG TEXT: is TEXT in the unfolded log? (no pipe into grep -q: under
  # pipefail the writer, cut off when grep has found it, would fail the test)
  flat "$1" >"$1.flat"
  grep -qF -- "$2" "$1.flat"
}
sql() {  # sql HOST STATEMENT: the values back
  docker exec "$prefix-$1" su postgres -c "psql -XAtq -v ON_ERROR_STOP=1 -d fulexo -c \"$2\""
}
address() { docker inspect -f "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$prefix-$1"; }
leader() {  # the primary site's writable member, if any
  local host
  for host in pg1 pg2 pg3; do
    [[ "$(sql "$host" "select pg_is_in_recovery()" 2>/dev/null)" == f ]] && echo "$host" && return
  done
}
dr_patroni() {  # "ROLE REPLICATION_STATE" as dr-pg1's Patroni reports them (spaces as _)
  .venv/bin/python -c 'import json, sys, urllib.request
answer = json.load(urllib.request.urlopen("http://%s:8008/patroni" % sys.argv[1], timeout=3))
print(answer.get("role", "none"), answer.get("replication_state", "none").replace(" ", "_"))' \
    "$(address dr-pg1)" 2>/dev/null || echo "none none"
}
dr_role() {
  local role
  read -r role _ < <(dr_patroni)
  echo "$role"
}
