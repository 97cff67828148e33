# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: dr_site_outage_figures
short_description: What clients of the service name saw of a DR site activation and its fail-back
version_added: 0.2.0
description:
  - Takes the summary of the write probe (roles/dr/files/dr_write_probe.py run with C(--resolve) and
    C(--verify)) that wrote through the service name while the DR site was activated and the primary
    site took over again, and returns the figures the drill judges.
  - Fails when the summary has no acknowledgement times or was not taken through a DNS name.
positional: primary_address, dr_address, activation_started
options:
  _input:
    description: The probe's JSON summary, parsed.
    type: dict
    required: true
  primary_address:
    description: The address the name points at when the primary site leads (its load balancer).
    type: str
    required: true
  dr_address:
    description: The address the activation points the name at (the DR site's entry point).
    type: str
    required: true
  activation_started:
    description: Epoch seconds when the activation started.
    type: float
    required: true
"""

EXAMPLES = r"""
- name: Judge the outage as clients saw it
  ansible.builtin.set_fact:
    outage: "{{ probe_summary | fulexo.dr.dr_site_outage_figures('10.0.0.5', '10.1.0.5', started) }}"
"""

RETURN = r"""
_value:
  description:
    - C(rto_seconds) (activation start to the first write the DR site acknowledged), C(unavailable_seconds)
      (last write before the activation to the first on the DR site), C(failback_unavailable_seconds),
      C(acknowledged) (C(before), C(dr_site), C(after)), C(lost), C(lost_span_seconds) and C(problems)
      (one line per thing that did not happen; empty when all did).
  type: dict
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.fulexo.dr.plugins.module_utils._dr_site import outage_figures


def dr_site_outage_figures(summary, primary_address, dr_address, activation_started):
    try:
        return outage_figures(summary, primary_address, dr_address, activation_started)
    except ValueError as exc:
        raise AnsibleFilterError("dr_site_outage_figures: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"dr_site_outage_figures": dr_site_outage_figures}
