# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scheduled WAL-G jobs of a Patroni member, run by systemd timers as postgres.

  walg-job ... backup --type full|delta [--permanent]
  walg-job ... retention --full-days 30 --delta-days 7 --pitr-days 7 [--dry-run]
  walg-job ... wait-recovery --port 5499 --timeout 3600 --log FILE

Only the current leader acts: on a replica the job says so and exits 0, so
every member can carry the same timers and a failover needs no change.
Each run writes its outcome as Prometheus metrics (textfile collector) and
one JSON line on stdout (the journal).
"""

import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, "/usr/local/lib/fulexo-dr")
import fulexo_walg_policy as policy  # noqa: E402  (installed beside this job by the walg role)


def log(event, **fields):
    fields["event"] = event
    print(json.dumps(fields, sort_keys=True, default=str), flush=True)


def load_settings(path):
    with open(path) as handle:
        return json.load(handle)


def is_leader(settings):
    """True on a primary, False on a replica; raises when PostgreSQL does not answer."""
    out = subprocess.run(
        ["psql", "-XAtq", "-h", settings.get("PGHOST", "/var/run/postgresql"), "-p", str(settings.get("PGPORT", 5432)),
         "-U", settings.get("PGUSER", "postgres"), "-d", "postgres", "-c", "SELECT pg_is_in_recovery()"],
        capture_output=True, text=True, timeout=30, check=False)
    if out.returncode != 0:
        raise RuntimeError("PostgreSQL does not answer: %s" % out.stderr.strip())
    return out.stdout.strip() == "f"


def walg(opts, args, timeout=None):
    return subprocess.run([opts.walg, "--config", opts.config] + args, capture_output=True, text=True,
                          timeout=timeout, check=False)


def last_error(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "rror" in line]
    return (errors or lines or ["no output"])[-1][:400]


def list_backups(opts):
    out = walg(opts, ["backup-list", "--detail", "--json"], timeout=600)
    if out.returncode != 0:
        raise RuntimeError("wal-g backup-list failed: %s" % last_error(out.stderr))
    return policy.parse_backup_list(out.stdout)


def parse_storage_listing(stdout):
    """(name, size) of the objects `wal-g st ls -r` prints; its header and folders are skipped."""
    objects = []
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[0] == "obj" and fields[1].isdigit():
            objects.append((fields[-1], int(fields[1])))
    return objects


def object_sha256(opts, path):
    """sha256 of a stored object's bytes as stored (compressed), streamed."""
    digest, size = hashlib.sha256(), 0
    with subprocess.Popen([opts.walg, "--config", opts.config, "st", "cat", path],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
        stderr = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError("wal-g st cat %s failed: %s" % (path, last_error(stderr)))
    return digest.hexdigest(), size


def record_manifest(opts, name):
    """Write manifests/<name>.json beside the backups: the sha256 of every
    object of the backup as stored now. It lands in the object-locked bucket,
    so an incident can later prove that the backup it restores from is the
    one written here (fulexo.dr.walg_archive_guard)."""
    folder = "basebackups_005/%s/" % name
    out = walg(opts, ["st", "ls", "-r", folder], timeout=600)
    if out.returncode != 0:
        raise RuntimeError("wal-g st ls %s failed: %s" % (folder, last_error(out.stderr)))
    paths = [folder + key for key, _size in parse_storage_listing(out.stdout)]
    if not paths:
        raise RuntimeError("wal-g st ls %s listed no object: nothing to record" % folder)
    paths.append("basebackups_005/%s_backup_stop_sentinel.json" % name)
    objects = []
    for path in paths:
        sha256, size = object_sha256(opts, path)
        objects.append({"key": path, "size": size, "sha256": sha256})
    manifest = {"backup": name, "recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                "objects": objects}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as handle:
        json.dump(manifest, handle, sort_keys=True)
        handle.flush()
        put = walg(opts, ["st", "put", "--no-compress", handle.name, "manifests/%s.json" % name], timeout=600)
    if put.returncode != 0:
        raise RuntimeError("wal-g st put manifests/%s.json failed: %s" % (name, last_error(put.stderr)))
    return len(objects), sum(item["size"] for item in objects)


def series(metric, labels):
    """A sample's name in the text format: metric{a="1",b="2"}, or metric alone."""
    if not labels:
        return metric
    return "%s{%s}" % (metric, ",".join('%s="%s"' % item for item in sorted(labels.items())))


def write_metrics(directory, name, samples):
    """Atomically replace <directory>/<name>.prom; samples: (metric, labels, value, help)."""
    lines, seen = [], set()
    for metric, labels, value, text in samples:
        if metric not in seen:
            lines += ["# HELP %s %s" % (metric, text), "# TYPE %s gauge" % metric]
            seen.add(metric)
        lines.append("%s %s" % (series(metric, labels), value))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".%s." % name)
    with os.fdopen(fd, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, os.path.join(directory, name + ".prom"))


def previous_value(directory, name, metric, labels):
    """A gauge's value in the current metrics file (kept across failed runs)."""
    try:
        with open(os.path.join(directory, name + ".prom")) as handle:
            for line in handle:
                if line.startswith(series(metric, labels) + " "):
                    return line.split()[-1]
    except OSError:
        pass
    return None


def backup(opts, settings):
    labels = {"type": opts.type}
    started = time.time()
    args = ["backup-push", opts.data_dir]
    if opts.type == "full":
        args.append("--full")
    if opts.permanent:
        args.append("--permanent")
    out = walg(opts, args)
    duration = time.time() - started
    ok = out.returncode == 0
    size, name = 0, ""
    if ok:
        backups = list_backups(opts)
        if backups:
            newest = backups[-1]
            size, name = newest.get("compressed_size") or 0, newest["name"]
    last_success = started if ok else previous_value(
        opts.metrics_dir, "walg_backup_" + opts.type, "fulexo_walg_backup_last_success_timestamp_seconds", labels)
    samples = [
        ("fulexo_walg_backup_last_run_timestamp_seconds", labels, "%.0f" % started, "Start of the last backup run."),
        ("fulexo_walg_backup_success", labels, "1" if ok else "0", "1 when the last backup run succeeded."),
        ("fulexo_walg_backup_duration_seconds", labels, "%.1f" % duration, "Duration of the last backup run."),
        ("fulexo_walg_backup_size_bytes", labels, str(size), "Compressed size of the last backup."),
    ]
    if last_success is not None:
        samples.append(("fulexo_walg_backup_last_success_timestamp_seconds", labels,
                        "%.0f" % float(last_success), "Start of the last successful backup run."))
    write_metrics(opts.metrics_dir, "walg_backup_" + opts.type, samples)
    if not ok:
        log("backup_failed", type=opts.type, duration_seconds=round(duration, 1), error=last_error(out.stderr))
        return 1
    try:
        count, stored = record_manifest(opts, name) if name else (0, 0)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        # A backup nobody can prove intact is not a backup an incident can use.
        log("backup_failed", type=opts.type, backup=name, duration_seconds=round(duration, 1),
            error="the backup was taken but its manifest was not recorded: %s" % exc)
        return 1
    log("backup_done", type=opts.type, backup=name, size_bytes=size, duration_seconds=round(duration, 1),
        manifest_objects=count, manifest_bytes=stored)
    return 0


def retention(opts, settings):
    started = time.time()
    now = datetime.datetime.now(datetime.timezone.utc)
    backups = list_backups(opts)
    plan = policy.retention_plan(backups, now, full_days=opts.full_days, delta_days=opts.delta_days,
                                 pitr_days=opts.pitr_days)
    by_name = {b["name"]: b for b in backups}
    doomed_fulls = [n for n in plan["delete"] if by_name[n].get("is_full")]
    doomed_deltas = [n for n in plan["delete"] if not by_name[n].get("is_full")]
    errors = []
    if not opts.dry_run:
        # Deltas first (each depends only on its full: LATEST_FULL origin), then
        # everything older than the oldest kept backup, with its WAL.
        for name in doomed_deltas:
            out = walg(opts, ["delete", "target", name, "--confirm"], timeout=3600)
            if out.returncode != 0:
                errors.append("%s: %s" % (name, last_error(out.stderr)))
        if doomed_fulls and not errors:
            # `delete before` spares permanent backups by itself; an old kept
            # permanent one must not be the boundary, or nothing after it goes.
            kept = [b for b in backups if b["name"] in plan["keep"] and not b.get("is_permanent")]
            oldest_kept = min(kept, key=lambda b: b["start_time"])["name"]
            out = walg(opts, ["delete", "before", oldest_kept, "--confirm"], timeout=3600)
            if out.returncode != 0:
                errors.append("before %s: %s" % (oldest_kept, last_error(out.stderr)))
    ok = not errors
    write_metrics(opts.metrics_dir, "walg_retention", [
        ("fulexo_walg_retention_last_run_timestamp_seconds", {}, "%.0f" % started, "Start of the last retention run."),
        ("fulexo_walg_retention_success", {}, "1" if ok else "0", "1 when the last retention run succeeded."),
        ("fulexo_walg_retention_deleted_backups", {}, str(0 if opts.dry_run else len(plan["delete"])),
         "Backups the last retention run deleted."),
    ])
    log("retention_done" if ok else "retention_failed", dry_run=opts.dry_run, deleted=plan["delete"],
        kept=len(plan["keep"]), reasons=plan.get("reasons", {}), errors=errors)
    return 0 if ok else 1


def wait_recovery(opts):
    """Waits until the server of --data-dir has left recovery; says why when it died instead."""
    started = time.monotonic()
    pg_ctl = os.path.join(opts.bin_dir, "pg_ctl")
    while True:
        out = subprocess.run(["psql", "-XAtq", "-F", "|", "-h", "/var/run/postgresql", "-p", str(opts.port), "-d",
                              "postgres", "-c", "SELECT pg_is_in_recovery(), current_setting('data_directory')"],
                             capture_output=True, text=True, check=False)
        waited = round(time.monotonic() - started, 1)
        in_recovery, _sep, served = out.stdout.strip().partition("|")
        if served and os.path.realpath(served) != os.path.realpath(opts.data_dir):
            # Another server answers on this port: its state says nothing about this copy.
            log("recovery_failed", seconds=waited,
                reason="port %d is served by another server (data directory %s), not by %s"
                % (opts.port, served, opts.data_dir))
            return 4
        if in_recovery == "f":
            log("recovered", seconds=waited)
            return 0
        alive = subprocess.run([pg_ctl, "status", "-D", opts.data_dir], capture_output=True, check=False)
        if alive.returncode != 0:
            log("recovery_failed", seconds=waited, reason=last_log_problem(opts.log))
            return 2
        if waited > opts.timeout:
            log("recovery_timeout", seconds=waited, reason=last_log_problem(opts.log))
            return 3
        time.sleep(1)


def last_log_problem(path):
    try:
        with open(path) as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        return "no server log: %s" % exc
    marked = [line for line in lines if any(word in line for word in ("FATAL", "PANIC", "ERROR"))]
    return (marked or lines or ["empty server log"])[-1][:400]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="walg-job", description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--walg", default="/usr/local/bin/wal-g")
    parser.add_argument("--config", default="/etc/wal-g/walg.json")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--metrics-dir", default="/var/lib/prometheus/node-exporter")
    sub = parser.add_subparsers(dest="job", required=True)
    push = sub.add_parser("backup")
    push.add_argument("--type", choices=["full", "delta"], required=True)
    push.add_argument("--permanent", action="store_true")
    keep = sub.add_parser("retention")
    keep.add_argument("--full-days", type=int, required=True)
    keep.add_argument("--delta-days", type=int, required=True)
    keep.add_argument("--pitr-days", type=int, required=True)
    keep.add_argument("--dry-run", action="store_true")
    wait = sub.add_parser("wait-recovery")
    wait.add_argument("--port", type=int, required=True)
    wait.add_argument("--timeout", type=int, required=True)
    wait.add_argument("--log", required=True)
    wait.add_argument("--bin-dir", default="/usr/lib/postgresql/15/bin")
    opts = parser.parse_args(argv)
    if opts.job == "wait-recovery":
        return wait_recovery(opts)
    settings = load_settings(opts.config)
    try:
        if not is_leader(settings):
            log("skipped", job=opts.job, reason="this member is a replica; only the leader runs backups and retention")
            return 0
        return backup(opts, settings) if opts.job == "backup" else retention(opts, settings)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        log("failed", job=opts.job, error=str(exc))
        return 1


if __name__ == "__main__":
    sys.exit(main())
