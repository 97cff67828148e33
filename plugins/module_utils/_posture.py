# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The estate's DR posture as monitoring sees it (dr_posture).

Private to the fulexo.dr collection. QUERIES are the PromQL instant queries
the module sends; assess() turns their answers (Prometheus's JSON "result"
vectors) and the firing alerts into the posture, and table() into the few
lines an on-call engineer reads first. No I/O here, so every decision is
unit-tested on canned answers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# The metric names are the ones the monitoring role's exporters and WAL-G's
# textfile metrics give (docs/monitoring.md lists their sources).
QUERIES = {
    "backup_age": "time() - max(fulexo_walg_backup_last_success_timestamp_seconds)",
    "backup_last_run_ok": "fulexo_walg_backup_success",
    "restore_test_age": "time() - max(fulexo_restore_test_last_success_timestamp_seconds)",
    "restore_test_last_ok": "fulexo_restore_test_success",
    "archive_age": "time() - max(fulexo_pg_archiver_last_archived_time > 0)",
    "archive_failing": "fulexo_pg_archiver_last_failed_time > fulexo_pg_archiver_last_archived_time",
    # A DR site (a standby cluster) is led by its standby leader.
    "leaders": "sum by (scope) (patroni_primary + patroni_standby_leader)",
    "replica_lag": ("(max by (scope) (patroni_xlog_location)) - on (scope) group_right () "
                    "(patroni_xlog_replayed_location and on (scope, name) (patroni_replica == 1))"),
    "replica_streaming": "patroni_postgres_streaming and on (scope, name) (patroni_replica == 1)",
    "etcd_has_leader": "etcd_server_has_leader",
    "cache_cluster_ok": "redis_cluster_state",
    "storage_sites": 'up{job="minio"}',
    "storage_links": "minio_node_replication_link_online",
    "services_down": "(up == 0) or (pg_up == 0) or (redis_up == 0)",
    "targets": "up",
    "uptime_30d": "min(fulexo:job_uptime:ratio_30d)",
}

LEVELS = ("ok", "degraded", "critical")


def _value(sample):
    return float(sample["value"][1])


def _label(sample, *names):
    labels = sample.get("metric", {})
    for name in names:
        if labels.get(name):
            return labels[name]
    return "?"


def _worse(a, b):
    return a if LEVELS.index(a) >= LEVELS.index(b) else b


def assess(answers, alerts, limits):
    """Posture from the QUERIES' answers (name -> list of samples), the
    firing alerts (Prometheus /api/v1/alerts "alerts") and the limits
    (backup_age_seconds, lag_bytes, services_down). A check with no data is
    "unknown", which is never reported as ok: a watched estate that reports
    nothing is itself a problem."""
    problems = []
    posture = {}

    def judge(name, level, reason=None):
        posture[name]["status"] = level
        if level != "ok":
            problems.append({"check": name, "level": level, "reason": reason})

    # Backups: the newest successful one, and the last run of each kind.
    age = answers.get("backup_age") or []
    failed_runs = sorted("%s (%s)" % (_label(s, "host", "instance"), _label(s, "type"))
                         for s in answers.get("backup_last_run_ok") or [] if _value(s) == 0)
    posture["backup"] = {"age_seconds": round(_value(age[0]), 1) if age else None,
                         "limit_seconds": limits["backup_age_seconds"], "failed_last_runs": failed_runs}
    if not age:
        judge("backup", "critical", "no member reports a successful backup")
    elif _value(age[0]) > limits["backup_age_seconds"]:
        judge("backup", "critical", "newest successful backup is %d s old (limit %d s)"
              % (_value(age[0]), limits["backup_age_seconds"]))
    elif failed_runs:
        judge("backup", "degraded", "last backup run failed on " + ", ".join(failed_runs))
    else:
        judge("backup", "ok")

    # Restore tests: the plan's monthly proof that the backups restore.
    restore_age = answers.get("restore_test_age") or []
    restore_failed = [s for s in answers.get("restore_test_last_ok") or [] if _value(s) == 0]
    posture["restore_test"] = {"last_success_age_seconds": round(_value(restore_age[0]), 1) if restore_age else None,
                               "limit_seconds": limits.get("restore_test_age_seconds", 35 * 86400),
                               "last_run_failed": bool(restore_failed)}
    if not restore_age:
        judge("restore_test", "degraded", "no successful restore test is recorded")
    elif restore_failed:
        judge("restore_test", "degraded", "the last restore test failed")
    elif _value(restore_age[0]) > posture["restore_test"]["limit_seconds"]:
        judge("restore_test", "degraded", "the last successful restore test is %d days old" % (_value(restore_age[0]) // 86400))
    else:
        judge("restore_test", "ok")

    # Archiving: how old the newest archived WAL segment is, and who fails.
    archive_age = answers.get("archive_age") or []
    failing = sorted(_label(s, "host", "instance") for s in answers.get("archive_failing") or [])
    posture["archiving"] = {"last_archived_age_seconds": round(_value(archive_age[0]), 1) if archive_age else None,
                            "failing_on": failing}
    if failing:
        judge("archiving", "critical", "archiving fails on " + ", ".join(failing))
    elif not archive_age:
        judge("archiving", "degraded", "no member reports an archived WAL segment")
    else:
        judge("archiving", "ok")

    # The database: one leader per cluster, replicas close and streaming.
    leaders = {_label(s, "scope"): int(_value(s)) for s in answers.get("leaders") or []}
    streaming = {(_label(s, "scope"), _label(s, "name")): _value(s) == 1
                 for s in answers.get("replica_streaming") or []}
    replicas = sorted(({"scope": _label(s, "scope"), "name": _label(s, "name"), "lag_bytes": int(_value(s)),
                        "streaming": streaming.get((_label(s, "scope"), _label(s, "name")))}
                       for s in answers.get("replica_lag") or []), key=lambda r: (r["scope"], r["name"]))
    posture["database"] = {"leaders": leaders}
    no_leader = sorted(scope for scope, count in leaders.items() if count < 1)
    split = sorted(scope for scope, count in leaders.items() if count > 1)
    if not leaders:
        judge("database", "critical", "no Patroni member reports to monitoring")
    elif no_leader or split:
        judge("database", "critical", "; ".join(
            ["%s has no leader" % s for s in no_leader] + ["%s has %d leaders" % (s, leaders[s]) for s in split]))
    else:
        judge("database", "ok")
    posture["replication"] = {"replicas": replicas, "limit_bytes": limits["lag_bytes"]}
    behind = [r for r in replicas if r["lag_bytes"] > limits["lag_bytes"]]
    silent = [r for r in replicas if r["streaming"] is False]
    if not replicas:
        judge("replication", "degraded", "no replica reports to monitoring")
    elif behind or silent:
        judge("replication", "degraded", "; ".join(
            ["%s is %d bytes behind" % (r["name"], r["lag_bytes"]) for r in behind]
            + ["%s does not stream" % r["name"] for r in silent]))
    else:
        judge("replication", "ok")

    # Consensus: every etcd member sees a leader.
    members = sorted(({"host": _label(s, "host", "instance"), "has_leader": _value(s) == 1}
                      for s in answers.get("etcd_has_leader") or []), key=lambda m: m["host"])
    posture["consensus"] = {"members": members}
    leaderless = [m["host"] for m in members if not m["has_leader"]]
    if not members:
        judge("consensus", "critical", "no etcd member reports to monitoring")
    elif leaderless:
        judge("consensus", "critical", "no etcd leader seen by " + ", ".join(leaderless))
    else:
        judge("consensus", "ok")

    # Cache: Redis Cluster's own verdict, from every instance watched.
    cache = sorted(({"host": _label(s, "host", "instance"), "cluster_ok": _value(s) == 1}
                    for s in answers.get("cache_cluster_ok") or []), key=lambda c: c["host"])
    posture["cache"] = {"instances": cache}
    if not cache:
        judge("cache", "degraded", "no Redis instance reports to monitoring")
    elif not all(c["cluster_ok"] for c in cache):
        judge("cache", "critical", "Redis Cluster is not ok on " + ", ".join(
            c["host"] for c in cache if not c["cluster_ok"]))
    else:
        judge("cache", "ok")

    # Storage: the backup copies' sites, and the replication links between them.
    sites = sorted(({"site": _label(s, "site", "host"), "host": _label(s, "host", "instance"), "up": _value(s) == 1}
                    for s in answers.get("storage_sites") or []), key=lambda s: s["site"])
    links = sorted(({"site": _label(s, "site", "host"), "endpoint": _label(s, "endpoint"), "online": _value(s) == 1}
                    for s in answers.get("storage_links") or []), key=lambda s: (s["site"], s["endpoint"]))
    posture["storage"] = {"sites": sites, "replication_links": links}
    sites_down = [s["site"] for s in sites if not s["up"]]
    links_down = ["%s -> %s" % (link["site"], link["endpoint"]) for link in links if not link["online"]]
    if not sites:
        judge("storage", "degraded", "no storage site reports to monitoring")
    elif len(sites_down) == len(sites):
        judge("storage", "critical", "no storage site answers")
    elif sites_down or links_down:
        judge("storage", "degraded", "; ".join(["site %s does not answer" % s for s in sites_down]
                                               + ["replication %s offline" % link for link in links_down]))
    else:
        judge("storage", "ok")

    # Services: targets that do not answer, or exporters that cannot reach
    # their service; the plan activates the DR team above the limit.
    down = sorted(({"job": _label(s, "job"), "host": _label(s, "host", "instance")}
                   for s in answers.get("services_down") or []), key=lambda d: (d["job"], d["host"]))
    uptime = answers.get("uptime_30d") or []
    posture["services"] = {"watched": len(answers.get("targets") or []), "down": down,
                           "limit": limits["services_down"],
                           "worst_job_uptime_30d_percent": round(_value(uptime[0]) * 100, 3) if uptime else None}
    if not answers.get("targets"):
        judge("services", "critical", "Prometheus scrapes nothing")
    elif len(down) > limits["services_down"]:
        judge("services", "critical", "%d services down (more than %d): activate the DR team"
              % (len(down), limits["services_down"]))
    elif down:
        judge("services", "degraded", "down: " + ", ".join("%s on %s" % (d["job"], d["host"]) for d in down))
    else:
        judge("services", "ok")

    firing = sorted(({"alert": a.get("labels", {}).get("alertname"),
                      "incident_level": a.get("labels", {}).get("incident_level"),
                      "since": a.get("activeAt"),
                      "summary": a.get("annotations", {}).get("summary")}
                     for a in alerts if a.get("state") == "firing"),
                    key=lambda a: (a["incident_level"] or "~", a["alert"] or ""))
    posture["alerts_firing"] = firing

    verdict = "ok"
    for problem in problems:
        verdict = _worse(verdict, problem["level"])
    return {"verdict": verdict, "problems": problems, "checks": posture}


def _seconds(value):
    if value is None:
        return "-"
    value = int(value)
    if value >= 86400:
        return "%dd%02dh" % (value // 86400, value % 86400 // 3600)
    if value >= 3600:
        return "%dh%02dm" % (value // 3600, value % 3600 // 60)
    if value >= 60:
        return "%dm%02ds" % (value // 60, value % 60)
    return "%ds" % value


def table(report, pitr_window=None):
    """A few aligned lines: one per check, then the firing alerts."""
    checks = report["checks"]
    reasons = {p["check"]: p["reason"] for p in report["problems"]}
    details = {
        "backup": "newest %s old (limit %s)" % (
            _seconds(checks["backup"]["age_seconds"]), _seconds(checks["backup"]["limit_seconds"])),
        "restore_test": "last success %s ago" % _seconds(checks["restore_test"]["last_success_age_seconds"]),
        "archiving": "last WAL archived %s ago" % _seconds(checks["archiving"]["last_archived_age_seconds"]),
        "database": ", ".join("%s: %d leader%s" % (s, n, "" if n == 1 else "s")
                              for s, n in sorted(checks["database"]["leaders"].items())) or "-",
        "replication": ", ".join("%s %d B" % (r["name"], r["lag_bytes"]) for r in checks["replication"]["replicas"])
        or "-",
        "consensus": "%d/%d members see a leader" % (
            len([m for m in checks["consensus"]["members"] if m["has_leader"]]), len(checks["consensus"]["members"])),
        "cache": "%d/%d instances say ok" % (
            len([c for c in checks["cache"]["instances"] if c["cluster_ok"]]), len(checks["cache"]["instances"])),
        "storage": "%d/%d sites answer, %d/%d replication links online" % (
            len([s for s in checks["storage"]["sites"] if s["up"]]), len(checks["storage"]["sites"]),
            len([link for link in checks["storage"]["replication_links"] if link["online"]]),
            len(checks["storage"]["replication_links"])),
        "services": "%d of %d down; worst job's 30-day uptime %s" % (
            len(checks["services"]["down"]), checks["services"]["watched"],
            "-" if checks["services"]["worst_job_uptime_30d_percent"] is None
            else "%.3f %%" % checks["services"]["worst_job_uptime_30d_percent"]),
    }
    if pitr_window:
        details["backup"] += "; restores to %s .. %s" % (pitr_window.get("earliest") or "-",
                                                         pitr_window.get("latest") or "-")
    lines = ["DR posture: %s" % report["verdict"].upper()]
    for name in ("backup", "restore_test", "archiving", "database", "replication", "consensus", "cache", "storage", "services"):
        line = "  %-12s %-9s %s" % (name, checks[name]["status"], details[name])
        if name in reasons:
            line += "  <- " + reasons[name]
        lines.append(line)
    alerts = checks["alerts_firing"]
    lines.append("  alerts firing: %d" % len(alerts))
    for alert in alerts:
        lines.append("    %-12s %s: %s" % (alert["incident_level"] or "-", alert["alert"], alert["summary"] or ""))
    return lines
