# -*- coding: utf-8 -*-
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.modules import drill_preflight


def run(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            drill_preflight.main()
    return json.loads(capsys.readouterr().out)


ETCD = {"has_quorum": True, "member_count": 3, "healthy_count": 3, "failure_tolerance": 1, "members": []}


def test_whole_lab_passes_and_changes_nothing(capsys):
    result = run(capsys, estate="lab", etcd=[{"name": "primary site", "info": ETCD}])
    assert result["healthy"] is True and result["changed"] is False and not result.get("failed")


def test_refusal_is_one_line_with_every_problem(capsys):
    result = run(capsys, estate="", etcd=[{"name": "primary site", "info": {"failed": True, "msg": "timed out"}}],
                 minio={"unreachable_targets": ["offsite"], "failed_total": 0})
    assert result["failed"] is True and result["healthy"] is False
    assert len(result["problems"]) == 3
    assert result["msg"].startswith("the estate is not whole, so nothing was broken: ")
    assert "etcd primary site: timed out" in result["msg"] and "site(s) offsite do not answer" in result["msg"]


def test_unknown_estate_is_refused_by_the_argument_spec(capsys):
    result = run(capsys, estate="prod")
    assert result["failed"] is True and "estate" in result["msg"]
