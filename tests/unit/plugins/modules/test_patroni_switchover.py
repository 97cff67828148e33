"""patroni_switchover as a whole: which requests it sends, what it reports.

The HTTP layer is replaced by a small fake Patroni that answers /cluster
from the recorded fixture and moves the leader when asked, so the module's
own logic (plan, POST, wait, timing, refusal) runs unchanged.
"""

import copy
import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.module_utils import _patroni
from ansible_collections.fulexo.dr.plugins.modules import patroni_switchover

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "patroni", "cluster_healthy.json")


class FakePatroni(object):
    def __init__(self, post_status=200, synchronous_mode=False, sync_after=None):
        with open(FIX) as handle:
            self.state = json.load(handle)
        self.posts = []
        self.post_status = post_status
        self.config = {"synchronous_mode": synchronous_mode}
        # (member, reads of /cluster after which it shows as a quorum standby)
        self.sync_after = sync_after
        self.cluster_reads = 0

    def request(self, method, url, body=None, timeout=None):
        if method == "GET" and url.endswith("/config"):
            return 200, copy.deepcopy(self.config)
        if method == "GET" and url.endswith("/cluster"):
            self.cluster_reads += 1
            if self.sync_after and self.cluster_reads > self.sync_after[1]:
                for m in self.state["members"]:
                    if m["name"] == self.sync_after[0]:
                        m["role"] = "quorum_standby"
                self.sync_after = None
            return 200, copy.deepcopy(self.state)
        if method == "POST":
            self.posts.append((url, body))
            if self.post_status != 200:
                return self.post_status, "not authenticated"
            for m in self.state["members"]:
                promoted = m["name"] == body["candidate"]
                m["role"] = "leader" if promoted else "replica"
                m["state"] = "running" if promoted else "streaming"
                m["timeline"] += 1
            return 200, 'Successfully switched over to "%s"' % body["candidate"]
        raise AssertionError("unexpected %s %s" % (method, url))


def run(monkeypatch, fake, **args):
    monkeypatch.setattr(_patroni.PatroniClient, "request", lambda self, *a, **k: fake.request(*a, **k))
    base = dict(urls=["http://a:8008"], username="patroni", password="secret", wait_timeout=5)
    base.update(args)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            patroni_switchover.main()


@pytest.fixture
def output(capsys):
    return lambda: json.loads(capsys.readouterr().out)


def test_switchover_to_a_named_replica(monkeypatch, output):
    fake = FakePatroni()
    run(monkeypatch, fake, candidate="mol-pg3")
    result = output()
    assert fake.posts == [("http://a:8008/switchover", {"leader": "mol-pg1", "candidate": "mol-pg3"})]
    assert result["changed"] and not result.get("failed")
    assert (result["old_leader"], result["new_leader"]) == ("mol-pg1", "mol-pg3")
    assert (result["timeline_before"], result["timeline"]) == (1, 2)
    assert 0 <= result["seconds"] < 5


def test_candidate_that_already_leads_sends_nothing(monkeypatch, output):
    fake = FakePatroni()
    run(monkeypatch, fake, candidate="mol-pg1")
    result = output()
    assert fake.posts == [] and not result["changed"]
    assert result["reason"] == "mol-pg1 already leads cluster molecule"


def test_unknown_candidate_is_refused_without_a_request(monkeypatch, output):
    fake = FakePatroni()
    run(monkeypatch, fake, candidate="pg9")
    result = output()
    assert fake.posts == [] and result["failed"] and not result["changed"]
    assert result["msg"].startswith("patroni_switchover refused: candidate pg9 is not a member")
    assert "\n" not in result["msg"]


def test_wrong_credentials_change_nothing(monkeypatch, output):
    fake = FakePatroni(post_status=401)
    run(monkeypatch, fake, candidate="mol-pg2")
    result = output()
    assert result["failed"] and not result["changed"]
    assert "wrong or missing REST API credentials" in result["msg"]
    assert result["new_leader"] == "mol-pg1"


def test_check_mode_plans_without_a_request(monkeypatch, output):
    fake = FakePatroni()
    run(monkeypatch, fake, _ansible_check_mode=True)
    result = output()
    assert fake.posts == [] and result["changed"]
    assert result["candidate"] == "mol-pg2"


def test_failover_refused_while_the_leader_is_healthy(monkeypatch, output):
    fake = FakePatroni()
    run(monkeypatch, fake, action="failover")
    result = output()
    assert fake.posts == [] and result["failed"]
    assert "has a healthy leader (mol-pg1)" in result["msg"]


def test_switchover_waits_for_the_candidate_to_join_the_quorum(monkeypatch, output):
    # Just restarted: streaming, but not yet in the synchronous set Patroni hands over to.
    fake = FakePatroni(synchronous_mode="quorum", sync_after=("mol-pg3", 3))
    run(monkeypatch, fake, candidate="mol-pg3")
    result = output()
    assert not result.get("failed"), result
    assert fake.posts == [("http://a:8008/switchover", {"leader": "mol-pg1", "candidate": "mol-pg3"})]
    assert fake.cluster_reads > 4


def test_candidate_that_never_becomes_synchronous_is_refused_without_a_request(monkeypatch, output):
    fake = FakePatroni(synchronous_mode=True)
    run(monkeypatch, fake, candidate="mol-pg3", wait_timeout=1)
    result = output()
    assert result["failed"] and result["changed"] is False and fake.posts == []
    assert "mol-pg3 is not a synchronous standby" in result["msg"] and "waited 1 s" in result["msg"]
    assert result["new_leader"] == "mol-pg1"
