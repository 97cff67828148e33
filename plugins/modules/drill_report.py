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
  - A step whose measured RTO or RPO exceeds the objective for its tier or
    data class fails, whatever it reported itself.
  - The drill's outcome is V(failed) when a step failed, V(incomplete) when a
    step was not run (a drill that skipped steps has not shown the plan
    works), and V(passed) otherwise.
  - Writes C(<name>-<timestamp>.json) and C(.md) (the plan's incident-report
    template) to O(results_dir) on the host it runs on, normally the controller.
author: Fulexo SRE (@fulexo-sre)
options:
  name:
    description: Drill name, used in file names.
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
      - The steps, in order. Each is a dict with C(name), C(status)
        (V(passed), V(failed) or V(not_run)), optional C(started)/C(finished),
        C(detail), C(measured) (for example C(rto_seconds), C(rpo_seconds)),
        C(tier) (the RTO class of C(rto_seconds)) and C(data_class) (the RPO
        class of C(rpo_seconds)).
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
    description: Directory for the JSON and Markdown files; created when missing.
    type: path
    required: true
  fail_on_failed_step:
    description: Fail (after writing the report) when the outcome is V(failed).
    type: bool
    default: true
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: In check mode the result is computed and returned but no file is written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
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
"""

RETURN = r"""
outcome:
  description: V(passed), V(failed) or V(incomplete).
  returned: always
  type: str
  sample: incomplete
result:
  description: The full result as written to the JSON file.
  returned: always
  type: dict
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
report:
  description: The Markdown report text.
  returned: always
  type: str
"""

import datetime
import json
import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._drill import (
    DrillInputError,
    build_result,
    render_markdown,
)


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
        ),
        supports_check_mode=True,
    )
    params = module.params
    finished = params["finished"]
    if finished is None:
        finished = datetime.datetime.now(datetime.timezone.utc).isoformat()
    try:
        result = build_result(params["name"], params["started"], finished, params["steps"],
                              params["objectives"], params["scenario"])
    except DrillInputError as exc:
        module.fail_json(msg="drill_report: %s" % exc)
    report = render_markdown(result)

    stamp = result["started"][:19].replace("-", "").replace(":", "") + "Z"
    base = os.path.join(params["results_dir"], "%s-%s" % (params["name"], stamp))
    json_path, markdown_path = base + ".json", base + ".md"
    if not module.check_mode:
        try:
            if not os.path.isdir(params["results_dir"]):
                os.makedirs(params["results_dir"])
            with open(json_path, "w") as handle:
                json.dump(result, handle, indent=2, sort_keys=True)
                handle.write("\n")
            with open(markdown_path, "w") as handle:
                handle.write(report)
        except (IOError, OSError) as exc:
            module.fail_json(msg="drill_report: cannot write the report to %s: %s" % (params["results_dir"], exc))

    output = dict(changed=not module.check_mode, outcome=result["outcome"], result=result,
                  json_path=json_path, markdown_path=markdown_path, report=report)
    if params["fail_on_failed_step"] and result["outcome"] == "failed":
        failed = [s["name"] for s in result["steps"] if s["status"] == "failed"]
        module.fail_json(msg="drill %s FAILED at: %s (report: %s)" % (params["name"], ", ".join(failed), markdown_path),
                         **output)
    module.exit_json(**output)


if __name__ == "__main__":
    main()
