#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: drill_report
short_description: Judge a DR drill's measured steps against the plan's objectives and write its report
version_added: 0.1.0
description:
  - Takes the steps a drill ran, each with its timestamps, status and what it
    measured, and the plan's RTO/RPO objectives.
  - Every step must say its status; a step without one is refused, never
    counted as passed.
  - A step whose measured RTO or RPO exceeds the objective for its tier or
    data class fails, whatever it reported itself. So does a step with a
    check (its own objective, for example "database writable again" within
    30 s) whose measurement is over the limit or missing.
  - The drill's outcome is V(failed) when a step failed, V(incomplete) when a
    step was not run (a drill that skipped steps has not shown the plan
    works), and V(passed) otherwise.
  - Writes C(<name>-<timestamp>.json) (the result), C(.md) (the plan's
    incident-report template), and C(.svg) (a timeline of the steps) to
    O(results_dir) on the host it runs on, normally the controller, and
    appends one line per drill to C(<name>-history.jsonl) there.
  - From the whole history it reports the drills run, the drill success rate,
    the MTTR, the MTBF, the backup success rate (from O(backup_results)) and
    how much of this month's SLA downtime budget is spent.
  - The JSON layout (schema version 2) is described in the collection's
    C(docs/drill-report-schema.md).
author: Fulexo SRE (@fulexo-sre)
options:
  name:
    description: Drill name, used in file names (no C(/)).
    type: str
    required: true
  scenario:
    description: What the drill simulated, in a sentence.
    type: str
    default: ""
  started:
    description: When the drill started, ISO 8601 with a time zone, or epoch seconds.
    type: raw
    required: true
  finished:
    description: When it finished; defaults to now.
    type: raw
  steps:
    description:
      - The steps, in order. Each is a dict with C(name) and C(status)
        (V(passed), V(failed) or V(not_run); required), optional
        C(started)/C(finished) (ISO 8601 with a time zone, or epoch seconds),
        C(detail), C(tier) (the RTO class of C(measured.rto_seconds)),
        C(data_class) (the RPO class of C(measured.rpo_seconds)), C(measured)
        and C(checks).
      - With O(probe_summary), a step may also carry C(probe_limit_seconds)
        (the longest the write probe may wait for an acknowledgement during
        the step) and C(probe_lost_limit) (acknowledged writes the step may
        lose; default O(lost_writes_limit)).
      - C(measured) is a dict of what the step measured. The report reads
        C(rto_seconds), C(rpo_seconds), C(unavailable_seconds) (how long
        users could not use the service), C(acknowledged_writes_lost)
        (acknowledged writes the recovered service no longer has),
        C(acknowledged_writes_checked) (how many acknowledged writes were
        looked for) and C(lost_span_seconds) (the time span the lost writes
        cover); other keys are kept in the result as they are.
      - C(checks) is a list of the step's own objectives, each a dict with
        C(name) (what is checked, for example V(database writable again)),
        C(measured) (a number; missing or null means not measured, which
        fails the check), C(limit) (a number), C(unit) (V(s), V(writes),
        V(bytes), ...) and optional C(recovery) (true for the one check in
        seconds that is the step's recovery time).
      - A step's recovery time (used for the MTTR) is its C(recovery) check
        when it has one, else C(measured.rto_seconds).
    type: list
    elements: dict
    required: true
  objectives:
    description:
      - Objectives as C(rto_seconds) and C(rpo_seconds) dicts keyed by tier and
        data class; normally the C(dr_objectives) fact set by the fulexo.dr.dr role.
    type: dict
    required: true
  results_dir:
    description: Directory for the report files and the history; created when missing.
    type: path
    required: true
  fail_on_failed_step:
    description: Fail (after writing the report) when the outcome is V(failed).
    type: bool
    default: true
  allow_incomplete:
    description:
      - Accept an V(incomplete) outcome. When false, the module fails after
        writing the report and names the steps that were not run and why.
    type: bool
    default: false
  probe_summary:
    description:
      - Path, on the host the module runs on, of the summary the collection's
        write probe (C(dr_write_probe.py)) wrote after running through the
        whole drill.
      - Every step with C(started) and C(finished) then gets the probe's view
        of its span in C(measured) (C(unavailable_seconds), the longest wait
        for an acknowledged write; C(acknowledged_writes_checked);
        C(acknowledged_writes_lost) and C(lost_span_seconds), the real RPO);
        a step with C(probe_limit_seconds) gets two checks from it, the
        longest wait (its recovery time) and the writes lost.
      - One more step judges the whole drill, gaps between steps included, on
        acknowledged writes lost (at most O(lost_writes_limit)) and on members
        accepting writes at once (never more than one, when the probe watched the members).
      - A missing or unreadable summary fails that step and every check that needed the probe.
    type: path
  user_probe_summary:
    description:
      - Path, on the host the module runs on, of the summary the collection's
        user-facing probe (C(dr_http_probe.py)) wrote after asking the
        application's health through its load balancer for the whole drill.
      - Every step with C(started) and C(finished) then also gets, in
        C(measured), the requests sent in its span (C(user_requests)), those
        that failed (C(user_requests_failed)) and the longest failing span
        (C(user_unavailable_seconds)); a step that measured them itself keeps
        its own. The report's impact gives the whole drill's figures, from the
        probe's own record (not summed over steps, which may overlap).
      - An unreadable summary is reported as a warning, not judged.
    type: path
  lost_writes_limit:
    description: Acknowledged writes the drill may lose (0 with synchronous or quorum commit).
    type: int
    default: 0
  backup_results:
    description:
      - Backup runs to compute the backup success rate from, each a dict with
        C(finished) (ISO 8601 with a time zone, or epoch seconds) and C(ok)
        (true or false). Without it the report says no backup results were given.
    type: list
    elements: dict
  sla_percent:
    description:
      - The uptime commitment, in percent. The monthly downtime budget is
        (100 - O(sla_percent)) % of a 30-day month; 99.9 gives 43.2 minutes.
    type: float
    default: 99.9
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode the result, report and timeline are computed and returned (the history is read, the
      drill counted in the metrics), but no file is written and the history is not appended to.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - The history file is only ever appended to. A line that cannot be read is
    left out of the metrics with a warning; a drill whose start time appears
    on more than one line counts once, the last line winning.
"""

EXAMPLES = r"""
- name: Write the drill report
  fulexo.dr.drill_report:
    name: dr-drill
    scenario: loss of the etcd leader
    started: "{{ drill_started }}"
    steps: "{{ drill_steps }}"
    objectives: "{{ dr_objectives }}"
    results_dir: "{{ dr_results_dir }}"
  delegate_to: localhost

- name: Report a failover step with its own objectives and the backups of the month
  fulexo.dr.drill_report:
    name: failover-drill
    started: "2026-11-26T10:00:00Z"
    finished: "2026-11-26T10:05:00Z"
    steps:
      - name: database primary crash
        status: passed
        tier: critical
        started: "2026-11-26T10:01:00Z"
        finished: "2026-11-26T10:01:40Z"
        measured:
          rto_seconds: 14.2
          unavailable_seconds: 14.2
          acknowledged_writes_lost: 0
          acknowledged_writes_checked: 1520
        checks:
          - name: database writable again
            measured: 14.2
            limit: 30
            unit: s
            recovery: true
          - name: acknowledged writes lost
            measured: 0
            limit: 0
            unit: writes
      - name: restore test
        status: not_run
        detail: no backup reachable
    objectives: "{{ dr_objectives }}"
    results_dir: /var/lib/fulexo/drills
    allow_incomplete: true
    backup_results: "{{ backup_runs }}"
  delegate_to: localhost
"""

RETURN = r"""
outcome:
  description: V(passed), V(failed) or V(incomplete).
  returned: always
  type: str
  sample: incomplete
result:
  description:
    - The full result as written to the JSON file, described field by field in C(docs/drill-report-schema.md).
  returned: always
  type: dict
  contains:
    schema_version:
      description: Version of this layout; 2.
      type: int
      sample: 2
    drill:
      description: The drill's name.
      type: str
      sample: dr-drill
    scenario:
      description: What the drill simulated.
      type: str
      sample: quarterly DR drill on the lab estate
    started:
      description: Drill start, UTC, ISO 8601 with microseconds.
      type: str
      sample: "2026-11-26T10:00:00.000000Z"
    finished:
      description: Drill end, UTC.
      type: str
      sample: "2026-11-26T10:10:00.000000Z"
    duration_seconds:
      description: Seconds from start to end.
      type: float
      sample: 600.0
    outcome:
      description: V(passed), V(failed) or V(incomplete).
      type: str
      sample: passed
    counts:
      description: Number of steps per final status (V(passed), V(failed), V(not_run)).
      type: dict
      sample: {"passed": 4, "failed": 0, "not_run": 1}
    steps:
      description:
        - The judged steps, in order. Each has C(name), C(status) (final), C(reported_status) (what the step
          said), C(detail), C(measured), C(verdicts), C(recovery_seconds) (null when none), and when timed
          C(started), C(finished), C(duration_seconds), C(start_offset_seconds) and C(end_offset_seconds)
          (seconds since the drill started).
        - Each verdict has C(objective) (V(RTO), V(RPO) or V(check)), C(name), C(class) (tier or data class,
          null for checks), C(measured) (null when not measured), C(limit), C(unit), C(met) and C(result)
          (V(met), V(missed) or V(not measured)); check verdicts also have C(recovery).
      type: list
      elements: dict
    objectives:
      description: The objectives the steps were judged against, as given.
      type: dict
    impact:
      description:
        - What the drill did to users and data, from the steps' measurements. C(data_loss) is V(yes), V(no)
          or V(not_measured); C(acknowledged_writes_lost), C(acknowledged_writes_checked), C(lost_span_seconds),
          C(lost_span_complete), C(loss_measured_by) (step names), C(unavailable_seconds) and
          C(unavailability_measured_by) (step names); numbers are null when not measured.
        - C(users) is what the user-facing probe saw over the whole drill, null when it did not run. It has
          C(url), C(requests), C(failed), C(failing_seconds) (the failing spans added up) and
          C(longest_failure_seconds).
      type: dict
    history:
      description:
        - Metrics over every drill in the history, this one included. C(drills_run), C(drills_passed),
          C(drills_failed), C(drills_incomplete), C(drill_success_rate) (passed / run, 0 to 1), C(first_drill),
          C(mttr_seconds) (mean recovery time of every step in the history that reported one) and
          C(mttr_samples), C(mtbf_seconds) (mean time between the starts of failed drills; null with fewer than
          two), C(backups), C(sla), C(skipped_lines) and C(duplicate_lines).
        - C(backups) has C(given), C(count), C(ok), C(failed), C(success_rate) (null when none given),
          C(first_finished), C(last_finished) and C(last_ok).
        - C(sla) has C(target_percent), C(month) (UTC, of the drill's start), C(budget_seconds),
          C(spent_seconds) (user-facing unavailability of this month's drills), C(remaining_seconds),
          C(exceeded), C(drills_this_month) and C(drills_without_unavailability).
      type: dict
    files:
      description: Names of the files written for this drill, relative to O(results_dir) (keys C(json),
        C(markdown), C(svg), C(history)).
      type: dict
      sample: {"json": "dr-drill-20261126T100000Z.json", "markdown": "dr-drill-20261126T100000Z.md",
               "svg": "dr-drill-20261126T100000Z.svg", "history": "dr-drill-history.jsonl"}
json_path:
  description: Path of the JSON result (not written in check mode).
  returned: always
  type: str
  sample: results/dr-drill-20261126T102400Z.json
markdown_path:
  description: Path of the Markdown report (not written in check mode).
  returned: always
  type: str
  sample: results/dr-drill-20261126T102400Z.md
svg_path:
  description: Path of the SVG timeline (not written in check mode).
  returned: always
  type: str
  sample: results/dr-drill-20261126T102400Z.svg
history_path:
  description: Path of the history file (not appended to in check mode).
  returned: always
  type: str
  sample: results/dr-drill-history.jsonl
report:
  description: The Markdown report text.
  returned: always
  type: str
"""

import datetime
import json
import os
import tempfile

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._drill import (
    DrillInputError,
    apply_probe,
    apply_user_probe,
    build_result,
    failure_message,
    history_entry,
    parse_history,
    render_markdown,
    render_svg,
    summarize_backups,
    summarize_history,
)


def read_history(path):
    """The history file's lines as bytes; none when it does not exist yet."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as handle:
        return handle.read().splitlines()


def write_file(path, text):
    """Write next to the target and rename, so a reader never sees half a report."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".drill_report-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.chmod(tmp, 0o644)
        os.rename(tmp, path)
    except Exception:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def append_history(path, entry):
    line = (json.dumps(entry, sort_keys=True) + "\n").encode("utf-8")
    with open(path, "ab+") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell():
            # A line cut short by an earlier crash must not swallow this one.
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = b"\n" + line
        handle.write(line)


def _read_summary(path, what, keys):
    """A probe's JSON summary, or None and why there is none."""
    try:
        with open(path) as handle:
            summary = json.load(handle)
    except (IOError, OSError) as exc:
        return None, "cannot read %s: %s" % (path, exc.strerror or exc)
    except ValueError as exc:
        return None, "%s is not the %s's JSON summary: %s" % (path, what, exc)
    missing = [key for key in keys if key not in (summary if isinstance(summary, dict) else {})]
    if missing:
        return None, "%s lacks %s" % (path, ", ".join(missing))
    return summary, None


def read_probe(path):
    """The write probe's summary, or None and why there is none."""
    return _read_summary(path, "probe", ("started_at", "ended_at", "ack_times"))


def read_user_probe(path):
    """The user-facing probe's summary, or None and why there is none."""
    return _read_summary(path, "user-facing probe", ("started_at", "ended_at", "seconds", "spans"))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            scenario=dict(type="str", default=""),
            started=dict(type="raw", required=True),
            finished=dict(type="raw"),
            steps=dict(type="list", elements="dict", required=True),
            objectives=dict(type="dict", required=True),
            results_dir=dict(type="path", required=True),
            fail_on_failed_step=dict(type="bool", default=True),
            allow_incomplete=dict(type="bool", default=False),
            backup_results=dict(type="list", elements="dict"),
            probe_summary=dict(type="path"),
            user_probe_summary=dict(type="path"),
            lost_writes_limit=dict(type="int", default=0),
            sla_percent=dict(type="float", default=99.9),
        ),
        supports_check_mode=True,
    )
    params = module.params
    name, results_dir = params["name"], params["results_dir"]
    if not name or "/" in name or name in (".", ".."):
        module.fail_json(msg="drill_report: name %r cannot be used in a file name (no '/', not empty)" % name)
    finished = params["finished"]
    if finished is None:
        finished = datetime.datetime.now(datetime.timezone.utc).isoformat()
    steps = params["steps"]
    users = None
    try:
        if params["probe_summary"]:
            probe, probe_error = read_probe(params["probe_summary"])
            steps = apply_probe(steps, probe, probe_error, params["lost_writes_limit"])
        if params["user_probe_summary"]:
            users, users_error = read_user_probe(params["user_probe_summary"])
            if users is None:
                module.warn("the user-facing probe's record is not used: %s" % users_error)
            else:
                steps = apply_user_probe(steps, users)
        result = build_result(name, params["started"], finished, steps, params["objectives"],
                              params["scenario"], user_probe=users)
        backups = summarize_backups(params["backup_results"])
    except DrillInputError as exc:
        module.fail_json(msg="drill_report: %s" % exc)

    stamp = result["started"][:19].replace("-", "").replace(":", "") + "Z"
    base = "%s-%s" % (name, stamp)
    files = {"json": base + ".json", "markdown": base + ".md", "svg": base + ".svg",
             "history": "%s-history.jsonl" % name}
    paths = dict((key, os.path.join(results_dir, value)) for key, value in files.items())

    try:
        lines = read_history(paths["history"])
    except (IOError, OSError) as exc:
        module.fail_json(msg="drill_report: cannot read the drill history %s: %s" % (paths["history"], exc))
    entries, skipped = parse_history(lines)
    for line in skipped:
        module.warn("drill history %s: line %d left out of the metrics: %s"
                    % (paths["history"], line["line"], line["reason"]))
    entry = history_entry(result)
    try:
        result["history"] = summarize_history(entries + [entry], result["started"], backups,
                                              params["sla_percent"], skipped)
    except DrillInputError as exc:
        module.fail_json(msg="drill_report: %s" % exc)
    result["files"] = files
    report = render_markdown(result)
    svg = render_svg(result)

    if not module.check_mode:
        try:
            if not os.path.isdir(results_dir):
                os.makedirs(results_dir)
            write_file(paths["json"], json.dumps(result, indent=2, sort_keys=True) + "\n")
            write_file(paths["markdown"], report)
            write_file(paths["svg"], svg)
            append_history(paths["history"], entry)
        except (IOError, OSError) as exc:
            module.fail_json(msg="drill_report: cannot write the report to %s: %s" % (results_dir, exc))

    output = dict(changed=True, outcome=result["outcome"], result=result, json_path=paths["json"],
                  markdown_path=paths["markdown"], svg_path=paths["svg"], history_path=paths["history"],
                  report=report)
    message = failure_message(result, params["fail_on_failed_step"], params["allow_incomplete"])
    if message:
        module.fail_json(msg="%s (report: %s)" % (message, paths["markdown"]), **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
