#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: drill_preflight
short_description: Refuse to start a DR drill unless the estate is whole and known not to be production by accident
version_added: 0.1.0
description:
  - Judges what the info modules read from the estate before a drill breaks anything, and fails with one line
    that names every problem when it is not whole. Nothing is broken and nothing is changed either way.
  - The estate must say what it is (O(estate)); production also needs O(production_confirmed).
  - Each etcd cluster must have every member healthy and the failure tolerance asked for (the drill crashes the
    primary site's etcd leader, so that cluster needs at least 1).
  - Patroni must have one running leader, not be paused, and every replica streaming within O(lag_limit).
  - Redis Cluster must be C(ok) with all 16384 slots served, no failed or unreachable node and a replica for every
    master.
  - Backup storage must have every replication target answering and no failed replication.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
options:
  estate:
    description:
      - What the inventory is, from C(dr_estate). An empty value is refused, since a drill crashes services for
        real.
    type: str
    choices: [lab, staging, production, ""]
    default: ""
  production_confirmed:
    description: Must be C(true) for O(estate=production).
    type: bool
    default: false
  etcd:
    description: The etcd clusters the drill relies on.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The cluster's name, as the refusal names it.
        type: str
        required: true
      info:
        description: The registered result of M(fulexo.dr.etcd_cluster_info) (a failed or skipped run counts as a problem).
        type: dict
      min_failure_tolerance:
        description: Members the cluster must be able to lose and keep its quorum.
        type: int
        default: 1
  patroni:
    description: The registered result of M(fulexo.dr.patroni_cluster_info); omit when the estate has no database.
    type: dict
  patroni_members:
    description: Members the Patroni cluster must have (the inventory's C(postgres) group).
    type: list
    elements: str
  lag_limit:
    description: Bytes a replica may lag (the plan's 10 MB, C(dr_replica_lag_threshold_bytes)).
    type: int
    default: 10485760
  redis:
    description: The registered result of M(fulexo.dr.redis_cluster_info); omit when the estate has no cache.
    type: dict
  minio:
    description: The registered result of M(fulexo.dr.minio_replication_status) run from the primary site.
    type: dict
notes:
  - Runs on the controller; it reads only its arguments.
seealso:
  - module: fulexo.dr.drill_report
"""

EXAMPLES = r"""
- name: Refuse to break anything unless the estate is whole
  fulexo.dr.drill_preflight:
    estate: "{{ dr_estate | default('') }}"
    production_confirmed: "{{ dr_drill_production_confirmed | default(false) }}"
    etcd:
      - {name: primary, info: "{{ hostvars[groups['etcd'][0]].preflight_etcd }}", min_failure_tolerance: 1}
    patroni: "{{ preflight_patroni }}"
    patroni_members: "{{ groups['postgres'] }}"
    lag_limit: "{{ dr_replica_lag_threshold_bytes }}"
"""

RETURN = r"""
healthy:
  description: Nothing stands in the drill's way.
  returned: always
  type: bool
  sample: true
problems:
  description: One line per problem, in the order they were checked.
  returned: always
  type: list
  elements: str
  sample: ["etcd primary: 2/3 members healthy (down: pg3)"]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._preflight import (
    PreflightInputError,
    preflight,
    refusal_message,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            estate=dict(type="str", default="", choices=["lab", "staging", "production", ""]),
            production_confirmed=dict(type="bool", default=False),
            etcd=dict(type="list", elements="dict", default=[], options=dict(
                name=dict(type="str", required=True),
                info=dict(type="dict"),
                min_failure_tolerance=dict(type="int", default=1),
            )),
            patroni=dict(type="dict"),
            patroni_members=dict(type="list", elements="str"),
            lag_limit=dict(type="int", default=10485760),
            redis=dict(type="dict"),
            minio=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    try:
        problems = preflight(p["estate"], p["production_confirmed"], etcd=p["etcd"], patroni=p["patroni"],
                             redis=p["redis"], minio=p["minio"], lag_limit=p["lag_limit"],
                             patroni_members=p["patroni_members"])
    except PreflightInputError as exc:
        module.fail_json(msg="drill_preflight: %s" % exc)
    if problems:
        module.fail_json(msg=refusal_message(problems), healthy=False, problems=problems)
    module.exit_json(changed=False, healthy=True, problems=[])


if __name__ == "__main__":
    main()
