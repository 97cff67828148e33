#!/usr/bin/env bash
# Builds the lab base image: Debian + systemd + python3 + the host's extra CA
# certificates (the package registries sit behind a TLS proxy), made with
# debootstrap and `docker import` because no image registry is reachable.
# The tag is a hash of everything that goes into the image, so a second run
# with nothing changed finds the image and returns at once.
# Prints the image reference on stdout.
. "$(dirname "$0")/common.sh"

LAB_IMAGE_REPO="${LAB_IMAGE_REPO:-fulexo-dr/lab-base}"
ca_dir=/usr/local/share/ca-certificates

# Packages and security updates from the mirrors the host's apt uses.
{ read -r host_mirror; read -r host_security; } < <(python3 "$LAB_DIR/apt_sources.py" "$LAB_DEBIAN_SUITE"; echo; echo)
LAB_DEBIAN_MIRROR="${LAB_DEBIAN_MIRROR:-$host_mirror}"
LAB_DEBIAN_SECURITY_MIRROR="${LAB_DEBIAN_SECURITY_MIRROR-$host_security}"
[[ -n $LAB_DEBIAN_MIRROR ]] || die "no Debian $LAB_DEBIAN_SUITE mirror in this host's apt sources (/etc/apt); set LAB_DEBIAN_MIRROR"
[[ -n $LAB_DEBIAN_SECURITY_MIRROR ]] \
  || log "warning: no $LAB_DEBIAN_SUITE-security source on this host (set LAB_DEBIAN_SECURITY_MIRROR): the lab gets no security updates"

content_hash() {
  {
    cat "$LAB_DIR/image.sh"
    printf '%s\n' "$LAB_DEBIAN_SUITE" "$LAB_DEBIAN_MIRROR" "$LAB_DEBIAN_SECURITY_MIRROR" "$LAB_BASE_PACKAGES"
    find "$ca_dir" -type f -name '*.crt' -print0 2>/dev/null | sort -z | xargs -0r cat
  } | sha256sum | cut -c1-12
}

tag="$(content_hash)"
ref="$LAB_IMAGE_REPO:$tag"
exit_if_image_present "$ref"

rootfs_tar="$FULEXO_CACHE/images/lab-base-$tag.tar"
if [[ ! -s "$rootfs_tar" ]]; then
  command -v debootstrap >/dev/null || {
    log "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
      || die "apt-get install debootstrap failed"
  }
  work="$(mktemp -d "${TMPDIR:-/tmp}/fulexo-rootfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  log "debootstrap $LAB_DEBIAN_SUITE from $LAB_DEBIAN_MIRROR (about a minute)"
  if ! debootstrap --variant=minbase --include="$LAB_BASE_PACKAGES" \
      "$LAB_DEBIAN_SUITE" "$work/root" "$LAB_DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1; then
    tail -n 15 "$work/debootstrap.log" >&2
    die "debootstrap failed (cannot reach $LAB_DEBIAN_MIRROR, or a package is missing); no image was made"
  fi
  root="$work/root"
  # Trust the same extra CAs as the host, so apt/pip over HTTPS work inside.
  if compgen -G "$ca_dir/*.crt" >/dev/null; then
    cp "$ca_dir"/*.crt "$root/usr/local/share/ca-certificates/"
    chroot "$root" update-ca-certificates >/dev/null
  fi
  {
    echo "deb $LAB_DEBIAN_MIRROR $LAB_DEBIAN_SUITE main"
    echo "deb $LAB_DEBIAN_MIRROR $LAB_DEBIAN_SUITE-updates main"
    [[ -z $LAB_DEBIAN_SECURITY_MIRROR ]] || echo "deb $LAB_DEBIAN_SECURITY_MIRROR $LAB_DEBIAN_SUITE-security main"
  } >"$root/etc/apt/sources.list"
  # Lean installs: the roles name every package they need.
  printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
    >"$root/etc/apt/apt.conf.d/90fulexo-lab"
  # Units that make no sense in a container and slow its boot.
  for unit in getty.target systemd-udevd.service systemd-udev-trigger.service \
              systemd-remount-fs.service apt-daily.timer apt-daily-upgrade.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$unit"
  done
  : >"$root/etc/machine-id"
  # No package lists in the image, and no package cache that claims to be fresh.
  rm -rf "$root/var/cache/apt/archives/"*.deb "$root/var/cache/apt/"*.bin "$root/var/lib/apt/lists/"*
  # apt (and Ansible's cache_valid_time) date the lists by this directory.
  touch -d @0 "$root/var/lib/apt/lists"
  mkdir -p "$(dirname "$rootfs_tar")"
  tar -C "$root" -cf "$rootfs_tar.tmp" . && mv "$rootfs_tar.tmp" "$rootfs_tar"
  # Older rootfs tarballs are superseded by this one.
  find "$(dirname "$rootfs_tar")" -name "lab-base-*.tar" ! -name "$(basename "$rootfs_tar")" -delete
fi

log "importing $ref"
docker import \
  -c 'CMD ["/lib/systemd/systemd"]' \
  -c 'ENV container=docker' \
  "$rootfs_tar" "$ref" >/dev/null || die "docker import of $rootfs_tar failed"
docker tag "$ref" "$LAB_IMAGE_REPO:latest"
log "base image $ref built"
echo "$ref"
