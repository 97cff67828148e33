#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: patroni_cluster_info
short_description: Report the members, leader, timeline and replication lag of a Patroni cluster
version_added: 0.1.0
description:
  - Reads C(GET /cluster) from the first Patroni REST API that answers and
    returns each member's role, state, timeline and lag in bytes, the leader,
    the synchronous standbys and whether the cluster is healthy.
  - Playbooks decide on these facts instead of parsing C(patronictl list) text.
  - Fails, with each URL and its reason, only when no member answers.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
  - fulexo.dr.patroni
options:
  require_leader:
    description: Fail when the cluster has no running leader.
    type: bool
    default: false
seealso:
  - name: Patroni REST API
    description: The C(/cluster) endpoint.
    link: https://patroni.readthedocs.io/en/latest/rest_api.html
"""

EXAMPLES = r"""
- name: Read the cluster state from any member
  fulexo.dr.patroni_cluster_info:
    urls:
      - http://10.0.0.11:8008
      - http://10.0.0.12:8008
      - http://10.0.0.13:8008
  register: pg

- name: Show who leads
  ansible.builtin.debug:
    msg: "{{ pg.leader }} leads on timeline {{ pg.timeline }}; replicas lag at most {{ pg.max_lag }} bytes"
"""

RETURN = r"""
url:
  description: The REST API that answered.
  returned: always
  type: str
  sample: http://10.0.0.11:8008
scope:
  description: Cluster name (Patroni scope).
  returned: always
  type: str
  sample: fulexo
leader:
  description: Name of the leader, or null when there is none (or more than one is reported).
  returned: always
  type: str
  sample: pg1
leader_running:
  description: A single leader exists and its PostgreSQL is running.
  returned: always
  type: bool
  sample: true
timeline:
  description: The leader's timeline; null without a leader.
  returned: always
  type: int
  sample: 3
members:
  description: One entry per member.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: pg2, role: replica, state: streaming, host: 10.0.0.12, port: 5432,
       api_url: "http://10.0.0.12:8008/patroni", timeline: 3, lag: 0, receive_lag: 0,
       replay_lag: 0, pending_restart: false, tags: {}, is_leader: false, is_sync: false}
replicas:
  description: Names of the members that are not the leader.
  returned: always
  type: list
  elements: str
  sample: [pg2, pg3]
streaming_replicas:
  description: Names of the replicas that stream from the leader.
  returned: always
  type: list
  elements: str
  sample: [pg2, pg3]
sync_standby:
  description: First synchronous standby, or null.
  returned: always
  type: str
  sample: pg2
sync_standbys:
  description: All synchronous (or quorum) standbys.
  returned: always
  type: list
  elements: str
  sample: [pg2]
max_lag:
  description: Largest known replica lag in bytes; null when no replica reports one.
  returned: always
  type: int
  sample: 0
paused:
  description: The cluster is in maintenance mode (no automatic failover).
  returned: always
  type: bool
  sample: false
pending_restart:
  description: Members whose PostgreSQL needs a restart for a parameter change.
  returned: always
  type: list
  elements: str
  sample: []
scheduled_switchover:
  description: A scheduled switchover, as Patroni reports it, or null.
  returned: always
  type: dict
  sample: null
healthy:
  description: A running leader and every replica streaming.
  returned: always
  type: bool
  sample: true
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._patroni import (
    PatroniClient,
    PatroniUnavailable,
    patroni_argument_spec,
)


def main():
    spec = patroni_argument_spec()
    spec.update(require_leader=dict(type="bool", default=False))
    module = AnsibleModule(argument_spec=spec, required_together=[("client_cert", "client_key")],
                           supports_check_mode=True)
    client = PatroniClient.from_params(module.params)
    try:
        url, summary = client.cluster()
    except PatroniUnavailable as exc:
        module.fail_json(msg="patroni_cluster_info: %s" % exc, changed=False)
    if module.params["require_leader"] and not summary["leader_running"]:
        module.fail_json(msg="patroni_cluster_info: cluster %s has no running leader" % summary["scope"],
                         changed=False, url=url, **summary)
    module.exit_json(changed=False, url=url, **summary)


if __name__ == "__main__":
    main()
