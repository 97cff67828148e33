"""patroni_config: only the difference is PATCHed; pending restarts roll replicas first."""

import copy
import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.module_utils import _patroni
from ansible_collections.fulexo.dr.plugins.modules import patroni_config

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "patroni")


def load(name):
    with open(os.path.join(FIX, name)) as handle:
        return json.load(handle)


class FakePatroni(object):
    """Members flag pending_restart once a parameter changed; /restart clears it."""

    def __init__(self):
        self.config = load("config.json")
        self.cluster = load("cluster_healthy.json")
        self.calls = []

    def request(self, method, url, body=None, timeout=None):
        self.calls.append((method, url, body))
        if method == "GET" and url.endswith("/config"):
            return 200, copy.deepcopy(self.config)
        if method == "GET" and url.endswith("/cluster"):
            return 200, copy.deepcopy(self.cluster)
        if method == "PATCH":
            self.config["postgresql"]["parameters"].update(body.get("postgresql", {}).get("parameters", {}))
            for m in self.cluster["members"]:
                m["pending_restart"] = True
            return 200, copy.deepcopy(self.config)
        if method == "POST" and url.endswith("/restart"):
            for m in self.cluster["members"]:
                if url.startswith(m["api_url"].rsplit("/patroni", 1)[0]):
                    m.pop("pending_restart", None)
            return 200, "restarted successfully"
        raise AssertionError("unexpected %s %s" % (method, url))


def run(monkeypatch, capsys, fake, **args):
    monkeypatch.setattr(_patroni.PatroniClient, "request", lambda self, *a, **k: fake.request(*a, **k))
    base = dict(urls=["http://a:8008"], username="patroni", password="secret", settle=2, restart_timeout=5)
    base.update(args)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            patroni_config.main()
    return json.loads(capsys.readouterr().out)


def test_nothing_to_do_sends_nothing(monkeypatch, capsys):
    fake = FakePatroni()
    result = run(monkeypatch, capsys, fake, config={"ttl": 20, "postgresql": {"parameters": {"max_connections": 200}}})
    assert not result["changed"] and result["patch"] == {} and result["restarted"] == []
    assert [c[0] for c in fake.calls if c[0] != "GET"] == []


def test_restart_needing_change_rolls_replicas_first(monkeypatch, capsys):
    fake = FakePatroni()
    result = run(monkeypatch, capsys, fake, config={"postgresql": {"parameters": {"max_connections": 300}}})
    assert result["changed"]
    assert result["patch"] == {"postgresql": {"parameters": {"max_connections": 300}}}
    assert result["restarted"] == ["mol-pg2", "mol-pg3", "mol-pg1"]
    posts = [c[1] for c in fake.calls if c[0] == "POST"]
    assert posts == ["http://172.22.0.3:8008/restart", "http://172.22.0.4:8008/restart",
                     "http://172.22.0.2:8008/restart"]


def test_check_mode_only_reports(monkeypatch, capsys):
    fake = FakePatroni()
    result = run(monkeypatch, capsys, fake, config={"synchronous_mode": True}, _ansible_check_mode=True)
    assert result["changed"] and result["patch"] == {"synchronous_mode": True}
    assert [c[0] for c in fake.calls] == ["GET"]


def test_lowering_a_standby_minimum_restarts_the_leader_first(monkeypatch, capsys):
    fake = FakePatroni()
    result = run(monkeypatch, capsys, fake, config={"postgresql": {"parameters": {"max_connections": 100}}})
    assert result["restarted"] == ["mol-pg1", "mol-pg2", "mol-pg3"]


def test_standby_minimum_direction():
    current = load("config.json")
    assert _patroni.lowers_standby_minimum(current, {"postgresql": {"parameters": {"max_wal_senders": "5"}}})
    assert not _patroni.lowers_standby_minimum(current, {"postgresql": {"parameters": {"max_connections": 300}}})
    assert not _patroni.lowers_standby_minimum(current, {"postgresql": {"parameters": {"shared_buffers": "64MB"}}})
    assert not _patroni.lowers_standby_minimum(current, {"ttl": 10})
