"""bench/failover.py's helpers: which etcd member leads (to tell kills that
also took the etcd leader apart) and the write rate before an event."""

import importlib.util
import os

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURE = os.path.join(REPO_ROOT, "tests", "unit", "fixtures", "etcd", "endpoint_status_3.4.23.json")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_failover", os.path.join(REPO_ROOT, "bench", "failover.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_etcd_leader_is_the_endpoint_whose_member_id_is_the_leader(bench):
    with open(FIXTURE) as handle:
        recorded = handle.read()
    # Recorded from etcd 3.4.23 in the molecule cluster: the first member led.
    assert bench.etcd_leader_address(recorded) == "172.18.0.2"


def test_no_leader_named_gives_none(bench):
    assert bench.etcd_leader_address('[{"Endpoint": "https://10.0.0.1:2379", "Status": {"header": '
                                     '{"member_id": 1}, "leader": 0}}]') is None
    assert bench.etcd_leader_address("") is None


def test_write_rate_counts_only_the_window(bench):
    acked = [(1, 10.0), (2, 10.5), (3, 11.0), (4, 11.5), (5, 12.0)]
    assert bench.writes_per_second(acked, 10.0, 12.0) == 2.0
    assert bench.writes_per_second(acked, 12.0, 12.0) != bench.writes_per_second(acked, 12.0, 12.0)  # nan


def test_member_ids_are_hex_as_move_leader_takes_them(bench):
    with open(FIXTURE) as handle:
        ids = bench.etcd_member_ids(handle.read())
    assert ids["172.18.0.3"] == "%x" % 10886520772384351439
    assert sorted(ids) == ["172.18.0.2", "172.18.0.3", "172.18.0.4"]


def test_profile_settings_are_compared_inside_nested_sections(bench):
    config = {"ttl": 20, "postgresql": {"parameters": {"max_connections": 200, "wal_retrieve_retry_interval": "1s"}}}
    assert bench.config_holds(config, {"ttl": 20, "postgresql": {"parameters": {"wal_retrieve_retry_interval": "1s"}}})
    assert not bench.config_holds(config, {"postgresql": {"parameters": {"wal_retrieve_retry_interval": "5s"}}})
    assert not bench.config_holds(config, {"loop_wait": 14})
    assert bench.config_holds(config, {"postgresql": {"parameters": {"hot_standby_feedback": None}}})


def test_restoring_patch_puts_back_old_values_and_removes_added_keys(bench):
    original = {"ttl": 20, "loop_wait": 10, "postgresql": {"parameters": {"max_connections": 200}}}
    changed = {"loop_wait": 14, "postgresql": {"parameters": {"wal_retrieve_retry_interval": "1s"}}}
    assert bench.restoring_patch(original, changed) == {
        "loop_wait": 10, "postgresql": {"parameters": {"wal_retrieve_retry_interval": None}}}


def test_quorum_trials_wait_until_every_replica_is_a_quorum_standby(bench):
    members = [{"name": "pg1", "role": "leader", "state": "running"},
               {"name": "pg2", "role": "quorum_standby", "state": "streaming"},
               {"name": "pg3", "role": "replica", "state": "streaming"}]
    assert not bench.settled({"members": members}, 3, "quorum")
    assert bench.settled({"members": members}, 3, "async")
    members[2]["role"] = "quorum_standby"
    assert bench.settled({"members": members}, 3, "quorum")
    members[2]["state"] = "starting"
    assert not bench.settled({"members": members}, 3, "quorum")


def test_lease_remaining_is_read_from_etcdctl_timetolive(bench):
    out = "lease 5119d1fc0a7e2b07 granted with TTL(20s), remaining(13s)\n"
    assert bench.lease_remaining(out) == 13
    assert bench.lease_remaining("lease 5119d1fc0a7e2b07 already expired\n") is None
    assert bench.lease_remaining("") is None
