"""etcdctl JSON parsing and the cluster summary, on output recorded from etcd 3.4.23."""

import json
import os

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _etcd

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "etcd")


def fixture(name):
    with open(os.path.join(FIX, name)) as handle:
        return handle.read()


@pytest.fixture
def members():
    return _etcd.parse_member_list(fixture("member_list_3.json"))


def healthy_views(members):
    """Status and health as every member of the recorded cluster answers them."""
    leader_id = int("16edd4b045739813", 16)
    statuses, healths = {}, {}
    for member in members["members"]:
        url = member["client_urls"][0]
        raw = json.loads(fixture("endpoint_status_ok.json"))
        raw[0]["Endpoint"] = url
        raw[0]["Status"]["header"]["member_id"] = int(member["id"], 16)
        raw[0]["Status"]["leader"] = leader_id
        statuses.update(_etcd.parse_endpoint_status(json.dumps(raw)))
        healths[url] = {"health": True, "error": ""}
    return statuses, healths


def test_member_ids_are_hex_like_etcdctl_tables(members):
    assert [m["name"] for m in members["members"]] == ["mol-etcd3", "mol-etcd2", "mol-etcd1"]
    assert members["members"][0]["id"] == "16edd4b045739813"
    assert members["cluster_id"] == "971ef039277be87d"
    assert all(m["started"] for m in members["members"])


def test_unstarted_member_is_kept_and_not_started():
    raw = json.loads(fixture("member_list_3.json"))
    raw["members"].append({"ID": 42, "peerURLs": ["https://10.0.0.9:2380"]})
    parsed = _etcd.parse_member_list(json.dumps(raw))
    assert parsed["members"][-1] == {
        "id": "2a", "name": "", "peer_urls": ["https://10.0.0.9:2380"], "client_urls": [],
        "is_learner": False, "started": False,
    }


def test_endpoint_status_fields():
    status = _etcd.parse_endpoint_status(fixture("endpoint_status_ok.json"))
    entry = status["https://172.21.0.2:2379"]
    assert entry["member_id"] == "4995fef0065f2603"
    assert entry["leader_id"] == "16edd4b045739813"
    assert entry["version"] == "3.4.23"
    assert entry["raft_term"] == 2


def test_health_of_a_stopped_member_is_false_with_reason():
    health = _etcd.parse_endpoint_health(fixture("endpoint_health_down.json"))
    assert health == {"https://172.21.0.4:2379": {"health": False, "error": "context deadline exceeded"}}


def test_not_json_raises_with_what_was_printed():
    with pytest.raises(_etcd.EtcdOutputError, match="member list did not print JSON.*Error: context deadline"):
        _etcd.parse_member_list("Error: context deadline exceeded")


def test_all_healthy(members):
    statuses, healths = healthy_views(members)
    summary = _etcd.summarize(members, statuses, healths)
    assert summary["healthy"] and summary["has_quorum"]
    assert summary["leader"] == "mol-etcd3"
    assert (summary["member_count"], summary["healthy_count"], summary["quorum_size"]) == (3, 3, 2)
    assert summary["failure_tolerance"] == 1
    assert [m["is_leader"] for m in summary["members"]] == [True, False, False]


def test_one_member_down_keeps_quorum(members):
    statuses, healths = healthy_views(members)
    down = members["members"][1]["client_urls"][0]
    del statuses[down]
    healths[down] = {"health": False, "error": "context deadline exceeded"}
    summary = _etcd.summarize(members, statuses, healths)
    assert summary["has_quorum"] and not summary["healthy"]
    assert summary["healthy_count"] == 2 and summary["failure_tolerance"] == 0
    assert summary["members"][1]["error"] == "context deadline exceeded"


def test_two_members_down_lose_quorum(members):
    statuses, healths = healthy_views(members)
    for member in members["members"][1:]:
        url = member["client_urls"][0]
        del statuses[url]
        del healths[url]
    summary = _etcd.summarize(members, statuses, healths, errors={
        members["members"][1]["client_urls"][0]: "connection refused"})
    assert not summary["has_quorum"]
    assert summary["healthy_count"] == 1
    assert summary["members"][1]["error"] == "connection refused"


def test_disagreeing_leaders_are_not_hidden(members):
    statuses, healths = healthy_views(members)
    statuses[members["members"][2]["client_urls"][0]]["leader_id"] = members["members"][2]["id"]
    summary = _etcd.summarize(members, statuses, healths)
    assert summary["leader"] is None
    assert not summary["has_quorum"] and not summary["healthy"]


def test_learners_do_not_count_towards_quorum(members):
    statuses, healths = healthy_views(members)
    members["members"].append({"id": "2a", "name": "learner", "peer_urls": [], "client_urls": [],
                               "is_learner": True, "started": False})
    summary = _etcd.summarize(members, statuses, healths)
    assert summary["member_count"] == 3 and summary["quorum_size"] == 2


@pytest.mark.parametrize("count,quorum", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_quorum_size(count, quorum):
    assert _etcd.quorum_size(count) == quorum


def test_a_member_behind_on_the_term_does_not_hide_the_new_leader(members):
    statuses, healths = healthy_views(members)
    new_leader = members["members"][1]["id"]
    for position, member in enumerate(members["members"]):
        status = statuses[member["client_urls"][0]]
        if position == 2:
            continue  # still in the old term, naming the old leader
        status["raft_term"] += 1
        status["leader_id"] = new_leader
    summary = _etcd.summarize(members, statuses, healths)
    assert summary["leader"] == members["members"][1]["name"]
    assert summary["has_quorum"] and not _etcd.election_pending(summary)


def test_a_candidate_in_the_newest_term_means_no_leader_yet(members):
    statuses, healths = healthy_views(members)
    candidate = statuses[members["members"][0]["client_urls"][0]]
    candidate["raft_term"] += 1
    candidate["leader_id"] = None
    summary = _etcd.summarize(members, statuses, healths)
    assert summary["leader"] is None and not summary["has_quorum"]
    assert _etcd.election_pending(summary)


def test_no_election_pending_without_enough_healthy_members(members):
    statuses, healths = healthy_views(members)
    for member in members["members"][:2]:
        healths[member["client_urls"][0]] = {"health": False, "error": "connection refused"}
    summary = _etcd.summarize(members, statuses, healths)
    assert not summary["has_quorum"] and not _etcd.election_pending(summary)
