#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: etcd_cluster_info
short_description: Report the members, leader, health and quorum of an etcd cluster
version_added: 0.1.0
description:
  - Asks any reachable member for the member list, then asks every member's
    client URLs for its status and health with C(etcdctl -w json).
  - Reports each member's health and role, the leader, the quorum size and
    whether the cluster has it, so playbooks can decide on facts instead of
    parsing C(etcdctl) text.
  - Does not fail when members are down; it fails only when no endpoint
    answers at all, or when O(fail_without_quorum=true) and quorum is lost.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
options:
  endpoints:
    description:
      - Client URLs to ask for the member list, tried in order.
    type: list
    elements: str
    default: ["https://127.0.0.1:2379"]
  ca_cert:
    description: CA certificate that signed the members' certificates.
    type: path
  client_cert:
    description: Client certificate, when the cluster requires one.
    type: path
  client_key:
    description: Key of O(client_cert).
    type: path
  etcdctl_path:
    description: The etcdctl binary (v3 API).
    type: path
    default: etcdctl
  timeout:
    description: Seconds to wait for each endpoint (dial and command).
    type: int
    default: 3
  fail_without_quorum:
    description:
      - Fail when fewer healthy voting members than the quorum remain, or
        when they name no single leader after O(wait_for_leader) seconds.
    type: bool
    default: false
  wait_for_leader:
    description:
      - Seconds to keep asking when enough members are healthy but they name
        no single leader (an election in progress, for example right after
        the leader's host died, or on a loaded host that missed heartbeats).
      - C(0) reports the first view as it is.
    type: int
    default: 0
requirements:
  - etcdctl 3.4 or later on the host the module runs on
notes:
  - Learner members are listed but do not count towards the quorum.
seealso:
  - name: etcd failure modes
    description: What a cluster tolerates as members fail.
    link: https://etcd.io/docs/v3.4/op-guide/failures/
"""

EXAMPLES = r"""
- name: Read the state of the Patroni DCS
  fulexo.dr.etcd_cluster_info:
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/member.crt
    client_key: /etc/etcd/pki/member.key
  register: dcs

- name: Refuse a failover without a DCS quorum
  ansible.builtin.assert:
    that: dcs.has_quorum
    fail_msg: "etcd has {{ dcs.healthy_count }}/{{ dcs.member_count }} healthy members; quorum is {{ dcs.quorum_size }}"
"""

RETURN = r"""
cluster_id:
  description: Cluster ID, hex.
  returned: always
  type: str
  sample: cdf818194e3a8c32
leader:
  description: Name of the leader, or null when no single leader is reported.
  returned: always
  type: str
  sample: pg1
members:
  description: One entry per member.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 8e9e05c52164694d, name: pg1, healthy: true, is_leader: true, is_learner: false, started: true,
       peer_urls: ["https://10.0.0.11:2380"], client_urls: ["https://10.0.0.11:2379"],
       version: 3.4.23, db_size: 20480, raft_term: 2, raft_index: 9, error: ""}
member_count:
  description: Voting members.
  returned: always
  type: int
  sample: 3
healthy_count:
  description: Voting members that reported healthy.
  returned: always
  type: int
  sample: 3
quorum_size:
  description: Healthy voting members needed for writes.
  returned: always
  type: int
  sample: 2
has_quorum:
  description: Whether enough members are healthy and a leader exists.
  returned: always
  type: bool
  sample: true
failure_tolerance:
  description: How many more members can fail before quorum is lost.
  returned: always
  type: int
  sample: 1
healthy:
  description: Every voting member is healthy and there is a leader.
  returned: always
  type: bool
  sample: true
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._etcd import (
    EtcdOutputError,
    election_pending,
    parse_endpoint_health,
    parse_endpoint_status,
    parse_member_list,
    summarize,
)


class Etcdctl:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.base = [module.get_bin_path(params["etcdctl_path"], required=True),
                     "--dial-timeout", "%ds" % params["timeout"],
                     "--command-timeout", "%ds" % params["timeout"], "-w", "json"]
        for option, name in (("--cacert", "ca_cert"), ("--cert", "client_cert"), ("--key", "client_key")):
            if params[name]:
                self.base += [option, params[name]]

    def run(self, endpoint, *args):
        """Returns (stdout, error). etcdctl exits non-zero for an unhealthy
        endpoint yet still prints its JSON, so stdout is kept either way."""
        rc, out, err = self.module.run_command(self.base + ["--endpoints", endpoint] + list(args),
                                               environ_update={"ETCDCTL_API": "3"})
        return out, ("" if rc == 0 else (err.strip().splitlines() or ["exit code %d" % rc])[-1])


def ask_members(etcdctl, member_list):
    """Status and health of every member's client URLs, and why a URL could not be asked."""
    statuses, healths, errors = {}, {}, {}
    for member in member_list["members"]:
        for url in member["client_urls"]:
            out, error = etcdctl.run(url, "endpoint", "status")
            try:
                if not error:
                    statuses.update(parse_endpoint_status(out))
                out, error = etcdctl.run(url, "endpoint", "health")
                healths.update(parse_endpoint_health(out))
            except EtcdOutputError as exc:
                error = error or str(exc)
            if error:
                errors[url] = error
    return statuses, healths, errors


def main():
    module = AnsibleModule(
        argument_spec=dict(
            endpoints=dict(type="list", elements="str", default=["https://127.0.0.1:2379"]),
            ca_cert=dict(type="path"),
            client_cert=dict(type="path"),
            client_key=dict(type="path", no_log=False),
            etcdctl_path=dict(type="path", default="etcdctl"),
            timeout=dict(type="int", default=3),
            fail_without_quorum=dict(type="bool", default=False),
            wait_for_leader=dict(type="int", default=0),
        ),
        required_together=[("client_cert", "client_key")],
        supports_check_mode=True,
    )
    etcdctl = Etcdctl(module)

    member_list, tried = None, []
    for endpoint in module.params["endpoints"]:
        out, error = etcdctl.run(endpoint, "member", "list")
        if not error:
            try:
                member_list = parse_member_list(out)
                break
            except EtcdOutputError as exc:
                error = str(exc)
        tried.append("%s: %s" % (endpoint, error))
    if member_list is None:
        module.fail_json(msg="etcd_cluster_info: no etcd endpoint answered the member list; tried %s"
                         % "; ".join(tried), changed=False)

    deadline = time.monotonic() + max(module.params["wait_for_leader"], 0)
    while True:
        result = summarize(member_list, *ask_members(etcdctl, member_list))
        if not election_pending(result) or time.monotonic() >= deadline:
            break
        time.sleep(1)
    if module.params["fail_without_quorum"] and not result["has_quorum"]:
        module.fail_json(
            msg="etcd cluster %s has no quorum: %d of %d members healthy, %d needed, leader %s"
            % (result["cluster_id"], result["healthy_count"], result["member_count"],
               result["quorum_size"], result["leader"] or "none"),
            changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
