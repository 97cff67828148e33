#!/usr/bin/env bash
# Builds the pinned Go binaries the lab needs (MinIO, mc, WAL-G) with
# `go install`, into $FULEXO_CACHE/bin/<name>-<version>/, and records the
# version and sha256 of each in a manifest. A cached binary whose sha256
# still matches its manifest is not rebuilt.
#
# Usage: lab/build-binaries.sh [minio] [mc] [walg]   (default: all required)
# LAB_OPTIONAL_BINARIES lists binaries whose failure is reported, not fatal.
. "$(dirname "$0")/common.sh"

command -v go >/dev/null || die "go is not installed: the lab builds MinIO, mc and WAL-G from source with the Go toolchain"

OUT="$FULEXO_CACHE/bin"
mkdir -p "$OUT"
export GOFLAGS="-mod=mod -trimpath" CGO_ENABLED=0
export GOPATH="${GOPATH:-$FULEXO_CACHE/go}"
export GOCACHE="${GOCACHE:-$FULEXO_CACHE/go-build}"
# WAL-G is needed only by the backup issue; until the proxy serves it, its
# absence is reported and recorded, not fatal.
LAB_OPTIONAL_BINARIES="${LAB_OPTIONAL_BINARIES:-walg}"

is_optional() { [[ " $LAB_OPTIONAL_BINARIES " == *" $1 "* ]]; }

# name -> "package version output-name"
spec() {
  case "$1" in
    minio) echo "$MINIO_MODULE $MINIO_VERSION minio" ;;
    mc)    echo "$MC_MODULE $MC_VERSION mc" ;;
    walg)  echo "$WALG_PACKAGE $WALG_VERSION pg" ;;
    *) die "unknown binary '$1' (known: minio mc walg)" ;;
  esac
}

build_one() {
  local name=$1 pkg version built
  read -r pkg version built <<<"$(spec "$name")"
  local dir="$OUT/$name-$version"
  local manifest="$dir/MANIFEST"
  if [[ -f "$manifest" ]] && (cd "$dir" && sha256sum --quiet -c SHA256SUMS 2>/dev/null); then
    log "$name $version: cached ($(cut -c1-16 "$dir/SHA256SUMS")…)"
    return 0
  fi
  log "$name $version: building $pkg (minutes on 2 cores)"
  rm -rf "$dir" && mkdir -p "$dir"
  local buildlog="$dir.build.log"
  if ! GOBIN="$dir" go install -ldflags "-s -w" "$pkg@$version" >"$buildlog" 2>&1; then
    rm -rf "$dir"
    local reason
    reason=$(grep -m1 -E 'Forbidden|not available|error|cannot|invalid' "$buildlog" || tail -n1 "$buildlog")
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
  printf 'name=%s\npackage=%s\nversion=%s\nsha256=%s\ngo=%s\n' \
    "$name" "$pkg" "$version" "$(cut -d' ' -f1 "$dir/SHA256SUMS")" "$(go env GOVERSION)" >"$manifest"
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
    log "$n is optional for now: continuing without it (recorded as unavailable)"
    # Keep the proxy's or compiler's one-line reason for `lab status` and the tests.
    reason=$(grep -m1 -hoE '[0-9]{3} [A-Z][A-Za-z ]+|server response: .*|cannot find .*|undefined: .*' \
      "$OUT/$n-"*.build.log 2>/dev/null | head -n1)
    printf 'go install failed: %s (checked %s)\n' "${reason:-see the build log}" "$(date -u +%FT%TZ)" >"$OUT/$n.unavailable"
  else
    failed+=("$n")
  fi
done
[[ ${#failed[@]} -eq 0 ]] || die "could not build: ${failed[*]} (see the messages above); the lab is not usable without them"
