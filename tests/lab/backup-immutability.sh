#!/usr/bin/env bash
# On the converged lab, after the drill took its backups: the backup bucket is
# immutable even for the MinIO root credentials. On every site a locked
# version of a backup object survives a root delete with --bypass (what
# ransomware holding stolen root keys would do), while the same delete of a
# marker in the drill's GOVERNANCE bucket goes through, which shows the
# attempt itself works and only the lock stops it.
set -uo pipefail
backups=fulexo-backups
drill=fulexo-drill
failures=0
# The role's mc configuration on each site: its "local" alias is that site's root.
mc() { docker exec -e MC_CONFIG_DIR=/etc/minio/mc "fulexo-lab-$1" /usr/local/bin/mc --json "${@:2}"; }
# Whether a version of an object is listed (stat of a deleted version can
# still answer from the replication metadata, so the listing decides).
has_version() {
  mc "$1" ls --versions "local/$2/$3" 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if any(json.loads(l).get("versionId") == sys.argv[1] for l in sys.stdin if l.strip()) else 1)' "$4"
}
say() { printf '%-4s %s\n' "$1" "$2"; [[ $1 == ok ]] || failures=$((failures + 1)); }

for site in minio1 minio2 minio3; do
  # The oldest version of a backup object, with its key and version id.
  read -r key version < <(mc "$site" ls --versions --recursive "local/$backups/" 2>/dev/null | python3 -c '
import json, sys
rows = [json.loads(line) for line in sys.stdin if line.strip()]
rows = [r for r in rows if r.get("status") == "success" and r.get("versionId") and not r.get("isDeleteMarker")
        and r.get("type") == "file"]
rows.sort(key=lambda r: r["lastModified"])
print(rows[0]["key"], rows[0]["versionId"]) if rows else None')
  if [[ -z ${version:-} ]]; then
    say FAIL "$site: no backup object version in $backups to test (did the drill take a backup?)"
    continue
  fi
  out="$(mc "$site" rm --version-id "$version" --bypass "local/$backups/$key" 2>&1)"
  rc=$?
  if [[ $rc -ne 0 ]] && has_version "$site" "$backups" "$key" "$version"; then
    reason="$(python3 -c 'import json, sys
for line in sys.stdin:
    try:
        print(json.loads(line)["error"]["cause"]["message"].split(chr(39) + " ")[-1]); break
    except (ValueError, KeyError, TypeError):
        pass' <<<"$out")"
    say ok "$site: root delete with --bypass of $backups/$key (version $version) refused: ${reason:-exit $rc}"
  else
    say FAIL "$site: root deleted the locked version $version of $backups/$key (exit $rc): $out"
  fi
  unset key version
done

# The contrast: GOVERNANCE lets root through with --bypass.
marker="immutability-check/$(date +%s)"
if echo contrast | docker exec -i -e MC_CONFIG_DIR=/etc/minio/mc fulexo-lab-minio1 /usr/local/bin/mc pipe "local/$drill/$marker" >/dev/null; then
  version="$(mc minio1 stat "local/$drill/$marker" | python3 -c 'import json, sys; print(json.load(sys.stdin)["versionID"])')"
  if mc minio1 rm --version-id "$version" --bypass "local/$drill/$marker" >/dev/null \
      && ! has_version minio1 "$drill" "$marker" "$version"; then
    say ok "minio1: the same delete of a GOVERNANCE-locked marker in $drill went through"
  else
    say FAIL "minio1: root could not delete a GOVERNANCE-locked marker with --bypass: the check above proves nothing"
  fi
else
  say FAIL "minio1: could not write a marker to $drill"
fi
exit $(( failures > 0 ))
