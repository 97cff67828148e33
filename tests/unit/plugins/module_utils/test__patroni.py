"""Patroni REST client and decisions, on /cluster answers recorded from Patroni 4.1.5.

Fault states (leader gone, lag, nofailover) are made from the recorded
answers by changing only the fields Patroni changes in that state.
"""

import copy
import io
import json
import os

import pytest

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError

from ansible_collections.fulexo.dr.plugins.module_utils import _patroni

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "patroni")


def load(name):
    with open(os.path.join(FIX, name)) as handle:
        return json.load(handle)


@pytest.fixture
def healthy():
    return load("cluster_healthy.json")


def summary(raw):
    return _patroni.summarize_cluster(raw)


def without_leader(raw):
    """What /cluster shows once a killed leader's member key has expired."""
    raw = copy.deepcopy(raw)
    raw["members"] = [m for m in raw["members"] if m["role"] != "leader"]
    return raw


def with_lag(raw, name, lag):
    raw = copy.deepcopy(raw)
    for m in raw["members"]:
        if m["name"] == name:
            m["lag"] = m["receive_lag"] = m["replay_lag"] = lag
    return raw


# --- summary ------------------------------------------------------------------

def test_healthy_cluster_summary(healthy):
    s = summary(healthy)
    assert s["scope"] == "molecule"
    assert s["leader"] == "mol-pg1" and s["leader_running"]
    assert s["timeline"] == 1
    assert s["replicas"] == ["mol-pg2", "mol-pg3"]
    assert s["streaming_replicas"] == ["mol-pg2", "mol-pg3"]
    assert s["max_lag"] == 0
    assert s["sync_standby"] is None and s["sync_standbys"] == []
    assert s["healthy"] and not s["paused"]
    leader = _patroni.member(s, "mol-pg1")
    assert leader["is_leader"] and leader["lag"] == 0 and leader["receive_lag"] is None


def test_sync_standby_is_reported():
    s = summary(load("cluster_sync.json"))
    assert s["sync_standby"] == "mol-pg3"
    assert s["sync_standbys"] == ["mol-pg3"]
    assert _patroni.member(s, "mol-pg3")["is_sync"]
    assert s["healthy"]


def test_unknown_lag_is_none_not_zero(healthy):
    s = summary(with_lag(healthy, "mol-pg2", "unknown"))
    assert _patroni.member(s, "mol-pg2")["lag"] is None
    assert s["max_lag"] == 0


def test_leader_gone(healthy):
    s = summary(without_leader(healthy))
    assert s["leader"] is None and not s["leader_running"] and not s["healthy"]
    assert s["timeline"] is None


def test_pre_3_master_role_is_a_leader(healthy):
    raw = copy.deepcopy(healthy)
    raw["members"][0]["role"] = "master"
    assert summary(raw)["leader"] == "mol-pg1"


@pytest.mark.parametrize("state, up", [("streaming", True), ("in archive recovery", True), ("running", True),
                                       ("starting", False), ("stopped", False)])
def test_a_standby_clusters_leader_leads_while_it_follows_the_other_site(healthy, state, up):
    raw = copy.deepcopy(healthy)
    raw["members"][0]["role"], raw["members"][0]["state"] = "standby_leader", state
    s = summary(raw)
    assert s["leader"] == "mol-pg1" and s["leader_running"] is up and s["healthy"] is up


def test_an_ordinary_leader_leads_only_while_running(healthy):
    raw = copy.deepcopy(healthy)
    raw["members"][0]["state"] = "streaming"
    assert not summary(raw)["leader_running"]


# --- candidates -----------------------------------------------------------------

def test_unknown_candidate(healthy):
    problem = _patroni.candidate_problem(summary(healthy), "pg9", 10485760)
    assert problem.startswith("candidate pg9 is not a member of cluster molecule")


def test_lagging_candidate(healthy):
    s = summary(with_lag(healthy, "mol-pg2", 20000000))
    assert _patroni.candidate_problem(s, "mol-pg2", 10485760) == \
        "candidate mol-pg2 lags 20000000 bytes behind, beyond the 10485760-byte threshold"
    assert _patroni.candidate_problem(s, "mol-pg2", 30000000) is None


def test_not_streaming_and_nofailover(healthy):
    raw = copy.deepcopy(healthy)
    raw["members"][1]["state"] = "starting"
    raw["members"][2]["tags"] = {"nofailover": True}
    s = summary(raw)
    assert "not a healthy replica (state starting)" in _patroni.candidate_problem(s, "mol-pg2", 1)
    assert "tagged nofailover" in _patroni.candidate_problem(s, "mol-pg3", 1)
    assert _patroni.best_candidate(s, 10485760) is None


def test_best_candidate_prefers_sync_then_least_lag(healthy):
    s = summary(with_lag(healthy, "mol-pg2", 100))
    assert _patroni.best_candidate(s, 10485760) == "mol-pg3"
    sync = summary(with_lag(load("cluster_sync.json"), "mol-pg3", 5000))
    assert _patroni.best_candidate(sync, 10485760) == "mol-pg3"


# --- switchover / failover plans ----------------------------------------------

def test_switchover_to_the_leader_is_a_noop(healthy):
    assert _patroni.plan_switchover(summary(healthy), "mol-pg1", 10485760)[0] == "noop"


def test_switchover_to_a_replica(healthy):
    assert _patroni.plan_switchover(summary(healthy), "mol-pg3", 10485760)[:2] == ("switchover", "mol-pg3")
    assert _patroni.plan_switchover(summary(healthy), None, 10485760)[:2] == ("switchover", "mol-pg2")


@pytest.mark.parametrize("mutate, message", [
    (lambda raw: raw, "is not a member"),
    (without_leader, "has no running leader"),
    (lambda raw: dict(raw, pause=True), "is paused"),
])
def test_switchover_refusals(healthy, mutate, message):
    candidate = "nobody" if message == "is not a member" else "mol-pg2"
    with pytest.raises(ValueError, match=message):
        _patroni.plan_switchover(summary(mutate(copy.deepcopy(healthy))), candidate, 10485760)


def test_failover_refused_while_a_healthy_leader_exists(healthy):
    with pytest.raises(ValueError, match="has a healthy leader .mol-pg1.; use the switchover playbook"):
        _patroni.plan_failover(summary(healthy), None, None, 10485760, False)


def test_failover_forced_excludes_the_leader(healthy):
    assert _patroni.plan_failover(summary(healthy), None, None, 10485760, True)[:2] == ("failover", "mol-pg2")
    # The member declared failed is never promoted, even when it still answers.
    with pytest.raises(ValueError, match="candidate mol-pg2 is the leader being replaced"):
        _patroni.plan_failover(summary(healthy), "mol-pg2", "mol-pg2", 10485760, True)
    # A candidate that already leads is the desired state, forced or not.
    assert _patroni.plan_failover(summary(healthy), "mol-pg1", None, 10485760, True)[0] == "noop"


def test_failover_already_done_by_patroni_is_a_noop(healthy):
    # pg2 was the leader; Patroni promoted pg1 by itself.
    verdict, leader, reason = _patroni.plan_failover(summary(healthy), None, "mol-pg2", 10485760, False)
    assert (verdict, leader) == ("noop", "mol-pg1")
    assert reason == "mol-pg1 already took over from mol-pg2"


def test_failover_without_leader_picks_a_replica(healthy):
    s = summary(with_lag(without_leader(healthy), "mol-pg2", 4096))
    assert _patroni.plan_failover(s, None, "mol-pg1", 10485760, False)[:2] == ("failover", "mol-pg3")
    assert _patroni.plan_failover(s, "mol-pg2", "mol-pg1", 10485760, False)[:2] == ("failover", "mol-pg2")


def test_failover_refuses_when_every_replica_lags(healthy):
    raw = with_lag(with_lag(without_leader(healthy), "mol-pg2", 2 ** 30), "mol-pg3", 2 ** 30)
    with pytest.raises(ValueError, match="no healthy replica of cluster molecule within 10485760 bytes"):
        _patroni.plan_failover(summary(raw), None, None, 10485760, False)


# --- config diff --------------------------------------------------------------

def test_config_unchanged_when_patroni_stored_the_same_values():
    current = load("config.json")
    desired = {"ttl": 20, "synchronous_mode": False,
               "postgresql": {"use_pg_rewind": True, "parameters": {"max_connections": "200", "hot_standby": True}}}
    assert _patroni.config_changes(current, desired) == {}


def test_config_patch_holds_only_the_differences():
    current = load("config.json")
    desired = {"ttl": 20, "synchronous_mode": True,
               "postgresql": {"parameters": {"max_connections": 300, "shared_buffers": "128MB"}}}
    assert _patroni.config_changes(current, desired) == {
        "synchronous_mode": True, "postgresql": {"parameters": {"max_connections": 300}}}


# --- HTTP client ----------------------------------------------------------------

class Response(object):
    def __init__(self, status, body):
        self.status, self.body = status, body

    def getcode(self):
        return self.status

    def read(self):
        return self.body.encode()


def opener_for(answers):
    """open_url stand-in: URL -> Response, exception, or missing (refused)."""
    calls = []

    def opener(url, **kwargs):
        calls.append((kwargs.get("method"), url, kwargs))
        answer = answers.get(url)
        if answer is None:
            raise URLError("[Errno 111] Connection refused")
        if isinstance(answer, Exception):
            raise answer
        if answer.status >= 400:
            raise HTTPError(url, answer.status, "error", {}, io.BytesIO(answer.body.encode()))
        return answer
    opener.calls = calls
    return opener


def test_cluster_skips_a_dead_member(healthy):
    opener = opener_for({"http://b:8008/cluster": Response(200, json.dumps(healthy))})
    client = _patroni.PatroniClient(["http://a:8008", "http://b:8008/"], opener=opener)
    url, s = client.cluster()
    assert url == "http://b:8008" and s["leader"] == "mol-pg1"
    assert [c[1] for c in opener.calls] == ["http://a:8008/cluster", "http://b:8008/cluster"]


def test_no_member_answers_lists_every_reason():
    opener = opener_for({"http://b:8008/cluster": Response(503, "not json"),
                         "http://c:8008/cluster": Response(401, "not authenticated")})
    client = _patroni.PatroniClient(["http://a:8008", "http://b:8008", "http://c:8008"], opener=opener)
    with pytest.raises(_patroni.PatroniUnavailable) as err:
        client.cluster()
    text = str(err.value)
    assert text.startswith("no Patroni member answered GET /cluster; tried http://a:8008: ")
    assert "Connection refused" in text
    assert "http://b:8008: HTTP 503: not json" in text
    assert "http://c:8008: HTTP 401: wrong or missing REST API credentials" in text


def test_post_sends_json_with_basic_auth():
    opener = opener_for({"http://a:8008/switchover": Response(200, 'Successfully switched over to "mol-pg2"')})
    client = _patroni.PatroniClient(["http://a:8008"], username="patroni", password="secret", opener=opener)
    status, body = client.post("http://a:8008", "/switchover", {"leader": "mol-pg1", "candidate": "mol-pg2"})
    assert (status, body) == (200, 'Successfully switched over to "mol-pg2"')
    method, kwargs = opener.calls[0][0], opener.calls[0][2]
    assert method == "POST" and json.loads(kwargs["data"]) == {"leader": "mol-pg1", "candidate": "mol-pg2"}
    assert kwargs["force_basic_auth"] and kwargs["url_username"] == "patroni"


def test_http_errors_come_back_as_status_and_body():
    opener = opener_for({"http://a:8008/switchover": Response(412, "candidate does not exists")})
    client = _patroni.PatroniClient(["http://a:8008"], opener=opener)
    assert client.post("http://a:8008", "/switchover", {}) == (412, "candidate does not exists")


def test_transport_error_is_typed():
    client = _patroni.PatroniClient(["http://a:8008"], opener=opener_for({}))
    with pytest.raises(_patroni.PatroniError, match="POST http://a:8008/restart failed: .*Connection refused"):
        client.post("http://a:8008", "/restart", {})


def test_wait_for_counts_errors_as_not_yet():
    ticks = iter(range(100))
    answers = iter([_patroni.PatroniError("GET", "u", reason="down"), None, "done"])

    def check():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer
    value, waited = _patroni.wait_for(check, 10, clock=lambda: next(ticks), sleep=lambda s: None)
    assert value == "done" and waited > 0


def test_wait_for_gives_up_after_the_timeout():
    ticks = iter(range(100))
    value, waited = _patroni.wait_for(lambda: None, 3, clock=lambda: next(ticks), sleep=lambda s: None)
    assert value is None and waited >= 3


@pytest.mark.parametrize("config, expected", [
    ({}, False), ({"synchronous_mode": False}, False), ({"synchronous_mode": True}, True),
    ({"synchronous_mode": "quorum"}, True), ({"synchronous_mode": "off"}, False), (None, False),
])
def test_synchronous_enabled(config, expected):
    assert _patroni.synchronous_enabled(config) is expected


def test_switchover_blocker_only_in_synchronous_mode(healthy):
    view = summary(healthy)
    assert _patroni.switchover_blocker(view, "mol-pg3", False) is None
    assert _patroni.switchover_blocker(view, "mol-pg1", True) is None  # already leads
    reason = _patroni.switchover_blocker(view, "mol-pg3", True)
    assert reason == ("candidate mol-pg3 is not a synchronous standby (synchronous now: none), "
                      "and Patroni hands over only to one")
    sync = summary(load("cluster_sync.json"))
    assert _patroni.switchover_blocker(sync, "mol-pg3", True) is None
    assert "(synchronous now: mol-pg3)" in _patroni.switchover_blocker(sync, "mol-pg2", True)
