#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: patroni_config
short_description: Keep a Patroni cluster's dynamic configuration and roll out pending restarts
version_added: 0.1.0
description:
  - Compares O(config) with C(GET /config) key by key and sends only the
    difference with C(PATCH /config), so every member applies it through
    Patroni. Keys not named in O(config) are left alone.
  - With O(restart_pending=true), restarts the PostgreSQL of every member
    that reports C(pending_restart) through C(POST /restart), one member at a
    time, replicas first and the leader last (the leader first when the
    change lowers a parameter a hot standby needs at least as high as its
    primary, such as C(max_connections)), waiting for each to run again.
    The leader restarts in place; leadership does not move.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.patroni
options:
  config:
    description: The desired part of the dynamic configuration, as nested keys.
    type: dict
    default: {}
  restart_pending:
    description: Restart members with a pending restart, replicas first.
    type: bool
    default: true
  settle:
    description:
      - Seconds to wait, after changing PostgreSQL parameters, for members to
        report whether they need a restart (about two Patroni loop_wait).
    type: int
    default: 12
  restart_timeout:
    description: Seconds each member may take to run again after its restart.
    type: int
    default: 120
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
seealso:
  - name: Patroni dynamic configuration
    description: Settings kept in the DCS and how they are changed.
    link: https://patroni.readthedocs.io/en/latest/dynamic_configuration.html
"""

EXAMPLES = r"""
- name: Turn on synchronous replication for RPO 0
  fulexo.dr.patroni_config:
    urls: [http://10.0.0.11:8008, http://10.0.0.12:8008, http://10.0.0.13:8008]
    username: patroni
    password: "{{ vault_patroni_restapi_password }}"
    config:
      synchronous_mode: true
      synchronous_mode_strict: true
"""

RETURN = r"""
patch:
  description: The JSON merge patch that was (or would be) sent; empty when nothing differs.
  returned: always
  type: dict
  sample: {postgresql: {parameters: {max_connections: 300}}}
config:
  description: The dynamic configuration afterwards.
  returned: always
  type: dict
restarted:
  description: Members restarted, in order.
  returned: always
  type: list
  elements: str
  sample: [pg2, pg3, pg1]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._patroni import (
    PatroniClient,
    PatroniError,
    PatroniUnavailable,
    config_changes,
    lowers_standby_minimum,
    member,
    patroni_argument_spec,
    restart_order,
    wait_for,
)


def main():
    spec = patroni_argument_spec()
    spec.update(
        config=dict(type="dict", default={}),
        restart_pending=dict(type="bool", default=True),
        settle=dict(type="int", default=12),
        restart_timeout=dict(type="int", default=120),
    )
    module = AnsibleModule(argument_spec=spec, required_together=[("client_cert", "client_key")],
                           supports_check_mode=True)
    p = module.params
    client = PatroniClient.from_params(p)

    try:
        base, current = client.get_any("/config")
    except PatroniUnavailable as exc:
        module.fail_json(msg="patroni_config: %s" % exc, changed=False)
    patch = config_changes(current, p["config"])
    result = dict(changed=bool(patch), patch=patch, config=current, restarted=[])
    if module._diff:
        result["diff"] = dict(before=current, after=dict(current, **patch))
    if module.check_mode:
        module.exit_json(**result)

    if patch:
        try:
            status, answer = client.request("PATCH", base + "/config", body=patch)
        except PatroniError as exc:
            module.fail_json(msg="patroni_config: %s" % exc, changed=False, patch=patch)
        if status == 401:
            module.fail_json(msg="patroni_config: PATCH /config refused by %s: wrong or missing REST API "
                             "credentials (HTTP 401)" % base, changed=False, patch=patch)
        if status != 200:
            module.fail_json(msg="patroni_config: PATCH /config answered HTTP %s: %s"
                             % (status, str(answer).strip()[:300]), changed=False, patch=patch)
        result["config"] = answer if isinstance(answer, dict) else current

    if p["restart_pending"]:
        # A parameter change reaches members on their next loop; only then do
        # they know whether it needs a restart. Wait until all say so, or
        # until `settle` runs out (some parameters need no restart).
        if "parameters" in patch.get("postgresql", {}):
            wait_for(lambda: _all_pending(client.cluster()[1]), p["settle"], interval=1)
        leader_first = lowers_standby_minimum(current, patch)
        # Rounds: a member that reports late, or that could not take a value
        # before the leader did, is restarted again in the next one.
        for _round in range(3):
            try:
                summary = client.cluster()[1]
            except PatroniUnavailable as exc:
                module.fail_json(msg="patroni_config: %s" % exc, **result)
            targets = restart_order(summary, leader_first)
            if not targets:
                break
            for target in targets:
                _restart(module, client, base, target, p["restart_timeout"], p["settle"], result)
        else:
            still = client.cluster()[1]["pending_restart"]
            if still:
                module.fail_json(msg="patroni_config: %s still pending a restart after 3 rounds"
                                 % ", ".join(still), **result)
    module.exit_json(**result)


def _all_pending(summary):
    return summary["members"] and len(summary["pending_restart"]) == len(summary["members"])


def _restart(module, client, base, target, timeout, settle, result):
    """POST /restart to one member and wait until it runs again."""
    api = target["api_url"].rsplit("/patroni", 1)[0] or base
    try:
        status, answer = client.post(api, "/restart", {"restart_pending": True})
    except PatroniError as exc:
        module.fail_json(msg="patroni_config: restart of %s: %s" % (target["name"], exc), **result)
    if status == 503 and "restart conditions are not satisfied" in str(answer):
        # Its pending flag was stale: the member no longer needs a restart.
        return
    if status != 200:
        module.fail_json(msg="patroni_config: restart of %s answered HTTP %s: %s"
                         % (target["name"], status, str(answer).strip()[:300]), **result)
    result["changed"] = True
    result["restarted"].append(target["name"])

    def running():
        found = member(client.cluster()[1], target["name"])
        return found and found["state"] in ("running", "streaming")

    if not wait_for(running, timeout, interval=1)[0]:
        module.fail_json(msg="patroni_config: %s did not run again within %d s of its restart"
                         % (target["name"], timeout), **result)
    # Its flag in the DCS clears on its next loop. A replica may keep it
    # until the leader has the new value too; the next round sees to that.
    wait_for(lambda: not member(client.cluster()[1], target["name"])["pending_restart"], settle, interval=1)


if __name__ == "__main__":
    main()
