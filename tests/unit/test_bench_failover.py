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
