# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: drill_notice
short_description: The message a DR drill sends when it starts or ends (plan section 7)
version_added: 0.1.0
description:
  - Renders the plan's customer templates (initial notification, resolution
    notice) with a drill's own values, as a rehearsal for the internal
    channels, and picks the internal incident level (who is told, and how).
  - A failed drill never gets the resolution notice ("all systems are
    operational"); it gets the initial notice with the failed steps and
    "under investigation".
positional: event, levels, level_for
options:
  _input:
    description:
      - For O(event=started), a dict with C(drill), C(estate), C(started)
        (ISO 8601 with a zone, or epoch seconds), C(steps) (planned step names)
        and C(window_minutes) (the announced window).
      - For O(event=finished), the C(result) of M(fulexo.dr.drill_report),
        with C(estate) added.
    type: dict
    required: true
  event:
    description: Which message.
    type: str
    choices: [started, finished]
    required: true
  levels:
    description: The plan's incident levels, e.g. C(dr_incident_levels) of the fulexo.dr.dr role.
    type: dict
    required: true
  level_for:
    description: The level for C(started) and for each outcome (C(passed), C(failed), C(incomplete)).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Render the end-of-drill notice
  ansible.builtin.set_fact:
    notice: "{{ drill_result.result | combine({'estate': dr_estate})
      | fulexo.dr.drill_notice('finished', dr_incident_levels, dr_drill_notify_levels) }}"
"""

RETURN = r"""
_value:
  description:
    - The notice, C(subject), C(summary), C(text) (subject, summary and the
      rehearsed customer notice), C(customer_notice_rehearsal), C(level),
      C(notify), C(channel), and for a finished drill C(outcome), C(counts),
      C(failed_steps), C(not_run_steps), C(acknowledged_writes_lost).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fulexo.dr.plugins.module_utils._drill import DrillInputError, drill_notice as _render


def drill_notice(context, event, levels, level_for):
    try:
        return _render(event, context, levels, level_for)
    except (DrillInputError, KeyError) as exc:
        raise AnsibleFilterError("drill_notice: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"drill_notice": drill_notice}
