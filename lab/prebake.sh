#!/usr/bin/env bash
# Builds the lab image proper: the base image (image.sh) plus, in one more
# layer, the Debian packages and the Patroni venv the roles install, so a
# converge in the lab finds them installed instead of downloading them into
# every container again. The roles still install them on a bare host (the
# etcd scenario runs on the base image to keep that path tested).
# The tag is a hash of the base image, this script and the package list.
#
# Usage: lab/prebake.sh BASE_IMAGE_REF    (prints the image reference)
. "$(dirname "$0")/common.sh"

base=${1:?usage: prebake.sh BASE_IMAGE_REF}
LAB_IMAGE_REPO="${LAB_PREBAKED_REPO:-fulexo-dr/lab}"

# What the roles install with apt (patroni, etcd, haproxy, redis_cluster,
# walg's restore entry point, monitoring, nginx_lb, the lab's application, the incident
# playbooks' host isolation, the dns role), and Patroni's pinned venv.
packages=(postgresql-15 postgresql-client-15 python3-venv python3-psycopg2 python3-packaging
          etcd-server etcd-client python3-cryptography haproxy redis-server redis-tools
          prometheus prometheus-alertmanager prometheus-node-exporter
          prometheus-postgres-exporter prometheus-redis-exporter prometheus-blackbox-exporter
          nginx-light python3-redis nftables bind9 bind9-dnsutils)
patroni_version=$(sed -n 's/^patroni_version: *//p' "$REPO_ROOT/roles/patroni/defaults/main.yml")
psycopg2_version=$(sed -n 's/^patroni_psycopg2_version: *//p' "$REPO_ROOT/roles/patroni/defaults/main.yml")
[[ -n "$patroni_version" && -n "$psycopg2_version" ]] || die "cannot read the Patroni pins from roles/patroni/defaults/main.yml"

tag=$({ echo "$base"; cat "$0"; printf '%s\n' "${packages[@]}" "$patroni_version" "$psycopg2_version"; } \
      | sha256sum | cut -c1-12)
ref="$LAB_IMAGE_REPO:$tag"
exit_if_image_present "$ref"

builder="fulexo-dr-prebake-$tag"
docker rm -f "$builder" >/dev/null 2>&1 || true
trap 'docker rm -f "$builder" >/dev/null 2>&1 || true' EXIT
log "building $ref on $base: ${packages[*]}, Patroni $patroni_version (a few minutes)"
# --pull never: no registry is reachable, and none must be asked.
docker run -d --pull never --name "$builder" --cap-add SYS_ADMIN --cap-add NET_ADMIN \
  --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
  -v /sys/fs/cgroup:/sys/fs/cgroup:rw --cgroupns=host --tmpfs /run --tmpfs /run/lock \
  "$base" /lib/systemd/systemd >/dev/null || die "cannot start a container from $base"
# Until systemd has booted (it mounts /tmp, which apt's signature check needs).
for _ in $(seq 1 60); do
  state=$(docker exec "$builder" systemctl is-system-running 2>/dev/null || true)
  [[ "$state" == running || "$state" == degraded ]] && break
  sleep 1
done

# As the patroni role does: no `main` cluster from the package.
if ! docker exec -e DEBIAN_FRONTEND=noninteractive "$builder" bash -euo pipefail -c "
    mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf
    apt-get update -qq
    apt-get install -y -qq ${packages[*]} >/dev/null
    apt-get clean
    # The packages start their default instances (a single-node etcd, redis on
    # 6379, an empty haproxy) in every lab host; each role enables what its
    # host runs, so the image ships them disabled.
    systemctl disable --now -q etcd redis-server haproxy prometheus prometheus-alertmanager prometheus-node-exporter \
      prometheus-postgres-exporter prometheus-redis-exporter prometheus-blackbox-exporter nginx named
    python3 -m venv /opt/patroni
    /opt/patroni/bin/pip install -q 'patroni[etcd3]==$patroni_version' 'psycopg2-binary==$psycopg2_version'
  " >"$FULEXO_CACHE/prebake.log" 2>&1; then
  tail -n 15 "$FULEXO_CACHE/prebake.log" >&2
  die "installing the lab packages failed (log: $FULEXO_CACHE/prebake.log); no image was made"
fi
# SIGRTMIN+3 halts systemd cleanly (services stopped, files synced).
docker kill --signal SIGRTMIN+3 "$builder" >/dev/null
timeout 60 docker wait "$builder" >/dev/null || docker kill "$builder" >/dev/null 2>&1 || true
docker commit -c 'CMD ["/lib/systemd/systemd"]' -c 'ENV container=docker' "$builder" "$ref" >/dev/null \
  || die "docker commit of the lab image failed"
docker tag "$ref" "$LAB_IMAGE_REPO:latest"
log "lab image $ref built"
echo "$ref"
