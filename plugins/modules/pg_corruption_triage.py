#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_corruption_triage
short_description: Decide which members of a Patroni cluster are corrupted, and how, from their integrity checks
version_added: 0.1.0
description:
  - Judges the results of M(fulexo.dr.pg_integrity_check) run on every member of a Patroni cluster, for the
    corruption runbook (playbook C(fulexo.dr.incident_corruption)). Changes nothing.
  - A member is B(physically) corrupted when its own checks fail (C(checksums) or C(amcheck)), or when it
    violates a constraint that the leader does not violate. Replication ships WAL, not pages, so the other
    members' files are sound; the member can be rebuilt from a healthy leader.
  - A constraint the B(leader) violates is B(logical) corruption (rows destroyed or changed by a bad deploy);
    every replica replays it, no member is better, and the rows have to come back from a copy restored to
    the last good point in time. RV(tables) names the tables such a repair compares.
  - When the leader is physically corrupted, RV(candidate) is the replica that passed every check and follows
    it with the least lag; without one the module refuses.
  - The module fails (RV(refusal)) when the cluster has no leader, when a member could not be checked, or when
    the leader is corrupted and no replica is healthy. Nothing may be rebuilt on a partial picture.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
options:
  leader:
    description: The leader's name, as M(fulexo.dr.patroni_cluster_info) returns it.
    type: str
  members:
    description: The members, as M(fulexo.dr.patroni_cluster_info) returns them (C(name), C(role), C(state), C(lag)).
    type: list
    elements: dict
    required: true
  results:
    description:
      - Member name to the registered result of M(fulexo.dr.pg_integrity_check) on that member (run with
        C(fail_on_error=false)). A member missing here, or whose checks failed to run, was not checked.
    type: dict
    required: true
notes:
  - Runs on the controller; it reads only its arguments.
seealso:
  - module: fulexo.dr.pg_integrity_check
  - module: fulexo.dr.patroni_cluster_info
"""

EXAMPLES = r"""
- name: Decide what is corrupted
  fulexo.dr.pg_corruption_triage:
    leader: "{{ cluster.leader }}"
    members: "{{ cluster.members }}"
    results: "{{ dict(groups['postgres'] | zip(groups['postgres'] | map('extract', hostvars, 'integrity'))) }}"
  register: triage
"""

RETURN = r"""
clean:
  description: No member failed a check.
  returned: always
  type: bool
  sample: false
physical:
  description: Members whose own files are corrupted, to be rebuilt.
  returned: always
  type: list
  elements: str
  sample: [pg1]
leader_corrupted:
  description: The leader is among RV(physical).
  returned: always
  type: bool
  sample: true
candidate:
  description: The healthy replica to switch over to when the leader is corrupted, else null.
  returned: always
  type: str
  sample: pg2
logical:
  description: The leader's failed constraint checks (replayed by every replica), one line each.
  returned: always
  type: list
  elements: str
  sample: ["fulexo: constraints: 1 of 2 constraints violated or not checkable: foreign key orders_customer_fkey on public.orders: 3 rows"]
tables:
  description: Per database, the tables a logical repair compares (the violating tables and the tables they reference).
  returned: always
  type: dict
  sample: {fulexo: [public.customers, public.orders]}
findings:
  description: Per checked member, its failed checks, one line each.
  returned: always
  type: dict
  sample: {pg1: ["fulexo: amcheck: 1 problem"], pg2: [], pg3: []}
not_checked:
  description: Members that could not be checked, and why.
  returned: always
  type: dict
  sample: {}
refusal:
  description: Why nothing may be changed, or an empty string.
  returned: always
  type: str
  sample: ""
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._corruption import TriageInputError, triage


def main():
    module = AnsibleModule(
        argument_spec=dict(
            leader=dict(type="str"),
            members=dict(type="list", elements="dict", required=True),
            results=dict(type="dict", required=True),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        verdict = triage(p["leader"], p["members"], p["results"])
    except TriageInputError as exc:
        module.fail_json(msg="pg_corruption_triage: %s" % exc)
    if verdict["refusal"]:
        module.fail_json(msg=verdict["refusal"], **verdict)
    module.exit_json(changed=False, **verdict)


if __name__ == "__main__":
    main()
