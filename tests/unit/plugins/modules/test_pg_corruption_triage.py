# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.modules import pg_corruption_triage

MEMBERS = [{"name": "pg1", "role": "leader", "state": "running"},
           {"name": "pg2", "role": "replica", "state": "streaming", "lag": 0}]
CLEAN = {"checks": [{"database": "fulexo", "check": "amcheck", "status": "passed"}]}
BAD = {"checks": [{"database": "fulexo", "check": "amcheck", "status": "failed", "message": "invalid page in block 3"}]}


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            pg_corruption_triage.main()
    return json.loads(capsys.readouterr().out)


def test_verdict_is_returned_and_nothing_changes(capsys):
    out = run(capsys, leader="pg1", members=MEMBERS, results={"pg1": BAD, "pg2": CLEAN})
    assert not out.get("failed") and out["changed"] is False
    assert out["physical"] == ["pg1"] and out["candidate"] == "pg2"


def test_refusal_fails_with_the_verdict(capsys):
    out = run(capsys, leader="pg1", members=MEMBERS, results={"pg1": BAD, "pg2": BAD})
    assert out["failed"] is True and out["msg"] == out["refusal"]
    assert out["physical"] == ["pg1", "pg2"]


def test_malformed_input_is_one_line(capsys):
    out = run(capsys, leader="pg7", members=MEMBERS, results={})
    assert out["failed"] is True
    assert out["msg"] == "pg_corruption_triage: the leader pg7 is not among the members pg1, pg2"
