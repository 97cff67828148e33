"""tests/lab/drill-notices.sh: the drill job's webhook receiver on loopback
and its check pass only when a start notice and an end notice with the
expected outcome arrived."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WRAPPER = os.path.join(HERE, "drill-notices.sh")

# Stands in for `make drill`: posts the given notices to the webhook that
# drill-notices.sh names in DRILL_ARGS, then exits with the given status.
FAKE_DRILL = r"""
import json, os, sys, urllib.request
url = os.environ["DRILL_ARGS"].split("dr_drill_notify_webhook_url=", 1)[1]
for notice in json.loads(sys.argv[1]):
    request = urllib.request.Request(url, data=json.dumps(notice).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).close()
sys.exit(int(sys.argv[2]))
"""

STARTED = {"event": "started", "subject": "[DR drill, lab] dr-drill started", "text": "t", "level": "P3_minor"}
PASSED = {"event": "finished", "outcome": "passed", "subject": "[DR drill, lab] dr-drill PASSED", "text": "t",
          "level": "P3_minor", "notify": ["On-call Engineer"]}


def run(notices, drill_rc=0):
    return subprocess.run([WRAPPER, sys.executable, "-c", FAKE_DRILL, json.dumps(notices), str(drill_rc)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_a_drill_that_told_both_passes():
    out = run([STARTED, PASSED])
    assert out.returncode == 0, out.stdout + out.stderr
    assert "drill notice received: [DR drill, lab] dr-drill PASSED (P3_minor, notify On-call Engineer)" in out.stdout


def test_a_drill_that_told_nothing_fails():
    out = run([])
    assert out.returncode == 1
    assert "expected a start and an end notice, got none" in out.stdout


def test_an_end_notice_with_another_outcome_fails():
    out = run([STARTED, dict(PASSED, outcome="failed")])
    assert out.returncode == 1
    assert "the end notice says 'failed'" in out.stdout


def test_a_failed_drill_keeps_its_exit_status():
    out = run([STARTED], drill_rc=2)
    assert out.returncode == 2
