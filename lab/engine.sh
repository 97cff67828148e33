#!/usr/bin/env bash
# Makes sure a Docker engine answers: installs docker.io when dockerd is
# missing, starts dockerd in the background when nothing answers, and waits
# for it. An engine that already answers is left alone.
. "$(dirname "$0")/common.sh"

# Each systemd container takes inotify instances; the default 128 runs out at
# about 30 containers (lab + scenarios) and the next one exits at once.
if [[ "$(sysctl -n fs.inotify.max_user_instances 2>/dev/null || echo 0)" -lt 1024 ]]; then
  sysctl -qw fs.inotify.max_user_instances=1024 || log "warning: cannot raise fs.inotify.max_user_instances"
fi

if docker info >/dev/null 2>&1; then
  log "docker engine already running ($(docker info -f '{{.ServerVersion}}'))"
  exit 0
fi

if ! command -v dockerd >/dev/null; then
  log "installing docker.io (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed: cannot reach the Debian mirror to install docker.io"
  apt-get install -y -qq docker.io >/dev/null || die "apt-get install docker.io failed"
fi
command -v docker >/dev/null || die "no docker CLI after installing docker.io"

LOG_DIR="${FULEXO_LOG_DIR:-/var/log/fulexo-dr}"
mkdir -p "$LOG_DIR"
log "starting dockerd in the background (log: $LOG_DIR/dockerd.log)"
# setsid: the engine must outlive this script and the shell that called it.
setsid dockerd >"$LOG_DIR/dockerd.log" 2>&1 < /dev/null &
dockerd_pid=$!

for _ in $(seq 1 60); do
  if docker info >/dev/null 2>&1; then
    log "docker engine up ($(docker info -f '{{.ServerVersion}}'))"
    exit 0
  fi
  if ! kill -0 "$dockerd_pid" 2>/dev/null; then
    tail -n 20 "$LOG_DIR/dockerd.log" >&2 || true
    die "dockerd exited during start-up (log above)"
  fi
  sleep 1
done
tail -n 20 "$LOG_DIR/dockerd.log" >&2 || true
die "dockerd did not answer within 60 s (log above)"
