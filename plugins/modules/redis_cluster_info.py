#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: redis_cluster_info
short_description: Report the state, slots, masters, replicas and placement of a Redis Cluster
version_added: 0.1.0
description:
  - Asks every given instance for C(CLUSTER INFO) and C(CLUSTER NODES) with
    C(redis-cli), on the host the module runs on.
  - Reports the cluster state, slot coverage, each master with its replicas
    and their hosts, failed nodes, disconnected links and anti-affinity
    violations (a replica on the same host as its master).
  - Also returns a RV(plan) for the P(fulexo.dr.redis_cluster#role) role. It
    says whether the cluster must be created, which new instances join as
    replicas of which master, or why nothing may be changed (wrong password,
    an instance already in another cluster, a layout that cannot give every
    master a replica).
  - Read-only. Does not fail when instances are down or refuse the password;
    it reports them. It fails only when O(fail_unless_healthy=true) and the
    cluster is not healthy.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
options:
  nodes:
    description:
      - Instances to ask, as C(address:port), in inventory order. Use the
        addresses the instances announce to the cluster.
    type: list
    elements: str
    default: ["127.0.0.1:6379"]
  user:
    description: ACL user to authenticate as. Without it, the default user.
    type: str
  password:
    description:
      - Password of O(user) (or C(requirepass)). Passed to redis-cli in the
        E(REDISCLI_AUTH) environment variable, never on its command line.
    type: str
  replicas:
    description: Replicas every master should have.
    type: int
    default: 1
  host_names:
    description: Names to report for hosts, keyed by IP address (for example the inventory names).
    type: dict
    default: {}
  cluster_check:
    description: Also run C(redis-cli --cluster check) against the first member of the cluster.
    type: bool
    default: false
  fail_unless_healthy:
    description: Fail when the cluster is not healthy (see RV(healthy)).
    type: bool
    default: false
  redis_cli_path:
    description: The redis-cli (or valkey-cli) binary.
    type: path
    default: redis-cli
  timeout:
    description: Seconds to wait for each instance.
    type: int
    default: 5
requirements:
  - redis-cli 6.2 or later (or valkey-cli) and coreutils C(timeout) on the host the module runs on
notes:
  - The cluster view (masters, replicas, slots) is that of the first
    answering member in O(nodes) order; members that disagree show up in
    RV(check) when O(cluster_check=true).
seealso:
  - name: Redis Cluster specification
    description: Node flags, failure detection and replica promotion.
    link: https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/
"""

EXAMPLES = r"""
- name: Read the cache cluster
  fulexo.dr.redis_cluster_info:
    nodes: ["10.0.3.11:6379", "10.0.3.12:6379", "10.0.3.13:6379",
            "10.0.3.14:6379", "10.0.3.15:6379", "10.0.3.16:6379"]
    password: "{{ redis_cluster_password }}"
    cluster_check: true
  register: cache

- name: Refuse to go on with an unhealthy cache cluster
  ansible.builtin.assert:
    that: cache.healthy
    fail_msg: "cluster_state={{ cache.cluster_state }}, slots ok {{ cache.slots_ok }}/16384, failed {{ cache.failed_nodes | map(attribute='address') }}"
"""

RETURN = r"""
healthy:
  description: >-
    State ok, all 16384 slots assigned and ok, no failed node, every master
    has O(replicas) healthy replicas, every given instance is a member and
    nothing in RV(plan.errors).
  returned: always
  type: bool
  sample: true
formed:
  description: Whether any given instance is part of a formed cluster.
  returned: always
  type: bool
  sample: true
cluster_state:
  description: C(ok) or C(fail) as the first member reports it; null when no cluster is formed.
  returned: always
  type: str
  sample: ok
slots_assigned:
  description: Slots assigned to a master.
  returned: always
  type: int
  sample: 16384
slots_ok:
  description: Slots whose master is not failing.
  returned: always
  type: int
  sample: 16384
slots_pfail:
  description: Slots whose master is suspected to fail.
  returned: always
  type: int
  sample: 0
slots_fail:
  description: Slots whose master failed.
  returned: always
  type: int
  sample: 0
all_slots_covered:
  description: Masters together serve all 16384 slots.
  returned: always
  type: bool
  sample: true
known_nodes:
  description: Nodes the first member knows, itself included.
  returned: always
  type: int
  sample: 6
size:
  description: Masters serving at least one slot.
  returned: always
  type: int
  sample: 3
current_epoch:
  description: Current epoch of the cluster (grows with each failover).
  returned: always
  type: int
  sample: 7
masters:
  description: Masters serving slots, with their replicas.
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 3c4b..., address: "10.0.3.11:6379", host: 10.0.3.11, name: redis1, flags: [master],
       link_state: connected, failed: false, slots: ["0-5460"], slot_count: 5461, healthy_replicas: 1,
       replicas: [{id: 9e1f..., address: "10.0.3.15:6379", host: 10.0.3.15, name: redis5,
                   flags: [slave], link_state: connected, failed: false}]}
masters_missing_replicas:
  description: Addresses of masters with fewer healthy replicas than O(replicas).
  returned: always
  type: list
  elements: str
  sample: []
anti_affinity_violations:
  description: Healthy replicas on the same host as their master.
  returned: always
  type: list
  elements: dict
  sample: [{master: "10.0.3.11:6379", replica: "10.0.3.11:6380", host: 10.0.3.11, name: redis1}]
failed_nodes:
  description: Nodes flagged C(fail) or C(fail?).
  returned: always
  type: list
  elements: dict
  sample: []
disconnected_links:
  description: Nodes the first member has no connected cluster-bus link to.
  returned: always
  type: list
  elements: dict
  sample: []
orphan_replicas:
  description: Replicas whose master serves no slot or is unknown.
  returned: always
  type: list
  elements: dict
  sample: []
empty_masters:
  description: Healthy masters without slots (joined but never given any).
  returned: always
  type: list
  elements: dict
  sample: []
source:
  description: The member whose view is reported.
  returned: always
  type: str
  sample: "10.0.3.11:6379"
members:
  description: Given instances that are part of the cluster.
  returned: always
  type: list
  elements: str
  sample: ["10.0.3.11:6379", "10.0.3.12:6379"]
fresh:
  description: Given instances that answer but have never joined a cluster.
  returned: always
  type: list
  elements: str
  sample: []
unreachable_nodes:
  description: Given instances that did not answer.
  returned: always
  type: list
  elements: str
  sample: []
nodes:
  description: What each given instance answered.
  returned: always
  type: list
  elements: dict
  sample:
    - {address: "10.0.3.11:6379", reachable: true, error: "", id: 3c4b..., role: master,
       fresh: false, cluster_state: ok, auth_failed: false}
plan:
  description: What the redis_cluster role does next.
  returned: always
  type: dict
  contains:
    action:
      description: C(none), C(create) (form a cluster of RV(plan.masters)), C(add) (join RV(plan.additions)) or C(refuse).
      type: str
      sample: add
    entry:
      description: A member to point C(redis-cli --cluster) at.
      type: str
      sample: "10.0.3.11:6379"
    masters:
      description: Instances to create the cluster from, spread over hosts.
      type: list
      elements: str
    additions:
      description: New instances and the master each one replicates.
      type: list
      elements: dict
      sample: [{address: "10.0.3.14:6379", master_id: 3c4b..., master_address: "10.0.3.11:6379", same_host: false}]
    errors:
      description: Why nothing may be changed; empty when the plan may be followed.
      type: list
      elements: str
    warnings:
      description: Things to know that do not block the plan.
      type: list
      elements: str
check:
  description: Result of C(redis-cli --cluster check).
  returned: when O(cluster_check=true) and a cluster is formed
  type: dict
  sample: {ok: true, errors: [], warnings: [], all_slots_covered: true, slots_agree: true}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._redis_cluster import (
    parse_cluster_check,
    split_address,
    summarize,
)


class RedisCli:
    def __init__(self, module):
        self.module = module
        params = module.params
        self.base = [module.get_bin_path("timeout", required=True), str(params["timeout"]),
                     module.get_bin_path(params["redis_cli_path"], required=True), "--no-auth-warning"]
        if params["user"]:
            self.base += ["--user", params["user"]]
        # redis-cli reads the password from the environment: it never shows
        # up in a process list or in Ansible's logs.
        self.environ = {"REDISCLI_AUTH": params["password"]} if params["password"] else {}

    def run(self, args):
        return self.module.run_command(self.base + args, environ_update=self.environ)

    def ask(self, address, *command):
        """Returns (reply, error)."""
        host, port = split_address(address)
        rc, out, err = self.run(["-h", host, "-p", str(port)] + list(command))
        err_lines = [line for line in err.strip().splitlines() if line.strip()]
        # A refused AUTH is printed on stderr and the command still runs
        # (answering NOAUTH); report the AUTH failure, which says why.
        auth = [line for line in err_lines if "AUTH failed" in line]
        if auth:
            return None, auth[0].strip()
        if rc == 124:
            return None, "no answer within %ds" % self.module.params["timeout"]
        if rc != 0:
            return None, (err_lines or ["exit code %d" % rc])[-1].strip()
        return out, ""


def main():
    module = AnsibleModule(
        argument_spec=dict(
            nodes=dict(type="list", elements="str", default=["127.0.0.1:6379"]),
            user=dict(type="str"),
            password=dict(type="str", no_log=True),
            replicas=dict(type="int", default=1),
            host_names=dict(type="dict", default={}),
            cluster_check=dict(type="bool", default=False),
            fail_unless_healthy=dict(type="bool", default=False),
            redis_cli_path=dict(type="path", default="redis-cli"),
            timeout=dict(type="int", default=5),
        ),
        supports_check_mode=True,
    )
    for address in module.params["nodes"]:
        try:
            split_address(address)
        except ValueError as exc:
            module.fail_json(msg="redis_cluster_info: %s" % exc)
    cli = RedisCli(module)

    views = {}
    for address in module.params["nodes"]:
        info, error = cli.ask(address, "CLUSTER", "INFO")
        nodes = None
        if not error:
            nodes, error = cli.ask(address, "CLUSTER", "NODES")
        views[address] = {"info": info, "nodes": nodes, "error": error}

    result = summarize(module.params["nodes"], views, module.params["replicas"], module.params["host_names"])

    if module.params["cluster_check"] and result["plan"]["entry"]:
        rc, out, err = cli.run(["--cluster", "check", result["plan"]["entry"]])
        result["check"] = parse_cluster_check(out + err, rc)
        result["check"]["output"] = out.splitlines()
        if not result["check"]["ok"]:
            result["healthy"] = False

    if module.params["fail_unless_healthy"] and not result["healthy"]:
        module.fail_json(
            msg="redis cluster is not healthy: state %s, %d/16384 slots ok, failed %s, unreachable %s, "
                "masters missing replicas %s%s"
            % (result["cluster_state"], result["slots_ok"],
               [n["address"] for n in result["failed_nodes"]] or "none", result["unreachable_nodes"] or "none",
               result["masters_missing_replicas"] or "none",
               "; " + "; ".join(result["plan"]["errors"]) if result["plan"]["errors"] else ""),
            changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
