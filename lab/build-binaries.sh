#!/usr/bin/env bash
# Builds the pinned Go binaries the lab needs (MinIO, mc, WAL-G) with
# `go install`, into $FULEXO_CACHE/bin/<name>-<version>/, and records the
# version and sha256 of each in a manifest. A cached binary whose sha256
# still matches its manifest is not rebuilt.
#
# WAL-G: `go install` of the pinned tag commit first (what a user elsewhere
# would do); when the module proxy refuses it, a build of the same tag from
# the source tarball WALG_SOURCE_TARBALL, checked against WALG_SOURCE_SHA256.
#
# Usage: lab/build-binaries.sh [minio] [mc] [walg]   (default: all three)
# LAB_OPTIONAL_BINARIES lists binaries whose failure is reported, not fatal.
. "$(dirname "$0")/common.sh"

command -v go >/dev/null || die "go is not installed: the lab builds MinIO, mc and WAL-G from source with the Go toolchain"

OUT="$FULEXO_CACHE/bin"
mkdir -p "$OUT"
export GOFLAGS="-mod=mod -trimpath" CGO_ENABLED=0
# Module and build caches stay with the other caches: WAL-G alone pulls
# about 1.7 GB of modules on a cold cache.
export GOPATH="${GOPATH:-$FULEXO_CACHE/go}"
export GOCACHE="${GOCACHE:-$FULEXO_CACHE/go-build}"
LAB_OPTIONAL_BINARIES="${LAB_OPTIONAL_BINARIES:-}"
default_walg_tarball="$REPO_ROOT/../shared/vendor/wal-g-$WALG_VERSION-src.tar.gz"
WALG_SOURCE_TARBALL="${WALG_SOURCE_TARBALL:-$default_walg_tarball}"

is_optional() { [[ " $LAB_OPTIONAL_BINARIES " == *" $1 "* ]]; }

# name -> "package version go-install-revision output-name"
spec() {
  case "$1" in
    minio) echo "$MINIO_MODULE $MINIO_VERSION $MINIO_VERSION minio" ;;
    mc)    echo "$MC_MODULE $MC_VERSION $MC_VERSION mc" ;;
    walg)  echo "$WALG_PACKAGE $WALG_VERSION $WALG_COMMIT pg" ;;
    *) die "unknown binary '$1' (known: minio mc walg)" ;;
  esac
}

# WAL-G needs encoding/json/v2 (GOEXPERIMENT=jsonv2) and reports its version
# from a link-time variable.
walg_build_env() { env GOEXPERIMENT=jsonv2 "$@"; }
walg_ldflags="-s -w -X github.com/wal-g/wal-g/cmd/pg.walgVersion=$WALG_VERSION"

# Builds WAL-G from the source tarball into $1; output to the build log.
walg_from_source() {
  local dir=$1
  [[ -f "$WALG_SOURCE_TARBALL" ]] || {
    echo "no WAL-G source tarball at $WALG_SOURCE_TARBALL (set WALG_SOURCE_TARBALL)"; return 1; }
  local sum
  sum=$(sha256sum "$WALG_SOURCE_TARBALL" | cut -d' ' -f1)
  [[ "$sum" == "$WALG_SOURCE_SHA256" ]] || {
    echo "sha256 mismatch for $WALG_SOURCE_TARBALL: $sum, expected $WALG_SOURCE_SHA256"; return 1; }
  local src rc=0
  src=$(mktemp -d "${TMPDIR:-/tmp}/fulexo-walg-src.XXXXXX")
  if tar -xzf "$WALG_SOURCE_TARBALL" -C "$src"; then
    local pkgdir
    pkgdir=$(find "$src" -mindepth 3 -maxdepth 3 -type d -path '*/main/pg' | head -n1)
    if [[ -n "$pkgdir" ]]; then
      (cd "$pkgdir" && walg_build_env go build -ldflags "$walg_ldflags" -o "$dir/pg" .) || rc=1
    else
      echo "no main/pg in $WALG_SOURCE_TARBALL"; rc=1
    fi
  else
    echo "cannot unpack $WALG_SOURCE_TARBALL"; rc=1
  fi
  rm -rf "$src"
  return $rc
}

build_one() {
  local name=$1 pkg version revision built
  read -r pkg version revision built <<<"$(spec "$name")"
  local dir="$OUT/$name-$version"
  local manifest="$dir/MANIFEST"
  if [[ -f "$manifest" ]] && (cd "$dir" && sha256sum --quiet -c SHA256SUMS 2>/dev/null); then
    log "$name $version: cached ($(cut -c1-16 "$dir/SHA256SUMS")…)"
    return 0
  fi
  log "$name $version: building $pkg (minutes on 2 cores)"
  rm -rf "$dir" && mkdir -p "$dir"
  local buildlog="$dir.build.log" origin="go install $pkg@$revision"
  local ok=0
  if [[ "$name" == walg ]]; then
    if GOBIN="$dir" walg_build_env go install -ldflags "$walg_ldflags" "$pkg@$revision" >"$buildlog" 2>&1; then
      ok=1
    else
      log "$name: go install refused ($(grep -m1 -oE '[0-9]{3} [A-Z][A-Za-z ]+|not available' "$buildlog" || echo 'see log')); building from $WALG_SOURCE_TARBALL"
      origin="source tarball sha256 $WALG_SOURCE_SHA256"
      walg_from_source "$dir" >>"$buildlog" 2>&1 && ok=1
    fi
  elif GOBIN="$dir" go install -ldflags "-s -w" "$pkg@$revision" >"$buildlog" 2>&1; then
    ok=1
  fi
  if [[ $ok -ne 1 ]]; then
    rm -rf "$dir"
    local reason
    reason=$(grep -m1 -E 'Forbidden|not available|error|cannot|invalid|mismatch|no WAL-G' "$buildlog" || tail -n1 "$buildlog")
    if is_optional "$name"; then
      log "$name $version: not built (optional): ${reason##*: }; log: $buildlog"
    else
      printf '[lab] build of %s (%s@%s) FAILED: %s\n      full log: %s\n' "$name" "$pkg" "$version" "$reason" "$buildlog" >&2
    fi
    return 1
  fi
  [[ "$built" == "$name" ]] || mv "$dir/$built" "$dir/$name"
  # wal-g is the conventional name of WAL-G's Postgres binary.
  [[ "$name" == walg ]] && mv "$dir/walg" "$dir/wal-g" && name=wal-g
  (cd "$dir" && sha256sum "$name" >SHA256SUMS)
  printf 'name=%s\npackage=%s\nversion=%s\nsha256=%s\ngo=%s\norigin=%s\n' \
    "$name" "$pkg" "$version" "$(cut -d' ' -f1 "$dir/SHA256SUMS")" "$(go env GOVERSION)" "$origin" >"$manifest"
  log "$name $version: built, sha256 $(cut -d' ' -f1 "$dir/SHA256SUMS")"
}

names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=(minio mc walg)
failed=()
for n in "${names[@]}"; do
  start=$(date +%s)
  if build_one "$n"; then
    rm -f "$OUT/$n.unavailable"
    # Stable names for inventories: $FULEXO_CACHE/bin/<binary> is the pinned build.
    for f in "$OUT/$n-$(spec "$n" | cut -d' ' -f2)"/*; do
      case "$(basename "$f")" in MANIFEST|SHA256SUMS) ;; *) ln -sfn "$f" "$OUT/$(basename "$f")" ;; esac
    done
    log "$n ready in $(( $(date +%s) - start )) s"
  elif is_optional "$n"; then
    log "$n is optional: continuing without it (recorded as unavailable)"
    reason=$(grep -m1 -hoE '[0-9]{3} [A-Z][A-Za-z ]+|server response: .*|cannot find .*|undefined: .*|sha256 mismatch.*|no WAL-G .*' \
      "$OUT/$n-"*.build.log 2>/dev/null | head -n1)
    printf 'build failed: %s (checked %s)\n' "${reason:-see the build log}" "$(date -u +%FT%TZ)" >"$OUT/$n.unavailable"
  else
    failed+=("$n")
  fi
done
[[ ${#failed[@]} -eq 0 ]] || die "could not build: ${failed[*]} (see the messages above); the lab is not usable without them"
