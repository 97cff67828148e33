# Shared helpers for the lab scripts (sourced, not executed).
# shellcheck shell=bash
set -euo pipefail

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$LAB_DIR/.." && pwd)"
export REPO_ROOT
# Caches live outside the checkout so a fresh clone (CI) reuses them.
FULEXO_CACHE="${FULEXO_CACHE:-/var/cache/fulexo-dr}"
export FULEXO_CACHE

# shellcheck source=lab/versions.env
. "$LAB_DIR/versions.env"

log() { printf '[lab %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf '[lab] ERROR: %s\n' "$*" >&2; exit 1; }

# Runs a command and prints how long it took, for the timing figures.
timed() {
  local label=$1; shift
  local start end
  start=$(date +%s)
  "$@"
  end=$(date +%s)
  log "$label took $((end - start)) s"
}

# Content-hash tags: an image that exists under its tag is up to date, so
# print its reference and stop the calling script there.
exit_if_image_present() {
  if docker image inspect "$1" >/dev/null 2>&1; then
    log "image $1 present"
    echo "$1"
    exit 0
  fi
}
