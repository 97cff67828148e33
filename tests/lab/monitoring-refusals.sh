#!/usr/bin/env bash
# On the converged lab: monitoring refuses bad input in one line and keeps
# what works. A wrong MinIO metrics password is refused before it replaces
# the token Prometheus uses (the storage sites stay scraped), and
# health_report.yml says in one line that Prometheus does not answer when it
# is stopped (and passes again once it is back).
set -uo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo" || exit 1
playbook="$repo/.venv/bin/ansible-playbook"
log="$(mktemp)"
results="$(mktemp -d)"
trap 'rm -rf "$log" "$results"' EXIT
# health_report.yml's JSON goes there, not into the checkout.
export FULEXO_RESULTS_DIR="${FULEXO_RESULTS_DIR:-$results}"
failures=0

token_sum() { docker exec fulexo-lab-mon1 sha256sum /etc/prometheus/minio-metrics.token 2>/dev/null | cut -c1-64; }
minio_targets_up() {
  docker exec fulexo-lab-mon1 python3 -c 'import json, urllib.request
targets = json.load(urllib.request.urlopen("http://127.0.0.1:9090/api/v1/targets", timeout=5))["data"]["activeTargets"]
minio = [t for t in targets if t["labels"]["job"] == "minio"]
print(len(minio), len([t for t in minio if t["health"] == "up"]))'
}

before="$(token_sum)"
"$playbook" -i inventories/lab/hosts.yml playbooks/site.yml --limit monitoring \
  -e monitoring_minio_metrics_password=wrong-on-purpose >"$log" 2>&1
rc=$?
if [[ $rc -eq 0 ]] || ! grep -q "MinIO does not take the metrics token" "$log"; then
  echo "FAIL a wrong MinIO metrics password: exit $rc without the refusal; the end of its output:"
  tail -n 30 "$log"; failures=$((failures + 1))
elif [[ "$(token_sum)" != "$before" || -z $before ]]; then
  echo "FAIL a wrong MinIO metrics password: the token Prometheus uses was replaced"; failures=$((failures + 1))
else
  sleep 20  # a few scrapes
  read -r total up <<<"$(minio_targets_up)"
  if [[ $total -ne 3 || $up -ne 3 ]]; then
    echo "FAIL a wrong MinIO metrics password: $up of $total storage sites still scraped"; failures=$((failures + 1))
  else
    echo "ok   a wrong MinIO metrics password: refused, the working token kept, $up/$total sites scraped"
  fi
fi

docker exec fulexo-lab-mon1 systemctl stop prometheus
"$playbook" -i inventories/lab/hosts.yml playbooks/health_report.yml >"$log" 2>&1
rc=$?
docker exec fulexo-lab-mon1 systemctl start prometheus
if [[ $rc -eq 0 ]] || ! grep -q "Prometheus at http://127.0.0.1:9090 does not answer" "$log"; then
  echo "FAIL health_report with Prometheus down: exit $rc without saying so; the end of its output:"
  tail -n 30 "$log"; failures=$((failures + 1))
else
  echo "ok   health_report with Prometheus down: exit $rc, '$(grep -o 'Prometheus at [^(]*does not answer' "$log" | head -1)'"
fi
# Back up, it reports again (its first scrapes take a moment).
rc=1
for _ in $(seq 1 12); do
  sleep 5
  "$playbook" -i inventories/lab/hosts.yml playbooks/health_report.yml >"$log" 2>&1 && { rc=0; break; }
done
# Not critical is a pass (a lab with no restore test yet says DEGRADED).
if [[ $rc -eq 0 ]] && grep -q "DR posture: " "$log"; then
  echo "ok   health_report once Prometheus is back: $(grep -o 'DR posture: [A-Z]*' "$log" | head -n 1)"
else
  echo "FAIL health_report once Prometheus is back; the end of its output:"; tail -n 30 "$log"
  failures=$((failures + 1))
fi
exit $(( failures > 0 ))
