"""The drill's notices reach a webhook: the role's notify tasks, fed by the
fulexo.dr.drill_notice filter, POST the rendered notice to a receiver on
loopback; a receiver that refuses makes a required notice fail the run and
an optional one be reported, not hidden."""

import http.server
import json
import os
import subprocess
import sys
import threading

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _drill

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

PLAY = """
- name: Send a drill notice
  hosts: localhost
  connection: local
  gather_facts: false
  roles:
    - role: fulexo.dr.dr
  tasks:
    - name: Notify
      ansible.builtin.include_role:
        name: fulexo.dr.dr
        tasks_from: notify
      vars:
        dr_notice: "{{ context | fulexo.dr.drill_notice(event, dr_incident_levels, dr_drill_notify_levels) }}"
"""


@pytest.fixture
def receiver():
    """An HTTP server on loopback that keeps every POST body; answers with `status`."""
    received, state = [], {"status": 200}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append({"path": self.path, "type": self.headers.get("Content-Type"), "body": body})
            self.send_response(state["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/hook" % server.server_port, received, state
    server.shutdown()


def run_play(tmp_path, url, event, context, *extra):
    play = tmp_path / "notify.yml"
    play.write_text(PLAY)
    extra_vars = tmp_path / "vars.json"
    extra_vars.write_text(json.dumps({"event": event, "context": context, "dr_drill_notify_webhook_url": url,
                                      "dr_results_dir": str(tmp_path / "results"),
                                      "ansible_python_interpreter": sys.executable}))
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(REPO_ROOT, "ansible.cfg"), ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([PLAYBOOK, "-i", "localhost,", str(play), "-e", "@%s" % extra_vars] + list(extra),
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_start_notice_arrives_as_json_with_the_plans_template(tmp_path, receiver):
    url, received, _state = receiver
    context = {"drill": "dr-drill", "estate": "lab", "started": "2026-12-02T05:00:00Z",
               "steps": ["etcd leader loss (primary site)"], "window_minutes": 30}
    run = run_play(tmp_path, url, "started", context)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert len(received) == 1 and received[0]["path"] == "/hook"
    assert received[0]["type"].startswith("application/json")
    notice = json.loads(received[0]["body"])
    assert notice["event"] == "started" and notice["level"] == "P3_minor"
    assert notice["notify"] == ["On-call Engineer"] and notice["channel"] == "slack"
    assert "affecting etcd leader loss (primary site)." in notice["customer_notice_rehearsal"]
    assert "Expected Resolution: 2026-12-02T05:30:00.000000Z" in notice["customer_notice_rehearsal"]


def test_failed_drill_notice_goes_to_the_major_level(tmp_path, receiver):
    url, received, _state = receiver
    result = _drill.build_result("dr-drill", "2026-12-02T05:00:00Z", "2026-12-02T05:09:00Z", [
        {"name": "database primary crash", "status": "passed", "tier": "critical",
         "measured": {"rto_seconds": 4000, "acknowledged_writes_lost": 0}}],
        {"rto_seconds": {"critical": 3600}, "rpo_seconds": {"database": 900}})
    run = run_play(tmp_path, url, "finished", dict(result, estate="lab"))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    notice = json.loads(received[0]["body"])
    assert notice["outcome"] == "failed" and notice["level"] == "P2_major"
    assert notice["failed_steps"] == ["database primary crash (RTO critical 4000.0 s vs 3600 s: MISSED)"]
    assert "0 acknowledged writes lost" in notice["summary"]
    assert "All systems are operational" not in notice["text"]


def test_a_refused_notice_fails_only_when_it_must_arrive(tmp_path, receiver):
    url, received, state = receiver
    state["status"] = 500
    context = {"drill": "dr-drill", "estate": "lab", "started": "2026-12-02T05:00:00Z", "steps": []}
    optional = run_play(tmp_path, url, "started", context)
    assert optional.returncode == 0, optional.stdout[-3000:]
    assert "the started notice did not reach: webhook" in optional.stdout
    required = run_play(tmp_path, url, "started", context, "-e", "dr_notice_must_arrive=true")
    assert required.returncode != 0
    assert "Send the notice to the webhook" in required.stdout and "500" in required.stdout
    assert len(received) == 2
