#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_posture
short_description: Read the estate's DR posture from Prometheus
version_added: 0.1.0
description:
  - Asks Prometheus (the P(fulexo.dr.monitoring#role) role's) for what the
    DR plan watches, with instant queries (the newest successful backup's age
    and the last backup runs, the last restore test, WAL archiving, Patroni leaders, each replica's
    lag and streaming, etcd members that see a leader, Redis Cluster's state,
    services down, and the alerts firing).
  - Judges each check C(ok), C(degraded) or C(critical) against the plan's
    limits and returns the worst as RV(verdict), with a short table for
    people. A check nothing reports on is never C(ok).
  - Read-only. Fails only when Prometheus does not answer, or when
    O(fail_on_critical=true) and the verdict is C(critical).
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
options:
  prometheus_url:
    description: Prometheus's base URL, as seen from the host the module runs on.
    type: str
    default: http://127.0.0.1:9090
  timeout:
    description: Seconds to wait for each query.
    type: int
    default: 10
  backup_age_limit_seconds:
    description: A newest successful backup older than this is critical (plan, 25 hours).
    type: int
    default: 90000
  lag_limit_bytes:
    description: A replica further behind than this is degraded (plan, 100 MB).
    type: int
    default: 104857600
  restore_test_age_limit_seconds:
    description: A last successful restore test older than this is degraded (the plan tests monthly; 35 days).
    type: int
    default: 3024000
  services_down_limit:
    description: More services down than this is critical (plan, 2).
    type: int
    default: 2
  fail_on_critical:
    description: Fail, after returning the whole posture, when the verdict is C(critical).
    type: bool
    default: false
notes:
  - The metric names are those of the monitoring role's exporters and of
    WAL-G's textfile metrics; docs/monitoring.md lists where each comes from.
seealso:
  - name: Prometheus HTTP API
    description: The instant-query and alerts endpoints this module reads.
    link: https://prometheus.io/docs/prometheus/latest/querying/api/
"""

EXAMPLES = r"""
- name: Read the DR posture from the monitoring host
  fulexo.dr.dr_posture:
    backup_age_limit_seconds: "{{ (monitoring_alert_backup_age_hours | float * 3600) | int }}"
  register: posture
  delegate_to: "{{ groups['monitoring'][0] }}"

- name: Show it
  ansible.builtin.debug:
    msg: "{{ posture.table }}"
"""

RETURN = r"""
verdict:
  description: The worst of the checks' statuses.
  returned: success
  type: str
  sample: degraded
problems:
  description: Every check that is not ok, with its level and a reason in one line.
  returned: success
  type: list
  elements: dict
  sample: [{check: replication, level: degraded, reason: "pg3 is 120586240 bytes behind"}]
checks:
  description:
    - Each check's status and figures, under backup, archiving, database, replication, consensus, cache,
      services and alerts_firing.
  returned: success
  type: dict
  sample:
    backup: {status: ok, age_seconds: 5400.2, limit_seconds: 90000, failed_last_runs: []}
    database: {status: ok, leaders: {fulexo-primary: 1}}
table:
  description: The posture in a few aligned lines.
  returned: success
  type: list
  elements: str
  sample: ["DR posture: OK", "  backup       ok        newest 1h30m old (limit 1d01h)"]
prometheus_url:
  description: The Prometheus asked.
  returned: always
  type: str
  sample: http://127.0.0.1:9090
"""

import json

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible.module_utils.urls import open_url
from ansible_collections.fulexo.dr.plugins.module_utils._posture import QUERIES, assess, table


class PrometheusUnavailable(Exception):
    pass


def fetch(url, timeout):
    try:
        body = json.loads(open_url(url, method="GET", timeout=timeout).read())
    except Exception as exc:  # open_url raises several kinds; all mean the same here.
        raise PrometheusUnavailable(str(exc))
    if body.get("status") != "success":
        raise PrometheusUnavailable(body.get("error") or "status %s" % body.get("status"))
    return body["data"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            prometheus_url=dict(type="str", default="http://127.0.0.1:9090"),
            timeout=dict(type="int", default=10),
            backup_age_limit_seconds=dict(type="int", default=90000),
            lag_limit_bytes=dict(type="int", default=104857600),
            restore_test_age_limit_seconds=dict(type="int", default=3024000),
            services_down_limit=dict(type="int", default=2),
            fail_on_critical=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    base = module.params["prometheus_url"].rstrip("/")
    answers = {}
    try:
        for name, query in QUERIES.items():
            answers[name] = fetch("%s/api/v1/query?%s" % (base, urlencode({"query": query})),
                                  module.params["timeout"])["result"]
        alerts = fetch(base + "/api/v1/alerts", module.params["timeout"])["alerts"]
    except PrometheusUnavailable as exc:
        module.fail_json(msg="dr_posture: Prometheus at %s does not answer (%s): the posture cannot be read from "
                             "monitoring; check the prometheus service on the monitoring host" % (base, exc),
                         prometheus_url=base)
    report = assess(answers, alerts, {"backup_age_seconds": module.params["backup_age_limit_seconds"],
                                      "lag_bytes": module.params["lag_limit_bytes"],
                                      "services_down": module.params["services_down_limit"],
                                      "restore_test_age_seconds": module.params["restore_test_age_limit_seconds"]})
    result = dict(changed=False, prometheus_url=base, table=table(report), **report)
    if module.params["fail_on_critical"] and report["verdict"] == "critical":
        module.fail_json(msg="dr_posture: the estate is critical: " + "; ".join(
            p["reason"] for p in report["problems"] if p["level"] == "critical"), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
