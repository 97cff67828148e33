"""The DR posture from Prometheus's answers: each check's verdict, the worst
one overall, and the table, on answers shaped like Prometheus 2.42's."""

import copy

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _posture

LIMITS = {"backup_age_seconds": 90000, "lag_bytes": 104857600, "services_down": 2}


def sample(value, **labels):
    return {"metric": labels, "value": [1764676800.0, str(value)]}


@pytest.fixture
def healthy():
    return {
        "backup_age": [sample(5400.25)],
        "backup_last_run_ok": [sample(1, host="pg1", type="full")],
        "restore_test_age": [sample(3 * 86400)],
        "restore_test_last_ok": [sample(1, host="restore1", destination="isolated")],
        "archive_age": [sample(42)],
        "archive_failing": [],
        "leaders": [sample(1, scope="fulexo-primary")],
        "replica_lag": [sample(0, scope="fulexo-primary", name="pg2"), sample(8192, scope="fulexo-primary", name="pg3")],
        "replica_streaming": [sample(1, scope="fulexo-primary", name="pg2"),
                              sample(1, scope="fulexo-primary", name="pg3")],
        "etcd_has_leader": [sample(1, host=h, job="etcd") for h in ("pg1", "pg2", "pg3")],
        "cache_cluster_ok": [sample(1, host="redis%d" % i) for i in range(1, 7)],
        "storage_sites": [sample(1, job="minio", host="minio%d" % i, site=s)
                          for i, s in enumerate(("primary", "secondary", "offsite"), 1)],
        "storage_links": [sample(1, host="minio1", site="primary", endpoint="minio%d:9000" % i) for i in (2, 3)],
        "services_down": [],
        "targets": [sample(1, job="node", host="pg1")] * 20,
        "uptime_30d": [sample(0.99951)],
    }


def test_a_healthy_estate_is_ok(healthy):
    report = _posture.assess(healthy, [], LIMITS)
    assert report["verdict"] == "ok" and report["problems"] == []
    assert report["checks"]["backup"]["age_seconds"] == 5400.2
    assert report["checks"]["replication"]["replicas"][1] == {
        "scope": "fulexo-primary", "name": "pg3", "lag_bytes": 8192, "streaming": True}
    lines = _posture.table(report, {"earliest": "2026-12-01T00:00:00Z", "latest": "2026-12-02T12:00:00Z"})
    assert lines[0] == "DR posture: OK"
    assert "newest 1h30m old (limit 1d01h); restores to 2026-12-01T00:00:00Z .. 2026-12-02T12:00:00Z" in lines[1]
    assert "0 of 20 down; worst job's 30-day uptime 99.951 %" in lines[9]
    assert lines[-1] == "  alerts firing: 0"


def test_nothing_reported_is_never_ok():
    report = _posture.assess({}, [], LIMITS)
    assert report["verdict"] == "critical"
    statuses = {name: check["status"] for name, check in report["checks"].items() if "status" in check}
    assert "ok" not in statuses.values()
    assert {p["check"] for p in report["problems"]} == set(statuses)


def test_an_old_backup_is_critical_and_a_failed_run_degraded(healthy):
    old = dict(healthy, backup_age=[sample(26 * 3600)])
    report = _posture.assess(old, [], LIMITS)
    assert report["verdict"] == "critical"
    assert report["problems"] == [{"check": "backup", "level": "critical",
                                   "reason": "newest successful backup is 93600 s old (limit 90000 s)"}]
    failed = dict(healthy, backup_last_run_ok=[sample(0, host="pg1", type="delta")])
    report = _posture.assess(failed, [], LIMITS)
    assert report["verdict"] == "degraded"
    assert report["problems"][0]["reason"] == "last backup run failed on pg1 (delta)"


def test_archiving_that_fails_is_critical(healthy):
    report = _posture.assess(dict(healthy, archive_failing=[sample(1, host="pg1")]), [], LIMITS)
    assert (report["verdict"], report["problems"][0]["reason"]) == ("critical", "archiving fails on pg1")


@pytest.mark.parametrize("leaders,reason", [
    ([sample(0, scope="fulexo-primary")], "fulexo-primary has no leader"),
    ([sample(2, scope="fulexo-primary")], "fulexo-primary has 2 leaders"),
])
def test_no_leader_or_two_leaders_is_critical(healthy, leaders, reason):
    report = _posture.assess(dict(healthy, leaders=leaders), [], LIMITS)
    assert report["verdict"] == "critical"
    assert report["problems"] == [{"check": "database", "level": "critical", "reason": reason}]


def test_a_replica_behind_or_not_streaming_is_degraded(healthy):
    answers = copy.deepcopy(healthy)
    answers["replica_lag"][1] = sample(104857601, scope="fulexo-primary", name="pg3")
    answers["replica_streaming"][0] = sample(0, scope="fulexo-primary", name="pg2")
    report = _posture.assess(answers, [], LIMITS)
    assert report["verdict"] == "degraded"
    assert report["problems"][0]["reason"] == "pg3 is 104857601 bytes behind; pg2 does not stream"


def test_etcd_without_a_leader_is_critical(healthy):
    answers = dict(healthy, etcd_has_leader=[sample(1, host="pg1"), sample(0, host="pg2")])
    report = _posture.assess(answers, [], LIMITS)
    assert report["problems"] == [{"check": "consensus", "level": "critical",
                                   "reason": "no etcd leader seen by pg2"}]
    assert "1/2 members see a leader" in _posture.table(report)[6]


def test_a_cache_cluster_that_is_not_ok_is_critical(healthy):
    answers = dict(healthy, cache_cluster_ok=[sample(0, host="redis1"), sample(1, host="redis2")])
    report = _posture.assess(answers, [], LIMITS)
    assert report["problems"][0]["reason"] == "Redis Cluster is not ok on redis1"


@pytest.mark.parametrize("down,level", [(1, "degraded"), (2, "degraded"), (3, "critical")])
def test_services_down_past_the_plan_limit_is_critical(healthy, down, level):
    answers = dict(healthy, services_down=[sample(0, job="redis", host="redis%d" % i) for i in range(4, 4 + down)])
    report = _posture.assess(answers, [], LIMITS)
    assert report["verdict"] == level
    assert report["checks"]["services"]["down"][0] == {"job": "redis", "host": "redis4"}
    if level == "critical":
        assert report["problems"][0]["reason"] == "3 services down (more than 2): activate the DR team"


def test_firing_alerts_are_listed_by_incident_level_and_pending_ones_left_out(healthy):
    alerts = [
        {"labels": {"alertname": "FulexoReplicationLagHigh", "incident_level": "P2_major"}, "state": "firing",
         "activeAt": "2026-12-02T12:00:00Z", "annotations": {"summary": "pg3 behind"}},
        {"labels": {"alertname": "FulexoServicesDown", "incident_level": "P1_critical"}, "state": "firing",
         "activeAt": "2026-12-02T12:01:00Z", "annotations": {"summary": "3 down"}},
        {"labels": {"alertname": "FulexoBackupTooOld", "incident_level": "P2_major"}, "state": "pending",
         "activeAt": "2026-12-02T12:02:00Z", "annotations": {}},
    ]
    report = _posture.assess(healthy, alerts, LIMITS)
    assert [a["alert"] for a in report["checks"]["alerts_firing"]] == ["FulexoServicesDown", "FulexoReplicationLagHigh"]
    lines = _posture.table(report)
    assert lines[-3:] == ["  alerts firing: 2", "    P1_critical  FulexoServicesDown: 3 down",
                          "    P2_major     FulexoReplicationLagHigh: pg3 behind"]


def test_a_storage_site_down_is_degraded_and_all_of_them_critical(healthy):
    answers = copy.deepcopy(healthy)
    answers["storage_sites"][2] = sample(0, job="minio", host="minio3", site="offsite")
    answers["storage_links"][1] = sample(0, host="minio1", site="primary", endpoint="minio3:9000")
    report = _posture.assess(answers, [], LIMITS)
    assert report["problems"] == [{"check": "storage", "level": "degraded",
                                   "reason": "site offsite does not answer; replication primary -> minio3:9000 offline"}]
    assert "2/3 sites answer, 1/2 replication links online" in _posture.table(report)[8]
    answers["storage_sites"] = [sample(0, job="minio", host="minio%d" % i, site="s%d" % i) for i in (1, 2, 3)]
    assert _posture.assess(answers, [], LIMITS)["verdict"] == "critical"


@pytest.mark.parametrize("change,reason", [
    ({"restore_test_age": []}, "no successful restore test is recorded"),
    ({"restore_test_last_ok": [sample(0, host="restore1")]}, "the last restore test failed"),
    ({"restore_test_age": [sample(40 * 86400)]}, "the last successful restore test is 40 days old"),
])
def test_a_restore_test_missing_failed_or_old_is_degraded(healthy, change, reason):
    report = _posture.assess(dict(healthy, **change), [], LIMITS)
    assert report["verdict"] == "degraded"
    assert report["problems"] == [{"check": "restore_test", "level": "degraded", "reason": reason}]
