# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _preflight as pf

ETCD = {"has_quorum": True, "healthy": True, "member_count": 3, "healthy_count": 3, "failure_tolerance": 1,
        "members": [{"name": "pg1", "healthy": True}, {"name": "pg2", "healthy": True}, {"name": "pg3", "healthy": True}]}
DR_ETCD = {"has_quorum": True, "healthy": True, "member_count": 1, "healthy_count": 1, "failure_tolerance": 0,
           "members": [{"name": "dr-pg1", "healthy": True}]}
PATRONI = {"leader": "pg1", "leader_running": True, "paused": False, "replicas": ["pg2", "pg3"],
           "streaming_replicas": ["pg2", "pg3"],
           "members": [{"name": "pg1", "lag": None}, {"name": "pg2", "lag": 0}, {"name": "pg3", "lag": 4096}]}
REDIS = {"formed": True, "cluster_state": "ok", "all_slots_covered": True, "slots_ok": 16384, "failed_nodes": [],
         "unreachable_nodes": [], "masters_missing_replicas": []}
MINIO = {"unreachable_targets": [], "failed_total": 0, "missing_total": 2, "ok": True}


def whole(**changes):
    args = dict(estate="lab", production_confirmed=False,
                etcd=[{"name": "primary", "info": copy.deepcopy(ETCD), "min_failure_tolerance": 1},
                      {"name": "dr", "info": copy.deepcopy(DR_ETCD), "min_failure_tolerance": 0}],
                patroni=copy.deepcopy(PATRONI), redis=copy.deepcopy(REDIS), minio=copy.deepcopy(MINIO),
                lag_limit=10485760, patroni_members=["pg1", "pg2", "pg3"])
    args.update(changes)
    return args


def test_a_whole_lab_estate_passes():
    assert pf.preflight(**whole()) == []


def test_tiers_the_estate_lacks_are_not_judged():
    assert pf.preflight("staging", False) == []


@pytest.mark.parametrize("estate, confirmed, says", [
    ("", False, "does not say which estate"),
    (None, True, "does not say which estate"),
    ("prod", False, "must be one of lab, staging, production"),
    ("production", False, "dr_drill_production_confirmed=true"),
])
def test_estate_refusals(estate, confirmed, says):
    problems = pf.preflight(**whole(estate=estate, production_confirmed=confirmed))
    assert len(problems) == 1 and says in problems[0]


def test_confirmed_production_passes():
    assert pf.preflight(**whole(estate="production", production_confirmed=True)) == []


def test_etcd_member_down_names_it():
    info = copy.deepcopy(ETCD)
    info.update(healthy=False, healthy_count=2, failure_tolerance=0)
    info["members"][2]["healthy"] = False
    problems = pf.preflight(**whole(etcd=[{"name": "primary", "info": info, "min_failure_tolerance": 1}]))
    assert problems == ["etcd primary: 2/3 members healthy (down: pg3)",
                        "etcd primary tolerates 0 member failure(s), the drill needs 1 (losing its leader would stop it)"]


def test_etcd_without_quorum():
    info = dict(ETCD, has_quorum=False, healthy_count=1, failure_tolerance=0)
    assert pf.etcd_problems("primary", info, 1) == ["etcd primary has no quorum (1/3 healthy)"]


def test_single_member_dr_etcd_is_fine_when_nothing_more_is_asked():
    assert pf.etcd_problems("dr", DR_ETCD, 0) == []
    assert "tolerates 0" in pf.etcd_problems("dr", DR_ETCD, 1)[0]


@pytest.mark.parametrize("info, says", [
    ({"failed": True, "msg": "connection refused"}, "connection refused"),
    ({"skipped": True}, "not reached in this run"),
    ({"unreachable": True, "msg": "docker exec failed"}, "host unreachable: docker exec failed"),
    (None, "no answer"),
])
def test_an_unreadable_tier_is_a_problem(info, says):
    problems = pf.preflight(**whole(patroni=info)) if info is not None else pf.patroni_problems(info, 1)
    assert len(problems) == 1 and problems[0].startswith("Patroni: ") and says in problems[0]


def test_patroni_problems_each_named():
    info = copy.deepcopy(PATRONI)
    info["streaming_replicas"] = ["pg2"]
    info["members"][1]["lag"] = 20 * 1024 * 1024
    info["paused"] = True
    assert pf.patroni_problems(info, 10485760, ["pg1", "pg2", "pg3", "pg4"]) == [
        "Patroni: the cluster is paused (maintenance mode); resume it first",
        "Patroni: replica pg3 does not stream from the leader",
        "Patroni: replica pg2 lags 20971520 bytes (limit 10485760)",
        "Patroni: member(s) pg4 not in the cluster",
    ]


@pytest.mark.parametrize("changes, says", [
    ({"leader": None}, "no single leader"),
    ({"leader_running": False}, "leader pg1 is not running PostgreSQL"),
])
def test_patroni_leader_problems(changes, says):
    assert pf.patroni_problems(dict(PATRONI, **changes), 10485760) == ["Patroni: " + says]


def test_lag_at_the_limit_is_allowed():
    info = copy.deepcopy(PATRONI)
    info["members"][2]["lag"] = 10485760
    assert pf.patroni_problems(info, 10485760) == []


def test_redis_problems():
    info = dict(REDIS, cluster_state="fail", all_slots_covered=False, slots_ok=10923,
                failed_nodes=[{"hostname": "redis3", "address": "10.0.0.3:6379"}], unreachable_nodes=["10.0.0.3:6379"],
                masters_missing_replicas=["10.0.0.1:6379"])
    assert pf.redis_problems(info) == [
        "Redis Cluster: state fail",
        "Redis Cluster: 10923 of 16384 slots served",
        "Redis Cluster: failed node(s) redis3",
        "Redis Cluster: unreachable node(s) 10.0.0.3:6379",
        "Redis Cluster: master(s) without a replica 10.0.0.1:6379",
    ]
    assert pf.redis_problems({"formed": False}) == ["Redis Cluster: not formed"]


def test_minio_problems():
    assert pf.minio_problems(dict(MINIO, unreachable_targets=["secondary"], failed_total=3)) == [
        "backup storage: site(s) secondary do not answer",
        "backup storage: 3 version(s) failed to replicate",
    ]


def test_missing_versions_in_flight_are_not_a_problem():
    assert pf.minio_problems(dict(MINIO, missing_total=40, ok=False)) == []


def test_every_problem_in_one_line():
    info = dict(REDIS, cluster_state="fail")
    problems = pf.preflight(**whole(estate="", redis=info))
    message = pf.refusal_message(problems)
    assert message.startswith("the estate is not whole, so nothing was broken: ")
    assert "dr_estate" in message and "state fail" in message and "\n" not in message


def test_an_etcd_entry_without_a_name_is_a_usage_error():
    with pytest.raises(pf.PreflightInputError):
        pf.preflight("lab", False, etcd=[{"info": ETCD}])


def test_a_failure_registered_as_not_failed_is_still_an_error():
    # etcd_cluster_info's failure, registered with failed_when: false.
    info = {"changed": False, "failed": False, "msg": "etcd_cluster_info: no etcd endpoint answered the member list"}
    assert pf.etcd_problems("primary site", info, 1) == [
        "etcd primary site: etcd_cluster_info: no etcd endpoint answered the member list"]
    assert pf.redis_problems({"failed": False}) == ["Redis Cluster: the check failed without a message"]
