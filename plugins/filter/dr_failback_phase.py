# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: dr_failback_phase
short_description: Where a fail-back goes on from, given both sites' state
version_added: 0.2.0
description:
  - Takes what M(fulexo.dr.dr_site_status) returned for the DR site (its
    input) and for the old primary site (O(old_site), read the other way
    round) and says what playbooks/dr_failback.yml does next.
  - C(rebuild) when the DR site leads and the old site does not answer
    (fenced); C(switch) when the old site follows the DR site; C(promote)
    when neither takes writes and the old site follows (a switch that
    stopped half-way); C(done) when the DR site follows the old site;
    C(refuse) otherwise, with one line that says why (two writable sites,
    the DR site down or without a leader).
positional: old_site
options:
  _input:
    description: The registered result of M(fulexo.dr.dr_site_status) on the DR site (a failed read counts as down).
    type: dict
    required: true
  old_site:
    description: The registered result of M(fulexo.dr.dr_site_status) on the old primary site.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Decide what is left to do
  ansible.builtin.set_fact:
    failback: "{{ dr_side | fulexo.dr.dr_failback_phase(old_side) }}"
"""

RETURN = r"""
_value:
  description:
    - C(phase) (rebuild, switch, promote, done, refuse), C(roles) (C(<DR site>/<old site>), each C(primary),
      C(standby_leader), C(no leader) or C(down)), C(dr_role), C(old_role), C(next) (what comes next, in
      words) and C(reason) (why it is refused, else null).
  type: dict
"""

from ansible_collections.fulexo.dr.plugins.module_utils._dr_site import failback_phase


def dr_failback_phase(dr_site, old_site):
    return failback_phase(dr_site, old_site)


class FilterModule(object):
    def filters(self):
        return {"dr_failback_phase": dr_failback_phase}
