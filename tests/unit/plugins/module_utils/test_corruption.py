# -*- coding: utf-8 -*-
"""The corruption triage: which member is rebuilt, when rows must come back
from a restored copy, and when nothing may be touched."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils._corruption import TriageInputError, triage

MEMBERS = [
    {"name": "pg1", "role": "leader", "state": "running", "lag": None},
    {"name": "pg2", "role": "replica", "state": "streaming", "lag": 4096},
    {"name": "pg3", "role": "replica", "state": "streaming", "lag": 0},
]


def passed(database="fulexo"):
    return [{"database": database, "check": c, "status": "passed", "message": "ok"}
            for c in ("checksums", "amcheck", "constraints")]


def result(*failed):
    checks = [c for c in passed() if c["check"] not in [f["check"] for f in failed]]
    return {"changed": False, "ok": not failed, "checks": checks + list(failed)}


AMCHECK = {"database": "fulexo", "check": "amcheck", "status": "failed",
           "message": 'heap table "fulexo.public.probe", block 3: invalid page'}
CHECKSUMS = {"database": "fulexo", "check": "checksums", "status": "failed", "message": "2 checksum failures"}
FK = {"database": "fulexo", "check": "constraints", "status": "failed",
      "message": "1 of 1 constraints violated: foreign key child_parent_fkey on public.child: 4 rows",
      "details": {"violations": [{"type": "foreign_key", "name": "child_parent_fkey", "table": "public.child",
                                  "references": "public.parent", "violations": 4}]}}
CHECK = {"database": "fulexo", "check": "constraints", "status": "failed", "message": "check on public.t",
         "details": {"violations": [{"type": "check", "name": "t_amount_check", "table": "public.t",
                                     "violations": 1}]}}


def test_a_healthy_cluster_is_clean():
    verdict = triage("pg1", MEMBERS, {"pg1": result(), "pg2": result(), "pg3": result()})
    assert verdict["clean"] is True and verdict["refusal"] == ""
    assert verdict["physical"] == [] and verdict["logical"] == [] and verdict["candidate"] is None
    assert verdict["findings"] == {"pg1": [], "pg2": [], "pg3": []}


def test_a_corrupted_replica_is_rebuilt_and_the_leader_stays():
    verdict = triage("pg1", MEMBERS, {"pg1": result(), "pg2": result(CHECKSUMS), "pg3": result()})
    assert verdict["physical"] == ["pg2"] and not verdict["leader_corrupted"]
    assert verdict["candidate"] is None and not verdict["clean"]
    assert verdict["findings"]["pg2"] == ["fulexo: checksums: 2 checksum failures"]


def test_a_corrupted_leader_hands_over_to_the_healthy_replica_with_least_lag():
    verdict = triage("pg1", MEMBERS, {"pg1": result(AMCHECK), "pg2": result(), "pg3": result()})
    assert verdict["physical"] == ["pg1"] and verdict["leader_corrupted"] is True
    assert verdict["candidate"] == "pg3"


def test_the_candidate_is_never_a_corrupted_replica():
    verdict = triage("pg1", MEMBERS, {"pg1": result(AMCHECK), "pg2": result(), "pg3": result(CHECKSUMS)})
    assert verdict["physical"] == ["pg1", "pg3"] and verdict["candidate"] == "pg2"


def test_a_replica_that_does_not_follow_is_no_candidate():
    members = [dict(m, state="stopped") if m["name"] == "pg3" else m for m in MEMBERS]
    verdict = triage("pg1", members, {"pg1": result(AMCHECK), "pg2": result(), "pg3": result()})
    assert verdict["candidate"] == "pg2"


def test_a_corrupted_leader_without_a_healthy_replica_is_refused():
    verdict = triage("pg1", MEMBERS, {"pg1": result(AMCHECK), "pg2": result(CHECKSUMS), "pg3": result(AMCHECK)})
    assert verdict["refusal"].startswith("the leader pg1 is corrupted (fulexo: amcheck: heap table")
    assert "restore the cluster from the archive" in verdict["refusal"]
    assert verdict["candidate"] is None


def test_constraints_the_leader_breaks_are_logical_on_every_member():
    verdict = triage("pg1", MEMBERS, {"pg1": result(FK), "pg2": result(FK), "pg3": result(FK)})
    assert verdict["physical"] == [] and not verdict["clean"]
    assert verdict["logical"] == ["fulexo: constraints: " + FK["message"]]
    assert verdict["tables"] == {"fulexo": ["public.parent", "public.child"]}


def test_a_replica_not_yet_showing_the_leaders_violation_is_not_rebuilt():
    verdict = triage("pg1", MEMBERS, {"pg1": result(FK), "pg2": result(), "pg3": result(FK)})
    assert verdict["physical"] == [] and verdict["logical"]


def test_a_violation_only_a_replica_has_is_its_own_corruption():
    verdict = triage("pg1", MEMBERS, {"pg1": result(), "pg2": result(CHECK), "pg3": result()})
    assert verdict["physical"] == ["pg2"] and verdict["logical"] == [] and verdict["tables"] == {}


def test_physical_and_logical_together():
    verdict = triage("pg1", MEMBERS, {"pg1": result(FK, CHECKSUMS), "pg2": result(FK), "pg3": result(FK)})
    assert verdict["physical"] == ["pg1"] and verdict["candidate"] == "pg3"
    assert verdict["tables"] == {"fulexo": ["public.parent", "public.child"]}


def test_a_check_table_is_compared_without_a_referenced_table():
    verdict = triage("pg1", MEMBERS, {"pg1": result(CHECK), "pg2": result(CHECK), "pg3": result(CHECK)})
    assert verdict["tables"] == {"fulexo": ["public.t"]}


@pytest.mark.parametrize("missing, why", [
    (None, "it did not answer"),
    ({"failed": True, "msg": "cannot connect to PostgreSQL at /var/run/postgresql:5432"}, "cannot connect"),
    ({"skipped": True}, "its checks were skipped"),
])
def test_a_member_not_checked_stops_everything(missing, why):
    verdict = triage("pg1", MEMBERS, {"pg1": result(), "pg2": missing, "pg3": result()})
    assert verdict["refusal"].startswith("the checks did not run on pg2 (")
    assert why in verdict["refusal"] and "nothing was changed" in verdict["refusal"]
    assert verdict["physical"] == [] and verdict["clean"] is False


def test_a_failed_module_run_with_results_counts_as_checked():
    failed_run = dict(result(AMCHECK), failed=True, msg="integrity check failed")
    verdict = triage("pg1", MEMBERS, {"pg1": result(), "pg2": failed_run, "pg3": result()})
    assert verdict["refusal"] == "" and verdict["physical"] == ["pg2"]


def test_no_leader_is_refused():
    verdict = triage(None, MEMBERS, {"pg1": result(), "pg2": result(), "pg3": result()})
    assert verdict["refusal"].startswith("the cluster has no leader")


def test_bad_input_is_named():
    with pytest.raises(TriageInputError, match="the leader pg9 is not among the members pg1, pg2, pg3"):
        triage("pg9", MEMBERS, {})
    with pytest.raises(TriageInputError, match="a check without a name"):
        triage("pg1", MEMBERS, {"pg1": {"checks": [{"status": "failed"}]}, "pg2": result(), "pg3": result()})
    with pytest.raises(TriageInputError, match="results must map"):
        triage("pg1", MEMBERS, [])
