#!/usr/bin/env bash
# After the drill passed on the lab: the drill must refuse, exit non-zero and
# break nothing when the estate is not whole or is production unconfirmed.
# Each case names what it expects in the refusal line; the Patroni leader
# and the etcd leader must be where they were.
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo" || exit 1
playbook="$repo/.venv/bin/ansible-playbook"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failures=0

ip_of() {
  docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "fulexo-lab-$1"
}

# The Patroni leader, as a list, from pg1's REST API (GET needs no credentials).
patroni_leader() {
  python3 -c 'import json, sys, urllib.request
cluster = json.load(urllib.request.urlopen("http://%s:8008/cluster" % sys.argv[1], timeout=5))
print([m["name"] for m in cluster["members"] if m["role"] == "leader"])' "$(ip_of pg1)" 2>/dev/null
}

leaders() {
  # "patroni:<leader> etcd:<leader id>", read from the lab containers.
  local pg etcd
  pg="$(patroni_leader)"
  etcd="$(docker exec fulexo-lab-pg1 bash -lc 'etcdctl endpoint status --cluster -w json' 2>/dev/null \
    | python3 -c 'import json,sys; print(sorted({s["Status"]["leader"] for s in json.load(sys.stdin)}))')"
  echo "patroni:$pg etcd:$etcd"
}

expect_refusal() {
  local name=$1 says=$2; shift 2
  local before after rc
  before="$(leaders)"
  "$playbook" -i inventories/lab/hosts.yml dr-drill.yml "$@" >"$log" 2>&1
  rc=$?
  after="$(leaders)"
  if [[ $rc -eq 0 ]]; then
    echo "FAIL $name: the drill exited 0"; failures=$((failures + 1))
  elif ! grep -q "the estate is not whole, so nothing was broken" "$log" || ! grep -qF -- "$says" "$log"; then
    echo "FAIL $name: exit $rc without the refusal naming '$says'; the end of its output:"
    tail -n 30 "$log"; failures=$((failures + 1))
  elif grep -q "TASK \[Crash etcd on the leader\]\|TASK \[Crash Patroni" "$log"; then
    echo "FAIL $name: refused, but only after breaking something"; failures=$((failures + 1))
  elif [[ $before != "$after" || $before != *"['"* ]]; then
    echo "FAIL $name: leaders before ($before) and after ($after) differ or were not read"; failures=$((failures + 1))
  else
    echo "ok   $name: exit $rc, refused with '$says', leaders unchanged ($after)"
  fi
}

expect_refusal "production without confirmation" "dr_drill_production_confirmed=true" -e dr_estate=production

docker exec fulexo-lab-minio3 systemctl stop minio
expect_refusal "offsite storage down" "site(s) offsite do not answer"
docker exec fulexo-lab-minio3 systemctl start minio

# The storage step's bucket is not on the sites (dr_drill_storage_bucket wrong,
# or the estate never listed it in minio_buckets).
expect_refusal "drill bucket missing" "cannot list versions of fulexo-no-such-bucket" \
  -e dr_drill_storage_bucket=fulexo-no-such-bucket

# A member that leads neither etcd nor Patroni, so stopping it moves no leader.
bystander="$(docker exec fulexo-lab-pg1 bash -lc 'etcdctl endpoint status --cluster -w json' 2>/dev/null | python3 -c '
import json, subprocess, sys
status = json.load(sys.stdin)
etcd_leader = [s["Endpoint"] for s in status if s["Status"]["header"]["member_id"] == s["Status"]["leader"]]
pg_leader = sys.argv[1]
for name in ("pg1", "pg2", "pg3"):
    ip = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                         "fulexo-lab-" + name], capture_output=True, text=True, check=True).stdout.strip()
    if name not in pg_leader and not any("//%s:" % ip in e for e in etcd_leader):
        print(name)
        break
' "$(patroni_leader)")"
if [[ -z $bystander ]]; then
  echo "FAIL an etcd member down: found no member that leads neither etcd nor Patroni"; failures=$((failures + 1))
else
  docker exec "fulexo-lab-$bystander" systemctl stop etcd
  expect_refusal "an etcd member down ($bystander)" "etcd primary site: 2/3 members healthy (down: $bystander)"
  docker exec "fulexo-lab-$bystander" systemctl start etcd
fi

# A recovery held back past its objective: the database step alone, with a
# 1 s switchover objective the ~20 s failover cannot meet. The report must
# say the step failed on that check, with the number, and the run exit non-zero.
results="$(mktemp -d)"
FULEXO_RESULTS_DIR="$results" "$playbook" -i inventories/lab/hosts.yml dr-drill.yml --tags database \
  -e dr_drill_profile=quarterly -e dr_switchover_timeout=1 >"$log" 2>&1
rc=$?
verdict="$(python3 - "$results" <<'PY'
import glob, json, sys
reports = sorted(glob.glob(sys.argv[1] + "/dr-drill-*Z.json"))
if not reports:
    print("no report written")
    sys.exit()
steps = {s["name"]: s for s in json.load(open(reports[-1]))["steps"]}
step = steps.get("database primary crash (Patroni failover)")
if step is None:
    print("no database step in the report")
    sys.exit()
missed = [v for v in step["verdicts"] if v["result"] == "missed" and v.get("recovery")]
print("%s %s" % (step["status"], " ".join("%s=%s%s" % (v["name"].split(" (")[0].replace(" ", "_"), v["measured"], v["unit"])
                                        for v in missed) or "nothing-missed"))
PY
)"
rm -rf "$results"
if [[ $rc -ne 0 && $verdict == failed\ writes_acknowledged_again=* ]]; then
  echo "ok   recovery held back past its objective: exit $rc, report says $verdict"
else
  echo "FAIL recovery held back past its objective: exit $rc, report says '$verdict'; the end of its output:"
  tail -n 30 "$log"; failures=$((failures + 1))
fi

echo "drill refusals: $failures failed"
[[ $failures -eq 0 ]]
