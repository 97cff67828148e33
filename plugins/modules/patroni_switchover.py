#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: patroni_switchover
short_description: Move the leadership of a Patroni cluster (planned switchover or failover) and time it
version_added: 0.1.0
description:
  - Reads C(GET /cluster), checks the candidate, calls C(POST /switchover)
    or C(POST /failover) and waits until the new leader runs on a new
    timeline, measuring the seconds this took.
  - A switchover needs a running leader and moves leadership to O(candidate)
    (or to the healthy replica with the least lag). It refuses a candidate
    that is unknown, not streaming, tagged nofailover or lagging beyond
    O(max_lag).
  - A failover is for a cluster whose leader is gone. It refuses while a
    healthy leader exists unless O(force=true); when O(failed_leader) is
    given and another member already leads (Patroni failed over by itself),
    nothing is done.
  - Nothing changes when the desired state already holds (the candidate
    already leads); every refusal is one line and changes nothing.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.patroni
options:
  action:
    description: C(switchover) (planned, a leader is running) or C(failover) (the leader is gone).
    type: str
    choices: [switchover, failover]
    default: switchover
  candidate:
    description: Member to lead afterwards. Default, the healthy replica with the least lag (synchronous standbys first).
    type: str
  failed_leader:
    description: For a failover, the member that is gone; it is never picked, and another leader means done.
    type: str
  max_lag:
    description: Bytes a candidate may lag behind the leader.
    type: int
    default: 10485760
  force:
    description: Fail over even though a healthy leader exists.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds the whole operation may take before it is reported as failed, counted from the request.
      - A switchover first waits, up to as long again, for a candidate that is not yet in the synchronous set
        (a replica joins it one Patroni loop after it streams again); it is refused when the candidate does not
        join in that time.
    type: int
    default: 30
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Checks every precondition and reports the member it would promote.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - name: Patroni REST API, switchover and failover
    description: The C(/switchover) and C(/failover) endpoints.
    link: https://patroni.readthedocs.io/en/latest/rest_api.html#switchover-and-failover-endpoints
"""

EXAMPLES = r"""
- name: Planned switchover to pg2, within the plan's 30 s
  fulexo.dr.patroni_switchover:
    urls: [http://10.0.0.11:8008, http://10.0.0.12:8008, http://10.0.0.13:8008]
    username: patroni
    password: "{{ vault_patroni_restapi_password }}"
    candidate: pg2
    wait_timeout: 30
  register: switch

- name: pg1 is gone; make sure someone leads
  fulexo.dr.patroni_switchover:
    urls: [http://10.0.0.12:8008, http://10.0.0.13:8008]
    username: patroni
    password: "{{ vault_patroni_restapi_password }}"
    action: failover
    failed_leader: pg1
"""

RETURN = r"""
old_leader:
  description: Leader before the operation (null when there was none).
  returned: always
  type: str
  sample: pg1
new_leader:
  description: Leader afterwards (on success) or the candidate that was planned (check mode).
  returned: always
  type: str
  sample: pg2
candidate:
  description: The member chosen to lead.
  returned: always
  type: str
  sample: pg2
timeline_before:
  description: Leader's timeline before.
  returned: always
  type: int
  sample: 1
timeline:
  description: Leader's timeline afterwards.
  returned: always
  type: int
  sample: 2
seconds:
  description: Seconds from the request until the new leader ran on its new timeline; 0 when nothing was done.
  returned: always
  type: float
  sample: 4.2
reason:
  description: What was done, or why nothing was.
  returned: always
  type: str
  sample: switch over from pg1 to pg2
api_response:
  description: Patroni's answer to the request.
  returned: when a request was sent
  type: str
  sample: Successfully switched over to "pg2"
cluster:
  description: The cluster afterwards, as returned by M(fulexo.dr.patroni_cluster_info).
  returned: always
  type: dict
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._patroni import (
    PatroniClient,
    PatroniError,
    PatroniUnavailable,
    patroni_argument_spec,
    plan_failover,
    plan_switchover,
    switchover_blocker,
    synchronous_enabled,
    wait_for,
)


def main():
    spec = patroni_argument_spec()
    spec.update(
        action=dict(type="str", choices=["switchover", "failover"], default="switchover"),
        candidate=dict(type="str"),
        failed_leader=dict(type="str"),
        max_lag=dict(type="int", default=10485760),
        force=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=30),
    )
    module = AnsibleModule(argument_spec=spec, required_together=[("client_cert", "client_key")],
                           supports_check_mode=True)
    p = module.params
    client = PatroniClient.from_params(p)
    name = "patroni_%s" % p["action"]

    try:
        base, before = client.cluster()
    except PatroniUnavailable as exc:
        module.fail_json(msg="%s: %s" % (name, exc), changed=False)

    # For a failover the leader being replaced is the one that is gone, even
    # when Patroni already replaced it by itself.
    old_leader = (p["action"] == "failover" and p["failed_leader"]) or before["leader"]
    result = dict(changed=False, old_leader=old_leader, timeline_before=before["timeline"],
                  timeline=before["timeline"], seconds=0.0, cluster=before)
    try:
        if p["action"] == "switchover":
            verdict, candidate, reason = plan_switchover(before, p["candidate"], p["max_lag"])
        else:
            verdict, candidate, reason = plan_failover(before, p["candidate"], p["failed_leader"],
                                                       p["max_lag"], p["force"])
    except ValueError as exc:
        module.fail_json(msg="%s refused: %s" % (name, exc), candidate=p["candidate"],
                         new_leader=before["leader"], reason=str(exc), **result)
    result.update(candidate=candidate, reason=reason, new_leader=before["leader"])
    if verdict == "noop":
        module.exit_json(**result)
    result.update(changed=True, new_leader=candidate)
    if module.check_mode:
        module.exit_json(**result)

    if p["action"] == "switchover":
        # Wait, within wait_timeout, for a candidate that is about to join the
        # synchronous set rather than be refused by Patroni with a bare 503.
        try:
            synchronous = synchronous_enabled(client.get_any("/config")[1])
        except PatroniUnavailable:
            synchronous = False  # Patroni still decides; its answer is reported below
        waited = wait_for(lambda: switchover_blocker(client.cluster()[1], candidate, synchronous) is None,
                          p["wait_timeout"], interval=0.5)[0]
        if not waited:
            try:
                blocker = switchover_blocker(client.cluster()[1], candidate, synchronous)
            except PatroniUnavailable as exc:
                blocker = str(exc)
            result.update(changed=False, new_leader=before["leader"], reason=blocker)
            module.fail_json(msg="%s refused: %s (waited %d s)" % (name, blocker, p["wait_timeout"]), **result)
        path, body = "/switchover", {"leader": before["leader"], "candidate": candidate}
    else:
        path, body = "/failover", {"candidate": candidate}
    # The clock runs from the request, which Patroni answers only once the
    # old leader has stepped down, until the new leader runs.
    start = time.monotonic()
    try:
        status, answer = client.post(base, path, body)
    except PatroniError as exc:
        module.fail_json(msg="%s: %s" % (name, exc), **result)
    if status == 401:
        result.update(changed=False, new_leader=before["leader"])
        module.fail_json(msg="%s refused by %s: wrong or missing REST API credentials (HTTP 401)" % (name, base),
                         **result)
    if status != 200:
        module.fail_json(msg="%s: Patroni answered HTTP %s: %s" % (name, status, str(answer).strip()[:300]),
                         api_response=str(answer), **result)
    result["api_response"] = str(answer).strip()

    def settled():
        now = client.cluster()[1]
        if now["leader"] == candidate and now["leader_running"] and \
                (before["timeline"] is None or (now["timeline"] or 0) > before["timeline"]):
            return now
        return None

    after = wait_for(settled, max(p["wait_timeout"] - (time.monotonic() - start), 0), interval=0.25)[0]
    result["seconds"] = round(time.monotonic() - start, 2)
    if after is None:
        module.fail_json(msg="%s to %s did not complete within %d s" % (name, candidate, p["wait_timeout"]),
                         **result)
    result.update(cluster=after, timeline=after["timeline"], new_leader=after["leader"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
