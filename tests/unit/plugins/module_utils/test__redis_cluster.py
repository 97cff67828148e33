"""Redis Cluster parsing, summary and plan, on replies recorded from
redis-server 7.0.15 (Debian bookworm) in the molecule scenario: six nodes
172.23.0.2-7, masters .2/.3/.4, replicas .5/.6/.7; then .2 stopped, .5
promoted, .2 back as a replica of .5."""

import hashlib
import os

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _redis_cluster as rc

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "redis")
NODES = ["172.23.0.%d:6379" % i for i in range(2, 8)]
NAMES = dict(("172.23.0.%d" % i, "redis%d" % (i - 1)) for i in range(2, 8))


def fixture(name):
    """Recorded replies are stored with LF line ends (ansible-test's rule);
    redis-cli prints CLUSTER INFO with CRLF, so that is put back."""
    with open(os.path.join(FIX, name)) as handle:
        text = handle.read()
    return text.replace("\n", "\r\n") if name.startswith("cluster_info_") else text


def view(info, nodes):
    return {"info": fixture(info), "nodes": fixture(nodes), "error": ""}


def own_view(nodes_file, address):
    """The recorded table as seen by `address` (moves the myself flag), so
    every node of the recorded cluster can answer from one recording."""
    lines = []
    for line in fixture(nodes_file).splitlines():
        fields = line.split(" ")
        flags = [f for f in fields[2].split(",") if f != "myself"]
        if fields[1].split("@")[0] == address:
            flags.insert(0, "myself")
        fields[2] = ",".join(flags)
        lines.append(" ".join(fields))
    return "\n".join(lines) + "\n"


def whole_cluster(nodes_file="cluster_nodes_ok.txt", info_file="cluster_info_ok.txt"):
    return dict((a, {"info": fixture(info_file), "nodes": own_view(nodes_file, a), "error": ""}) for a in NODES)


def fresh_views(addresses):
    out = {}
    for address in addresses:
        out[address] = {"info": fixture("cluster_info_fresh.txt"),
                        "nodes": fixture("cluster_nodes_fresh.txt").replace("172.23.0.2:7000", address)
                        .replace("e4a7262b440507a27a8aefc929986deaca8a2a79", hashlib.sha1(address.encode()).hexdigest()),
                        "error": ""}
    return out


# --- parsing -------------------------------------------------------------------

def test_cluster_info_is_typed_and_keeps_crlf_out():
    info = rc.parse_cluster_info(fixture("cluster_info_ok.txt"))
    assert fixture("cluster_info_ok.txt").count("\r\n") > 5
    assert info["cluster_state"] == "ok"
    assert (info["cluster_slots_assigned"], info["cluster_slots_ok"], info["cluster_known_nodes"]) == (16384, 16384, 6)
    assert info["cluster_size"] == 3


def test_cluster_nodes_masters_replicas_and_slots():
    nodes = rc.parse_cluster_nodes(fixture("cluster_nodes_ok.txt"))
    assert len(nodes) == 6
    me = [n for n in nodes if n["myself"]]
    assert [n["address"] for n in me] == ["172.23.0.2:6379"]
    masters = [n for n in nodes if n["role"] == "master"]
    assert sorted(n["slot_count"] for n in masters) == [5461, 5461, 5462]
    assert sum(n["slot_count"] for n in masters) == rc.SLOTS
    replica = [n for n in nodes if n["address"] == "172.23.0.5:6379"][0]
    assert replica["role"] == "replica"
    assert replica["master_id"] == "ebcd017f9b56a2db344de026d31189fdf570c9c6"
    assert replica["cport"] == 16379 and replica["link_state"] == "connected"


def test_migrating_and_importing_slots_are_not_counted_as_served():
    line = ("ebcd017f9b56a2db344de026d31189fdf570c9c6 172.23.0.2:6379@16379 myself,master - 0 0 1 connected "
            "0-99 200 [100->-8f7a055ff37ec7f0af91e30deb5e094b2f3f4482] [300-<-3c7859b83ca3a4513bf66d2c15ba02a2e783b054]")
    node = rc.parse_cluster_nodes(line)[0]
    assert node["slots"] == [[0, 99], [200, 200]] and node["slot_count"] == 101
    assert node["migrating"] == [{"slot": 100, "to": "8f7a055ff37ec7f0af91e30deb5e094b2f3f4482"}]
    assert node["importing"] == [{"slot": 300, "from": "3c7859b83ca3a4513bf66d2c15ba02a2e783b054"}]


def test_failed_master_flags():
    nodes = rc.parse_cluster_nodes(fixture("cluster_nodes_master_failed.txt"))
    old = [n for n in nodes if n["address"] == "172.23.0.2:6379"][0]
    assert old["failed"] and old["link_state"] == "disconnected" and old["slot_count"] == 5461


@pytest.mark.parametrize("name", ["auth_missing_stdout.txt", "auth_wrong_stdout.txt"])
def test_error_replies_are_recognised(name):
    assert rc.error_reply(fixture(name)) == "NOAUTH Authentication required."
    with pytest.raises(rc.RedisOutputError, match="CLUSTER INFO failed: NOAUTH"):
        rc.parse_cluster_info(fixture(name))
    assert rc.is_auth_failure(fixture("auth_wrong_stderr.txt"))


def test_replies_are_not_mistaken_for_errors():
    for name in ("cluster_info_ok.txt", "cluster_nodes_ok.txt", "cluster_nodes_fresh.txt"):
        assert rc.error_reply(fixture(name)) == ""


def test_garbage_in_cluster_nodes_raises():
    with pytest.raises(rc.RedisOutputError, match="unexpected line"):
        rc.parse_cluster_nodes("Could not connect to Redis at 172.23.0.2:6379: Connection refused")


def test_cluster_check_ok_and_uncovered():
    text = fixture("cluster_check_ok.txt")
    ok = rc.parse_cluster_check(text, 0)
    assert ok["ok"] and ok["all_slots_covered"] and ok["slots_agree"] and ok["errors"] == []
    bad = rc.parse_cluster_check(fixture("cluster_check_fresh.txt"), 1)
    assert not bad["ok"] and not bad["all_slots_covered"]
    assert bad["errors"] == ["[ERR] Not all 16384 slots are covered by nodes."]


def test_cluster_check_non_zero_exit_without_err_line_is_not_ok():
    result = rc.parse_cluster_check("Could not connect to Redis at 172.23.0.2:6379: Connection refused", 1)
    assert not result["ok"] and result["errors"] == ["redis-cli --cluster check exited 1"]


# --- summary ----------------------------------------------------------------

def test_whole_cluster_is_healthy_with_replicas_off_their_masters_hosts():
    result = rc.summarize(NODES, whole_cluster(), 1, NAMES)
    assert result["healthy"] and result["formed"]
    assert result["cluster_state"] == "ok" and result["all_slots_covered"]
    assert [(m["name"], [r["name"] for r in m["replicas"]]) for m in result["masters"]] == [
        ("redis3", ["redis6"]), ("redis1", ["redis4"]), ("redis2", ["redis5"])]
    assert result["anti_affinity_violations"] == []
    assert result["plan"] == {"action": "none", "entry": NODES[0], "masters": [], "additions": [],
                              "errors": [], "warnings": []}


def test_view_from_a_replica_tells_the_same_story():
    views = whole_cluster()
    views[NODES[0]] = {"error": "Could not connect to Redis at 172.23.0.2:6379: Connection refused"}
    views[NODES[4]] = view("cluster_info_ok.txt", "cluster_nodes_ok_from_replica.txt")
    result = rc.summarize(NODES, views, 1, NAMES)
    assert result["source"] == NODES[1]
    assert result["unreachable_nodes"] == [NODES[0]]
    assert not result["healthy"]  # an instance does not answer
    assert result["plan"]["errors"] == []


def test_master_lost_before_promotion():
    views = whole_cluster("cluster_nodes_master_failed.txt", "cluster_info_master_failed.txt")
    views[NODES[0]] = {"error": "Could not connect to Redis at 172.23.0.2:6379: Connection refused"}
    result = rc.summarize(NODES, views, 1)
    assert result["cluster_state"] == "fail" and result["slots_fail"] == 5461
    assert [n["address"] for n in result["failed_nodes"]] == ["172.23.0.2:6379"]
    assert [n["address"] for n in result["disconnected_links"]] == ["172.23.0.2:6379"]
    assert not result["healthy"]


def test_after_failover_the_replica_serves_the_slots():
    views = whole_cluster("cluster_nodes_after_failover.txt", "cluster_info_after_failover.txt")
    views[NODES[0]] = {"error": "Could not connect to Redis at 172.23.0.2:6379: Connection refused"}
    result = rc.summarize(NODES, views, 1, NAMES)
    promoted = [m for m in result["masters"] if m["address"] == "172.23.0.5:6379"][0]
    assert promoted["slots"] == ["0-5460"] and promoted["replicas"] == []
    assert result["cluster_state"] == "ok" and result["slots_ok"] == rc.SLOTS
    assert result["masters_missing_replicas"] == ["172.23.0.5:6379"]
    assert result["plan"]["action"] == "none"  # nothing to add while .2 is away
    assert not result["healthy"]


def test_old_master_back_as_replica_is_healthy_and_needs_nothing():
    result = rc.summarize(NODES, whole_cluster("cluster_nodes_old_master_returned.txt"), 1, NAMES)
    promoted = [m for m in result["masters"] if m["address"] == "172.23.0.5:6379"][0]
    assert [r["address"] for r in promoted["replicas"]] == ["172.23.0.2:6379"]
    assert result["healthy"] and result["plan"]["action"] == "none"


def test_anti_affinity_violation_is_reported():
    views = whole_cluster()
    # Move replica .5 (of master .2) onto .2's host, as a second instance.
    for address in NODES:
        views[address]["nodes"] = views[address]["nodes"].replace("172.23.0.5:6379@16379", "172.23.0.2:6380@16380")
    nodes = [a if a != "172.23.0.5:6379" else "172.23.0.2:6380" for a in NODES]
    views["172.23.0.2:6380"] = views.pop("172.23.0.5:6379")
    result = rc.summarize(nodes, views, 1, NAMES)
    assert result["anti_affinity_violations"] == [
        {"master": "172.23.0.2:6379", "replica": "172.23.0.2:6380", "host": "172.23.0.2", "name": "redis1"}]
    assert result["plan"]["warnings"] == ["replica 172.23.0.2:6380 runs on the same host as its master 172.23.0.2:6379"]


# --- plan -------------------------------------------------------------------

def test_all_fresh_means_create_from_masters_spread_over_hosts():
    result = rc.summarize(NODES, fresh_views(NODES), 1)
    assert not result["formed"] and result["fresh"] == NODES
    assert result["plan"]["action"] == "create"
    assert result["plan"]["masters"] == NODES[:3]


def test_create_waits_for_every_instance():
    views = fresh_views(NODES)
    views[NODES[5]] = {"error": "Could not connect to Redis at 172.23.0.7:6379: Connection refused"}
    result = rc.summarize(NODES, views, 1)
    assert result["plan"]["action"] == "none"
    assert "cannot create the cluster while 172.23.0.7:6379 do not answer" in result["plan"]["warnings"][0]


def test_masters_are_spread_when_hosts_run_two_instances():
    nodes = ["10.0.0.1:6379", "10.0.0.1:6380", "10.0.0.2:6379", "10.0.0.2:6380", "10.0.0.3:6379", "10.0.0.3:6380"]
    assert rc.choose_masters(nodes, 3) == ["10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"]


def test_replaced_node_joins_as_replica_of_the_master_without_one():
    # After the failover .2 is gone for good; a rebuilt host answers fresh.
    views = whole_cluster("cluster_nodes_after_failover.txt", "cluster_info_after_failover.txt")
    views.update(fresh_views([NODES[0]]))
    result = rc.summarize(NODES, views, 1, NAMES)
    assert result["plan"]["action"] == "add"
    assert result["plan"]["additions"] == [{"address": NODES[0], "master_id": "62ef735d1ad722aafbcdd834ce8fe1eee61e0791",
                                            "master_address": "172.23.0.5:6379", "same_host": False}]
    assert result["plan"]["entry"] == NODES[1]


def test_assignment_keeps_every_replica_off_its_master_host():
    # Greedy choice would give 10.0.0.3:6380 its own host's master.
    masters = [{"id": "m%d" % i, "address": "10.0.0.%d:6379" % i, "host": "10.0.0.%d" % i, "replicas": 0}
               for i in (1, 2, 3)]
    newcomers = ["10.0.0.2:6380", "10.0.0.1:6380", "10.0.0.3:6380"]
    plan = rc.assign_replicas(masters, newcomers, 1)
    assert not any(p["same_host"] for p in plan)
    assert sorted(p["master_id"] for p in plan) == ["m1", "m2", "m3"]


def test_assignment_reports_same_host_when_the_inventory_leaves_no_choice():
    masters = [{"id": "m1", "address": "10.0.0.1:6379", "host": "10.0.0.1", "replicas": 1},
               {"id": "m2", "address": "10.0.0.2:6379", "host": "10.0.0.2", "replicas": 0}]
    plan = rc.assign_replicas(masters, ["10.0.0.2:6380"], 1)
    assert plan == [{"address": "10.0.0.2:6380", "master_id": "m2", "master_address": "10.0.0.2:6379",
                     "same_host": True}]


def test_extra_newcomers_go_to_the_master_with_fewest_replicas_on_another_host():
    masters = [{"id": "m1", "address": "10.0.0.1:6379", "host": "10.0.0.1", "replicas": 2},
               {"id": "m2", "address": "10.0.0.2:6379", "host": "10.0.0.2", "replicas": 1}]
    plan = rc.assign_replicas(masters, ["10.0.0.3:6379"], 1)
    assert plan[0]["master_id"] == "m2"


# --- refusals ---------------------------------------------------------------

def test_wrong_password_is_one_error_naming_the_instances():
    views = dict((a, {"error": "AUTH failed: WRONGPASS invalid username-password pair or user is disabled."})
                 for a in NODES)
    result = rc.summarize(NODES, views, 1)
    assert result["plan"]["action"] == "refuse"
    assert len(result["plan"]["errors"]) == 1
    assert result["plan"]["errors"][0].startswith(", ".join(NODES) + " refused the password (AUTH failed: WRONGPASS")
    assert all(n["reachable"] and n["auth_failed"] for n in result["nodes"])


def test_instances_of_another_cluster_are_refused():
    nodes = NODES + ["172.23.0.6:7000", "172.23.0.7:7000"]
    views = whole_cluster()
    pair = ("aaaa%036d 172.23.0.6:7000@17000 {a}master - 0 0 0 connected\n"
            "bbbb%036d 172.23.0.7:7000@17000 {b}master - 0 0 1 connected\n") % (0, 0)
    views["172.23.0.6:7000"] = {"info": fixture("cluster_info_fresh.txt"), "error": "",
                                "nodes": pair.format(a="myself,", b="")}
    views["172.23.0.7:7000"] = {"info": fixture("cluster_info_fresh.txt"), "error": "",
                                "nodes": pair.format(a="", b="myself,")}
    result = rc.summarize(nodes, views, 1)
    assert result["plan"]["action"] == "refuse"
    assert result["plan"]["errors"] == [
        "the instances belong to 2 different clusters (%s | 172.23.0.6:7000, 172.23.0.7:7000): a node already "
        "in another cluster must be reset (CLUSTER RESET) or left out of the inventory" % ", ".join(NODES)]


def test_cluster_members_outside_the_inventory_are_refused():
    result = rc.summarize(NODES[:5] + ["172.23.0.9:6379"], dict(list(whole_cluster().items())[:5]), 1)
    assert result["plan"]["action"] == "refuse"
    assert any("also holds 172.23.0.7:6379, which is not in the inventory" in e for e in result["plan"]["errors"])


@pytest.mark.parametrize("count,replicas,ok", [(6, 1, True), (5, 1, False), (4, 1, False), (8, 1, True),
                                               (9, 2, True), (6, 2, False), (3, 0, True), (2, 0, False)])
def test_layout(count, replicas, ok):
    assert (rc.layout_error(count, replicas) == "") is ok


def test_odd_layout_is_refused_in_the_plan():
    result = rc.summarize(NODES[:5], fresh_views(NODES[:5]), 1)
    assert result["plan"]["action"] == "refuse"
    assert result["plan"]["errors"] == ["5 instance(s) cannot form at least 3 masters with 1 replica(s) each: "
                                        "the instance count must be a multiple of 2 and at least 6"]


@pytest.mark.parametrize("address,expected", [("10.0.0.1:6379", ("10.0.0.1", 6379)), ("[::1]:7000", ("::1", 7000))])
def test_split_address(address, expected):
    assert rc.split_address(address) == expected


def test_split_address_rejects_missing_port():
    with pytest.raises(ValueError):
        rc.split_address("10.0.0.1")


def test_master_just_lost_is_a_disconnected_link_before_it_is_flagged():
    # One second after the stop: no PFAIL yet, only the link is down.
    views = whole_cluster("cluster_nodes_master_pfail.txt", "cluster_info_master_pfail.txt")
    views[NODES[0]] = {"error": "Could not connect to Redis at 172.23.0.2:6379: Connection refused"}
    result = rc.summarize(NODES, views, 1)
    assert result["cluster_state"] == "ok" and result["failed_nodes"] == []
    assert [n["address"] for n in result["disconnected_links"]] == ["172.23.0.2:6379"]
    assert result["unreachable_nodes"] == [NODES[0]] and not result["healthy"]
