#!/usr/bin/env bash
# incident_breach.yml on the converged lab (#14, the plan's §4 scenario 4).
# Bad input first: no place for the new secrets, and a directory others can
# read, must refuse with nothing changed. Then sessions are opened with the
# current credentials (a PostgreSQL session through the load balancer, a
# Redis connection as the application user) and the lab's users keep placing
# and reading orders while the real run blocks a suspected address, seals the
# evidence and rotates every credential. After it:
#   - every old credential is refused and every new one works, asked by this
#     script directly (psql, redis-cli, mc, curl, nsupdate, a TLS client with
#     etcd member certificates), not through the collection's module;
#   - both etcd clusters have a new CA, the member certificates from before
#     are refused on the client and peer ports, and Patroni kept its leader;
#   - the sessions opened before are gone;
#   - the estate still works with the new ones: the Patroni cluster and the
#     DR site stream, a new WAL segment is archived and reaches the offsite
#     site, the application answers;
#   - the report holds the GDPR clock and the evidence bundle, whose sums check;
#   - no old or new secret is in the run's -vvv output or its results;
#   - a second run with breach_rotate=false changes nothing.
# Prints the run's timeline and what the users saw.
# Usage: breach.sh RESULTS_DIR
set -uo pipefail
# shellcheck source=tests/lab/dr-lib.sh
source "$(dirname "$0")/dr-lib.sh"
results=${1:?usage: breach.sh RESULTS_DIR}
python="$repo/.venv/bin/python"
secrets_dir="${FULEXO_CACHE:-/var/cache/fulexo-dr}/secrets"
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  rm -rf "$work"
  docker exec "$prefix-pg2" pkill -f breach-test-session >/dev/null 2>&1
  docker exec "$prefix-redis2" pkill -f breach-test-session >/dev/null 2>&1
  local member
  for member in pg1 pg2 pg3 dr-pg1; do docker exec "$prefix-$member" rm -rf /root/breach-test-etcd >/dev/null 2>&1; done
}
trap cleanup EXIT
playbook=(.venv/bin/ansible-playbook -i "$inventory" playbooks/incident_breach.yml -e "dr_results_dir=$results")
blocked=203.0.113.77   # TEST-NET-3: blocked, never sent to
secret() { cat "$1/$2"; }
newest_result() {  # names carry the start time, so the last in order is the newest
  find "$results" -maxdepth 1 -name 'incident-breach-*.json' | sort | tail -n 1
}
changed_total() { awk '/ : ok=/ { for (i = 1; i <= NF; i++) if ($i ~ /^changed=/) { split($i, a, "="); n += a[2] } } END { print n + 0 }' "$1"; }
dir_sum() { (cd "$secrets_dir" && find . -maxdepth 1 -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum); }

# A rotation an earlier run left unfinished belongs to a lab that is gone
# (every run builds its lab from the secrets directory as it is).
if [[ -d "$secrets_dir/.rotation" ]]; then
  echo "     removing $secrets_dir/.rotation, left by an earlier run"
  rm -rf "$secrets_dir/.rotation"
fi

# --- Bad input: nothing may change.
before=$(dir_sum)
"${playbook[@]}" >"$work/no-dir.log" 2>&1; rc=$?
if [[ $rc -ne 0 ]] && logged "$work/no-dir.log" "say where the new secrets go: breach_secrets_dir" \
    && [[ "$(dir_sum)" == "$before" ]] && [[ "$("$python" -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$(newest_result)")" == refused ]]; then
  say ok "without breach_secrets_dir: refused (exit $rc) in one line, report 'refused', no secret changed"
else
  say FAIL "without breach_secrets_dir: exit $rc, or no clear line, or secrets changed"; tail -n 15 "$work/no-dir.log"
fi
mkdir -p "$work/open" && chmod 0755 "$work/open" && cp "$secrets_dir"/* "$work/open/"
"${playbook[@]}" -e "breach_secrets_dir=$work/open" >"$work/open.log" 2>&1; rc=$?
if [[ $rc -ne 0 ]] && logged "$work/open.log" "has mode 0755: others could read the new secrets" \
    && [[ "$(dir_sum)" == "$before" ]] && [[ ! -e "$work/open/.rotation" ]] \
    && cmp -s "$work/open/patroni_app" "$secrets_dir/patroni_app"; then
  say ok "a secrets directory others can read: refused (exit $rc), nothing written"
else
  say FAIL "a secrets directory others can read: exit $rc, or something was written"; tail -n 15 "$work/open.log"
fi

# --- The credentials as they are, and sessions opened with them.
cp -a "$secrets_dir" "$work/old"
lb=$(address lb1); redis1=$(address redis1)
docker exec -d -e PGPASSWORD="$(secret "$work/old" patroni_app)" "$prefix-pg2" psql \
  "host=$lb port=5000 dbname=fulexo user=fulexo application_name=breach-test-session" -XAtqc "SELECT pg_sleep(900)"
docker exec -d "$prefix-redis2" python3 -c '
import socket, sys, time  # breach-test-session
conn = socket.create_connection((sys.argv[1], 6379))
conn.sendall(("AUTH app %s\r\nCLIENT SETNAME breach-test-session\r\n" % sys.argv[2]).encode())
time.sleep(900)' "$redis1" "$(secret "$work/old" redis_app_password)"
lead=$(leader)
pg_sessions() { sql "$lead" "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'breach-test-session'"; }
redis_sessions() {
  printf 'AUTH %s\nCLIENT LIST\n' "$(secret "$secrets_dir" redis_cluster_password)" \
    | docker exec -i "$prefix-redis1" redis-cli -h 127.0.0.1 | grep -c 'name=breach-test-session'
}
for _ in $(seq 1 20); do [[ "$(pg_sessions)" == 1 && "$(redis_sessions)" == 1 ]] && break; sleep 0.5; done
if [[ "$(pg_sessions)" == 1 && "$(redis_sessions)" == 1 ]]; then
  say ok "sessions opened with the current credentials: 1 PostgreSQL (through lb1), 1 Redis (user app)"
else
  say FAIL "could not open the sessions to revoke (PostgreSQL $(pg_sessions), Redis $(redis_sessions))"
fi

# Each etcd cluster's member certificates and CA as they are (a copy in the
# container, as an intruder would have taken it).
etcd_members=(pg1 pg2 pg3 dr-pg1)
for member in "${etcd_members[@]}"; do
  docker exec "$prefix-$member" sh -c 'rm -rf /root/breach-test-etcd && mkdir -m 0700 /root/breach-test-etcd &&
    cp /etc/etcd/pki/member.crt /etc/etcd/pki/member.key /etc/etcd/pki/ca.crt /root/breach-test-etcd/'
done
leader_before=$(leader)

# --- The real run, under the users' load, at -vvv for the secrets search.
docker cp lab/app/load.py "$prefix-web1:/root/load.py" >/dev/null
docker exec "$prefix-web1" python3 /root/load.py http://127.0.0.1:80 240 --threads 2 --write-every 0.5 >"$work/load.json" 2>&1 &
load_pid=$!
detected=$(date -u +%Y-%m-%dT%H:%M:%S+00:00)
start=$(date +%s)
"${playbook[@]}" -vvv -e "breach_secrets_dir=$secrets_dir" -e "breach_detected_at=$detected" \
  -e "{\"breach_source_addresses\": [\"$blocked\"]}" >"$work/run.log" 2>&1; rc=$?
# What failed, if anything did (the -vvv log itself goes with $work).
grep -E -B 4 -A 12 '^(fatal|failed):' "$work/run.log" | cut -c1-300 | head -n 60 >"$work/run.failed"
took=$(( $(date +%s) - start ))
result=$(newest_result)
if [[ $rc -eq 0 ]] && "$python" - "$result" "$detected" >"$work/verdict" <<'EOF'
import datetime, json, sys
r = json.load(open(sys.argv[1]))
detected = datetime.datetime.fromisoformat(sys.argv[2])
due = datetime.datetime.fromisoformat(r["gdpr"]["notification_due_at"].replace("Z", "+00:00"))
checks = r.get("verification", [])
bad = [c["summary"] for c in checks if not c["ok"]]
secrets = {c["credential"] for c in checks if c["kind"] != "tls_client"}
etcd = [c for c in checks if c["kind"] == "tls_client"]
print("status %s; %d checks (%d credentials, %d etcd member certificate ports on %d members), %s; not checkable: %s;"
      " GDPR notice due %s (%s h after detection, %s h left); sessions revoked: PostgreSQL %s, Redis %s; timeline: %s" % (
          r["status"], len(checks), len(secrets), len(etcd), len({c["host"] for c in etcd}),
          "all old refused, all new accepted" if not bad
          else "FAILED: " + "; ".join(bad), ", ".join(r.get("not_checked", [])) or "none", r["gdpr"]["notification_due_at"],
          (due - detected).total_seconds() / 3600, r["gdpr"]["hours_left"], r["sessions_revoked"]["postgres"],
          r["sessions_revoked"]["redis"], ", ".join("%s %s" % (t["step"], t["at"][11:19]) for t in r["timeline"])))
sys.exit(0 if r["status"] == "done" and checks and not bad and (due - detected).total_seconds() == 72 * 3600
         and len(r.get("rotated", [])) >= len(secrets) and len(etcd) == 8 else 1)
EOF
then
  say ok "incident_breach.yml rotated every credential in ${took} s: $(cat "$work/verdict")"
else
  say FAIL "incident_breach.yml: exit $rc after ${took} s: $(cat "$work/verdict" 2>/dev/null)"
  cat "$work/run.failed"; tail -n 30 "$work/run.log"
fi
wait "$load_pid"
"$python" - "$work/load.json" "$start" <<'EOF' >"$work/users"
import json, sys
s = json.load(open(sys.argv[1]))
failures = sorted(f["epoch"] for kind in ("read", "write") for f in s[kind]["failures"])
span = (failures[-1] - failures[0]) if failures else 0
print("reads %d (failed %d), writes %d (failed %d); failures from %+.0f s to %+.0f s of the run (%.0f s)" % (
    s["read"]["total"], s["read"]["failed"], s["write"]["total"], s["write"]["failed"],
    (failures[0] - float(sys.argv[2])) if failures else 0, (failures[-1] - float(sys.argv[2])) if failures else 0, span))
EOF
echo "     users during the run (load.py through web1): $(cat "$work/users")"

# --- Old refused, new accepted, asked directly.
verdicts=()
expect() {  # expect NAME OLD_RESULT NEW_RESULT: each must be "refused" / "accepted"
  if [[ $2 == refused && $3 == accepted ]]; then verdicts+=("$1"); else say FAIL "$1: old $2, new $3"; fi
}
pg_login() {
  if docker exec -e PGPASSWORD="$1" "$prefix-pg2" psql "host=$lb port=5000 dbname=fulexo user=fulexo connect_timeout=5" \
      -XAtqc "SELECT 1" >"$work/pg.out" 2>&1; then echo accepted
  elif grep -q "password authentication failed" "$work/pg.out"; then echo refused; else echo "error: $(tail -n 1 "$work/pg.out")"; fi
}
expect "PostgreSQL application login through lb1" "$(pg_login "$(secret "$work/old" patroni_app)")" \
  "$(pg_login "$(secret "$secrets_dir" patroni_app)")"
redis_auth() {  # redis_auth USER PASSWORD
  case "$(printf 'AUTH %s %s\nPING\n' "$1" "$2" | docker exec -i "$prefix-redis3" redis-cli -h "$redis1")" in
    *PONG*) echo accepted ;; *WRONGPASS*) echo refused ;; *) echo error ;;
  esac
}
expect "Redis default user" "$(redis_auth default "$(secret "$work/old" redis_cluster_password)")" \
  "$(redis_auth default "$(secret "$secrets_dir" redis_cluster_password)")"
expect "Redis user app" "$(redis_auth app "$(secret "$work/old" redis_app_password)")" \
  "$(redis_auth app "$(secret "$secrets_dir" redis_app_password)")"
root_user=$(sed -n 's/^minio_root_user: *//p' inventories/lab/group_vars/minio/minio.yml)
minio_root() {
  if docker exec -e "MC_HOST_t=http://$root_user:$1@127.0.0.1:9000" "$prefix-minio2" /usr/local/bin/mc admin info t \
      >"$work/mc.out" 2>&1; then echo accepted
  elif grep -qE "Access Key Id you provided does not exist|signature we calculated does not match" "$work/mc.out"; then echo refused
  else echo "error: $(tail -n 1 "$work/mc.out")"; fi
}
expect "MinIO root (secondary site)" "$(minio_root "$(secret "$work/old" minio_root_password)")" \
  "$(minio_root "$(secret "$secrets_dir" minio_root_password)")"
http_code() { curl -s -o /dev/null -m 5 -w '%{http_code}' -u "$1" "${@:2}"; }
as_result() { case $1 in 401) echo refused ;; 2??) echo accepted ;; *) echo "error: HTTP $1" ;; esac; }
pg1=$(address pg1)
expect "Patroni REST API (pg1)" "$(as_result "$(http_code "patroni:$(secret "$work/old" patroni_restapi)" -X POST "http://$pg1:8008/reload")")" \
  "$(as_result "$(http_code "patroni:$(secret "$secrets_dir" patroni_restapi)" -X POST "http://$pg1:8008/reload")")"
expect "HAProxy statistics (lb1)" "$(as_result "$(http_code "admin:$(secret "$work/old" haproxy_stats)" "http://$lb:7000/")")" \
  "$(as_result "$(http_code "admin:$(secret "$secrets_dir" haproxy_stats)" "http://$lb:7000/")")"
tsig() {
  printf 'key "fulexo-dr-update" { algorithm hmac-sha256; secret "%s"; };\n' "$1" \
    | docker exec -i "$prefix-dns1" sh -c 'umask 077; cat > /tmp/breach-test.key'
  if printf 'server 127.0.0.1\nzone fulexo.lab\nprereq yxdomain fulexo.lab.\nsend\n' \
      | docker exec -i "$prefix-dns1" nsupdate -k /tmp/breach-test.key >"$work/ns.out" 2>&1; then echo accepted
  elif grep -qE "BADSIG|BADKEY|tsig verify failure" "$work/ns.out"; then echo refused; else echo "error: $(tail -n 1 "$work/ns.out")"; fi
  docker exec "$prefix-dns1" rm -f /tmp/breach-test.key
}
expect "DNS update key (TSIG)" "$(tsig "$(secret "$work/old" dns_tsig_secret)")" "$(tsig "$(secret "$secrets_dir" dns_tsig_secret)")"
# etcd: a TLS client (Python's ssl, in the member's container) with the old
# and with the current member certificate, to the member's client and peer
# port; the server's certificate checked against the CA the member now uses.
tls_ask() {  # tls_ask MEMBER PORT CERT_DIR: accepted / refused / error: ...
  docker exec -i "$prefix-$1" python3 - "$(address "$1")" "$2" "$3" <<'EOF'
import socket, ssl, sys
host, port, certs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = ssl.create_default_context(cafile="/etc/etcd/pki/ca.crt")
context.load_cert_chain(certs + "/member.crt", certs + "/member.key")
# TLS 1.2: the server refuses a certificate inside the handshake (with 1.3 the
# alert can be lost to a reset when the server closes on the unread request).
context.maximum_version = ssl.TLSVersion.TLSv1_2
try:
    with context.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname=host) as conn:
        conn.sendall(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        print("accepted" if conn.recv(16).startswith(b"HTTP/") else "error: no answer")
except ssl.SSLCertVerificationError as exc:
    print("error: server certificate: %s" % exc.verify_message)
except ssl.SSLError as exc:
    print("refused" if "alert" in str(exc).lower() else "error: %s" % exc)
except OSError as exc:
    print("error: %s" % exc)
EOF
}
for member in "${etcd_members[@]}"; do
  for port in 2379 2380; do
    expect "etcd $member:$port member certificate" "$(tls_ask "$member" "$port" /root/breach-test-etcd)" \
      "$(tls_ask "$member" "$port" /etc/etcd/pki)"
  done
done
if [[ ${#verdicts[@]} -eq $((7 + 2 * ${#etcd_members[@]})) ]]; then
  say ok "asked directly, each old credential refused and each new one accepted: $(printf '%s; ' "${verdicts[@]}")"
fi
ca_names() {  # ca_names MEMBER: key ids of the CA it trusted before, of the one now, of its certificate's issuer; retired/ kept or removed
  docker exec "$prefix-$1" python3 -c '
import os
from cryptography import x509
# The last certificate of a file (a trust file may hold two); Debian 12'"'"'s
# cryptography has no load_pem_x509_certificates.
last = lambda p: b"-----BEGIN CERTIFICATE-----" + open(p, "rb").read().split(b"-----BEGIN CERTIFICATE-----")[-1]
name = lambda p: x509.load_pem_x509_certificate(last(p)).extensions.get_extension_for_class(
    x509.SubjectKeyIdentifier).value.digest.hex()[:16]
issuer = x509.load_pem_x509_certificate(open("/etc/etcd/pki/member.crt", "rb").read()).extensions.get_extension_for_class(
    x509.AuthorityKeyIdentifier).value.key_identifier.hex()[:16]
print("%s|%s|%s|%s" % (name("/root/breach-test-etcd/ca.crt"), name("/etc/etcd/pki/ca.crt"), issuer,
      "kept" if os.path.exists("/etc/etcd/pki/retired") else "removed"))'
}
etcd_bad=() etcd_shown=()
for member in "${etcd_members[@]}"; do
  IFS='|' read -r ca_then ca_now issuer retired < <(ca_names "$member")
  if [[ -n $ca_now && $ca_now != "$ca_then" && $issuer == "$ca_now" && $retired == removed ]]; then
    etcd_shown+=("$member: CA $ca_then -> $ca_now")
  else
    etcd_bad+=("$member: CA key id before '$ca_then', now '$ca_now', certificate's issuer '$issuer', replaced pair $retired")
  fi
done
leader_after=$(leader)
if [[ ${#etcd_bad[@]} -eq 0 && -n $leader_before && $leader_after == "$leader_before" ]]; then
  say ok "etcd: every member's certificate from a new CA, the replaced pairs removed once shown refused ($(printf '%s; ' "${etcd_shown[@]}")); Patroni's leader $leader_before kept through the rolling restarts"
else
  say FAIL "etcd: $(printf '%s; ' "${etcd_bad[@]}") Patroni leader before '$leader_before', after '$leader_after'"
fi

# --- The sessions opened before are gone.
if [[ "$(pg_sessions)" == 0 && "$(redis_sessions)" == 0 ]]; then
  say ok "the sessions opened with the old credentials were ended (PostgreSQL and Redis)"
else
  say FAIL "sessions opened with the old credentials still there: PostgreSQL $(pg_sessions), Redis $(redis_sessions)"
fi

# --- The estate works with the new credentials.
streaming=$(docker exec "$prefix-pg1" /opt/patroni/bin/patronictl -c /etc/patroni/patroni.yml list -f json 2>/dev/null \
  | "$python" -c 'import json, sys; m = json.load(sys.stdin); print(sum(1 for x in m if x["State"] == "streaming"), sum(1 for x in m if x["Role"] == "Leader"))')
read -r dr_role_now dr_state < <(dr_patroni)
lead=$(leader)
failed_before=$(sql "$lead" "SELECT failed_count FROM pg_stat_archiver")
segment=$(sql "$lead" "SELECT pg_walfile_name(pg_switch_wal())")
archived=no
for _ in $(seq 1 60); do
  [[ "$(sql "$lead" "SELECT last_archived_wal >= '$segment' FROM pg_stat_archiver")" == t ]] && archived=yes && break
  sleep 1
done
replicated() {  # replicated SITE_HOST: is the segment in that site's bucket?
  local listing
  listing=$(docker exec -e MC_CONFIG_DIR=/etc/minio/mc "$prefix-$1" /usr/local/bin/mc ls -r local/fulexo-backups/ 2>/dev/null)
  [[ $listing == *"$segment"* ]]
}
offsite=no
for _ in $(seq 1 60); do
  replicated minio2 && replicated minio3 && offsite=yes && break
  sleep 2
done
docker cp lab/app/smoke.py "$prefix-web1:/root/smoke.py" >/dev/null
if [[ $streaming == "2 1" && "$dr_role_now $dr_state" == "standby_leader streaming" && $archived == yes && $offsite == yes \
    && "$(sql "$lead" "SELECT failed_count FROM pg_stat_archiver")" == "$failed_before" ]] \
    && docker exec "$prefix-web1" python3 /root/smoke.py http://127.0.0.1:80 >"$work/smoke.log" 2>&1; then
  say ok "with the new credentials: 1 leader and 2 streaming replicas, the DR site streaming, WAL $segment archived and replicated to the secondary and offsite sites, the application answering"
else
  say FAIL "with the new credentials: streaming/leaders '$streaming', DR site '$dr_role_now $dr_state', archived $archived, on both other sites $offsite"
  tail -n 5 "$work/smoke.log"
fi

# --- The report's evidence, the block.
if "$python" - "$result" <<'EOF' >"$work/evidence"
import hashlib, json, os, subprocess, sys, tarfile, tempfile
r = json.load(open(sys.argv[1]))
bundle = r["evidence_bundle"]
digest = hashlib.sha256(open(bundle["path"], "rb").read()).hexdigest()
with tempfile.TemporaryDirectory() as tmp:
    with tarfile.open(bundle["path"]) as tar:
        tar.extractall(tmp, filter="data")
    top = os.path.join(tmp, os.listdir(tmp)[0])
    check = subprocess.run(["sha256sum", "--quiet", "-c", "SHA256SUMS"], cwd=top, capture_output=True, text=True)
    journals = sum(1 for base, _, names in os.walk(top) for n in names if n == "journal.log")
print("%s, %d bytes, %d files from %d hosts (%d journals), sha256 %s... %s, SHA256SUMS %s" % (
    os.path.basename(bundle["path"]), bundle["bytes"], bundle["files"], len(bundle["hosts"]), journals, digest[:12],
    "as reported" if digest == bundle["sha256"] else "NOT as reported", "checks" if check.returncode == 0 else "FAILS"))
sys.exit(0 if digest == bundle["sha256"] and check.returncode == 0 and journals == len(bundle["hosts"]) else 1)
EOF
then
  say ok "evidence bundle: $(cat "$work/evidence")"
else
  say FAIL "evidence bundle: $(cat "$work/evidence")"
fi
blocks=0 hosts=0
for container in $(docker ps --format '{{.Names}}' | grep "^$prefix-"); do
  hosts=$((hosts + 1))
  # Read whole, then searched: grep -q in a pipe would cut nft off (pipefail).
  table=$(docker exec "$container" nft list table inet fulexo_breach_block 2>/dev/null)
  [[ $table == *"$blocked"* ]] && blocks=$((blocks + 1))
done
if [[ $blocks -gt 0 && $blocks -eq $hosts ]]; then
  say ok "$blocked blocked on all $hosts hosts (nftables table fulexo_breach_block)"
else
  say FAIL "$blocked blocked on $blocks of $hosts hosts"
fi

# --- No secret in the output.
if "$python" - "$work/old" "$secrets_dir" "$work/run.log" "$results" <<'EOF'
import os, sys
old_dir, new_dir, log, results = sys.argv[1:5]
values = {}
for label, folder in (("old", old_dir), ("new", new_dir)):
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            value = open(path).read().split()[0] if os.path.getsize(path) else ""
            if len(value) >= 8:
                values["%s %s" % (label, name)] = value
files = [log] + [os.path.join(b, n) for b, _, ns in os.walk(results) for n in ns if n.endswith(".json")]
hits = [(k, f) for f in files for k, v in values.items() if v in open(f, errors="replace").read()]
print("ok   %d secret values (old and new) searched in the run's -vvv output and %d results files: %d hits%s" % (
    len(values), len(files) - 1, len(hits), "".join("; %s in %s" % (k, os.path.basename(f)) for k, f in hits)))
sys.exit(1 if hits or len(values) < 20 else 0)
EOF
then :; else failures=$((failures + 1)); fi

# --- Again without rotation: nothing changes.
"${playbook[@]}" -e "breach_secrets_dir=$secrets_dir" -e "breach_detected_at=$detected" -e breach_rotate=false \
  >"$work/again.log" 2>&1; rc=$?
changed=$(changed_total "$work/again.log")
if [[ $rc -eq 0 && $changed -eq 0 ]]; then
  say ok "second run with breach_rotate=false: exit 0, changed=0 on every host"
else
  say FAIL "second run with breach_rotate=false: exit $rc, changed=$changed"
  grep -B2 -E '^changed:' "$work/again.log" | head -n 20
fi

for container in $(docker ps --format '{{.Names}}' | grep "^$prefix-"); do
  docker exec "$container" nft delete table inet fulexo_breach_block >/dev/null 2>&1
done
echo "breach: $failures failed"
exit $(( failures > 0 ))
