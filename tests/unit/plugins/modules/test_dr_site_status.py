"""dr_site_status as a whole: what it asks each site, what it reports.

The HTTP layer is replaced by fake Patroni sites answering /cluster and the
leaders' /patroni, so the module's own logic (which URLs, the primary site
down, the verdict) runs unchanged.
"""

import copy
import json
import os
import types

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.module_utils import _patroni
from ansible_collections.fulexo.dr.plugins.modules import dr_site_status

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "dr_site")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


PRIMARY = fixture("patroni_primary.json")
STANDBY_LEADER = fixture("patroni_standby_leader.json")

PRIMARY_CLUSTER = {"scope": "fulexo", "members": [
    {"name": "pg1", "role": "leader", "state": "running", "api_url": "http://pg1:8008/patroni", "timeline": 4},
    {"name": "pg2", "role": "replica", "state": "streaming", "api_url": "http://pg2:8008/patroni", "timeline": 4,
     "lag": 0}]}
DR_CLUSTER = {"scope": "fulexo", "members": [
    {"name": "dr-pg1", "role": "standby_leader", "state": "streaming", "api_url": "http://dr1:8008/patroni",
     "timeline": 4}]}


class FakeSites(object):
    def __init__(self, primary_up=True, standby=None):
        self.answers = {"http://dr1:8008/cluster": DR_CLUSTER,
                        "http://dr1:8008/patroni": standby or STANDBY_LEADER}
        if primary_up:
            self.answers.update({"http://pg1:8008/cluster": PRIMARY_CLUSTER, "http://pg1:8008/patroni": PRIMARY})
        self.asked = []

    def request(self, method, url, body=None, timeout=None):
        self.asked.append((method, url))
        if method != "GET":
            raise AssertionError("dr_site_status must only read, it sent %s %s" % (method, url))
        if url not in self.answers:
            raise _patroni.PatroniError(method, url, reason="[Errno 113] No route to host")
        return 200, copy.deepcopy(self.answers[url])


def run(monkeypatch, capsys, fake, **args):
    monkeypatch.setattr(_patroni.PatroniClient, "request", lambda self, *a, **k: fake.request(*a, **k))
    base = dict(urls=["http://dr1:8008"], primary_urls=["http://pg1:8008"])
    base.update(args)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            dr_site_status.main()
    return json.loads(capsys.readouterr().out)


def test_a_healthy_primary_site_is_reported_and_activation_refused(monkeypatch, capsys):
    fake = FakeSites()
    result = run(monkeypatch, capsys, fake)
    assert not result["changed"] and not result.get("failed")
    assert result["primary_state"] == "writable" and result["primary"]["name"] == "pg1"
    assert (result["lag_bytes"], result["receive_lag_bytes"], result["lag_seconds"]) == (0, 0, 0.0)
    assert result["wal_source"] == "streaming" and result["standby"]["name"] == "dr-pg1"
    assert result["activation"]["action"] == "refuse"
    assert "primary site is healthy" in result["activation"]["reason"]
    assert all(method == "GET" for method, _url in fake.asked)


def test_the_primary_site_gone_is_down_and_the_dr_site_close_behind_may_be_activated(monkeypatch, capsys):
    replayed_at = 1796572892.5  # the standby leader's replayed_timestamp
    monkeypatch.setattr(dr_site_status, "time", types.SimpleNamespace(time=lambda: replayed_at + 7.5))
    result = run(monkeypatch, capsys, FakeSites(primary_up=False), primary_urls=["http://pg1:8008", "http://pg2:8008"])
    assert result["primary_state"] == "down" and result["primary"] is None
    assert result["primary_errors"] == ["http://pg1:8008: [Errno 113] No route to host",
                                        "http://pg2:8008: [Errno 113] No route to host"]
    assert (result["lag_bytes"], result["lag_seconds"]) == (None, 7.5)
    assert result["lag_basis"] == "last replayed transaction"
    assert result["activation"]["action"] == "activate" and not result["activation"]["forced"]
    # Half an hour since the last replayed transaction: past the 15-minute RPO, only force activates.
    monkeypatch.setattr(dr_site_status, "time", types.SimpleNamespace(time=lambda: replayed_at + 1800))
    late = run(monkeypatch, capsys, FakeSites(primary_up=False))
    assert late["activation"]["action"] == "refuse"
    assert "too far behind: 1800.0 s > 900 s allowed" in late["activation"]["reason"]
    forced = run(monkeypatch, capsys, FakeSites(primary_up=False), force=True)
    assert forced["activation"]["action"] == "activate" and forced["activation"]["forced"]


def test_a_dr_site_that_does_not_answer_fails_with_each_url(monkeypatch, capsys):
    fake = FakeSites()
    del fake.answers["http://dr1:8008/cluster"]
    result = run(monkeypatch, capsys, fake, urls=["http://dr1:8008", "http://dr2:8008"])
    assert result["failed"]
    assert result["msg"].startswith("dr_site_status: the DR site does not answer: no Patroni member answered "
                                    "GET /cluster; tried http://dr1:8008: [Errno 113]")
    assert "http://dr2:8008" in result["msg"]


def test_a_standby_leader_whose_status_does_not_answer_is_refused_with_the_reason(monkeypatch, capsys):
    fake = FakeSites()
    del fake.answers["http://dr1:8008/patroni"]
    result = run(monkeypatch, capsys, fake, force=True)
    assert result["standby"] is None and result["activation"]["action"] == "refuse"
    assert result["activation"]["reason"].endswith("(its leader's status: http://dr1:8008/patroni: [Errno 113] "
                                                   "No route to host)")


def test_no_dr_site_urls_is_refused_before_any_request(monkeypatch, capsys):
    fake = FakeSites()
    result = run(monkeypatch, capsys, fake, urls=[])
    assert result["failed"] and "urls is empty" in result["msg"] and fake.asked == []


def test_the_archive_listing_is_judged_and_a_bad_segment_size_refused(monkeypatch, capsys):
    replayed_at = 1796572892.5
    monkeypatch.setattr(dr_site_status, "time", types.SimpleNamespace(time=lambda: replayed_at + 7.5))
    # The standby leader replayed up to 84017152 (0/5020000), inside segment 5.
    result = run(monkeypatch, capsys, FakeSites(primary_up=False),
                 archive_wal_names=["000000040000000000000005.lz4", "000000040000000000000006.lz4"])
    assert result["archive"]["newest_segment"] == "000000040000000000000006"
    assert not result["archive"]["caught_up"]
    assert result["activation"]["action"] == "refuse"
    assert "has not replayed everything the offsite archive holds" in result["activation"]["reason"]
    assert run(monkeypatch, capsys, FakeSites())["archive"] is None
    bad = run(monkeypatch, capsys, FakeSites(), wal_segment_bytes=3 << 20)
    assert bad["failed"] and "wal_segment_bytes 3145728 is not a WAL segment size" in bad["msg"]
