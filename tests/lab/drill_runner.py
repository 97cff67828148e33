#!/usr/bin/env python
"""Run the drill's monthly profile through ansible-runner, the engine AWX
runs job templates with (and on stock Ansible, as AWX does: the lab's other
jobs run under Mitogen's strategy), and judge it from the runner's artifacts only.

    drill_runner.py REPO

As an AWX job template would: the project directory is the repository, the
inventory the lab's, every input an extra variable (no prompt can be
answered), nothing on stdin. The run must end "successful" with rc 0, its
job events (in the runner's artifacts directory) must hold the report task's
result, and that result and the report it names must agree with each other
and with the timeline (check_drill_report.py).
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import ansible_runner

REPORT_TASK = "Judge the steps against the objectives and write the report"
# Every step of the monthly profile runs on the lab (switchover, application, restore).
NOT_RUN = []
OUTCOME = "passed"


def main():
    repo = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    private = tempfile.mkdtemp(prefix="drill-runner-")
    results = os.path.join(private, "results")
    venv_bin = os.path.dirname(sys.executable)
    started = time.time()
    run = ansible_runner.run(
        private_data_dir=private,
        project_dir=repo,
        playbook="dr-drill.yml",
        inventory=os.path.join(repo, "inventories", "lab", "hosts.yml"),
        extravars={"dr_drill_profile": "monthly", "dr_drill_allow_incomplete": True},
        envvars={
            "FULEXO_RESULTS_DIR": results,
            # Stock Ansible, as AWX runs it: the lab's other jobs run under Mitogen's strategy.
            "ANSIBLE_STRATEGY": "linear",
            "ANSIBLE_CONFIG": os.path.join(repo, "ansible.cfg"),
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(repo, ".cache", "collections"),
            "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
        },
        quiet=True,
    )
    took = time.time() - started
    problems = []
    if run.status != "successful" or run.rc != 0:
        problems.append("the runner says %s, rc %s" % (run.status, run.rc))
    events_dir = os.path.join(private, "artifacts", run.config.ident, "job_events")
    if not os.path.isdir(events_dir) or not os.listdir(events_dir):
        problems.append("no job events in the runner's artifacts (%s)" % events_dir)
    report = [e["event_data"]["res"] for e in run.events
              if e.get("event") in ("runner_on_ok", "runner_on_failed")
              and e.get("event_data", {}).get("task") == REPORT_TASK]
    if not report:
        problems.append("the artifacts hold no result of the task %r" % REPORT_TASK)
    else:
        res = report[-1]
        if res.get("outcome") != OUTCOME:
            problems.append("the report task's outcome is %r, expected %r" % (res.get("outcome"), OUTCOME))
        if not os.path.isfile(res.get("json_path", "")):
            problems.append("the report the task names (%s) does not exist" % res.get("json_path"))
        else:
            with open(res["json_path"]) as handle:
                written = json.load(handle)
            if written["outcome"] != res["outcome"] or written["started"] != res["result"]["started"]:
                problems.append("the report file and the task's result disagree")
            ran = sorted(s["name"] for s in written["steps"] if s["status"] != "not_run")
            print("drill through ansible-runner: %s in %.0f s; ran %s" % (written["outcome"], took, ", ".join(ran)))
    check = subprocess.run([sys.executable, os.path.join(repo, "tests", "lab", "check_drill_report.py"), results,
                            "--outcome", OUTCOME, "--profile", "monthly"]
                           + [arg for name in NOT_RUN for arg in ("--not-run", name)], check=False)
    if check.returncode:
        problems.append("the monthly report is not consistent (above)")
    for problem in problems:
        print("drill through ansible-runner: FAIL %s" % problem)
    if problems:
        sys.stdout.write(run.stdout.read()[-6000:] if run.stdout else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
