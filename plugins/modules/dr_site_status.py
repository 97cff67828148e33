#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: dr_site_status
short_description: Report how far the DR site's standby cluster is behind the primary site, and whether it may be activated
version_added: 0.2.0
description:
  - Reads the DR site's Patroni standby cluster (C(GET /cluster), then
    C(GET /patroni) on its standby leader) and, when any of it answers, the
    primary site's leader; returns the DR site's lag in bytes and seconds,
    where it gets WAL from (streaming or the offsite archive) and the
    primary site's state (writable, no leader, down).
  - Returns an C(activation) verdict for O(max_lag_bytes),
    O(max_lag_seconds) and O(force), one of C(activate), C(noop) (the DR site is
    already a primary) or C(refuse) with one line that says why. The module
    changes nothing; a playbook fails on C(refuse).
  - O(force) accepts a primary site that still answers (the caller must
    fence it) and a lag beyond the limits. It never accepts a DR site
    without a running standby leader, one that holds another database (its
    system identifier differs from the primary's) or one that never
    received WAL.
  - Fails only when no member of the DR site answers.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
  - fulexo.dr.patroni
options:
  urls:
    description:
      - REST APIs of the DR site's Patroni members, tried in order until one
        answers C(GET /cluster). Required.
    type: list
    elements: str
    default: []
  primary_urls:
    description:
      - REST APIs of the primary site's Patroni members. Empty, or none of
        them answering, means the primary site is down; the lag in bytes is
        then unknown and the lag in seconds is the time since the last
        transaction the DR site replayed.
      - The same credentials and TLS options as O(urls) are used.
    type: list
    elements: str
    default: []
  max_lag_bytes:
    description: Largest lag in bytes that may be activated without O(force).
    type: int
    default: 1073741824
  max_lag_seconds:
    description:
      - Largest lag in seconds that may be activated without O(force); the
        plan's database RPO by default.
    type: int
    default: 900
  force:
    description:
      - Accept a primary site that still answers, a lag beyond the limits, and archived WAL
        not replayed yet.
    type: bool
    default: false
  archive_wal_names:
    description:
      - File names in the offsite archive's WAL folder (WAL-G's C(wal_005)), for example from
        C(mc ls); compressed names are accepted, history and partial files ignored.
      - When given, C(archive) tells whether the DR site has replayed into the newest archived
        segment, and the verdict refuses (unless O(force)) while it has not. With the primary site
        gone, the archive is all there is.
    type: list
    elements: str
  wal_segment_bytes:
    description: WAL segment size of the cluster (C(initdb --wal-segsize)).
    type: int
    default: 16777216
notes:
  - The lag in seconds is 0 when nothing is left to replay; otherwise it is
    the age of the last transaction replayed, which overstates the lag while
    the primary writes nothing.
seealso:
  - name: Patroni standby cluster
    description: A cluster whose leader follows another cluster.
    link: https://patroni.readthedocs.io/en/latest/standby_cluster.html
  - module: fulexo.dr.patroni_cluster_info
"""

EXAMPLES = r"""
- name: How far behind is the DR site, and may it be activated?
  fulexo.dr.dr_site_status:
    urls: ["https://10.1.0.11:8008", "https://10.1.0.12:8008"]
    primary_urls: ["https://10.0.0.11:8008", "https://10.0.0.12:8008", "https://10.0.0.13:8008"]
    username: patroni
    password: "{{ vault_patroni_restapi_password }}"
    ca_cert: /etc/fulexo/ca.pem
  register: dr_site

- name: Refuse when the DR site may not be activated
  ansible.builtin.fail:
    msg: "{{ dr_site.activation.reason }}"
  when: dr_site.activation.action == 'refuse'
"""

RETURN = r"""
url:
  description: The DR site REST API that answered C(GET /cluster).
  returned: always
  type: str
  sample: https://10.1.0.11:8008
scope:
  description: The DR site's Patroni scope.
  returned: always
  type: str
  sample: fulexo-dr
members:
  description: The DR site's members as M(fulexo.dr.patroni_cluster_info) reports them.
  returned: always
  type: list
  elements: dict
standby:
  description:
    - The DR site leader's position from C(GET /patroni) (role
      C(standby_leader) while it follows, C(primary) once activated); null
      when the DR site has no leader.
  returned: always
  type: dict
  sample: {name: dr-pg1, role: standby_leader, state: running, running: true,
           system_identifier: "7445012345678901234", timeline: 4, lsn: 84017152,
           received_lsn: 84017152, replayed_lsn: 84017152, replayed_at: 1796572862.5,
           replay_paused: false, replication_state: streaming, scope: fulexo}
wal_source:
  description: Where the standby leader gets WAL now.
  returned: always
  type: str
  choices: [streaming, archive, none]
  sample: streaming
primary_state:
  description: The primary site as seen from here.
  returned: always
  type: str
  choices: [writable, no leader, down]
  sample: writable
primary:
  description: The primary site leader's position, or null when it is down or has no leader.
  returned: always
  type: dict
primary_errors:
  description: Each primary site URL that did not answer, with its reason.
  returned: always
  type: list
  elements: str
lag_bytes:
  description: Bytes the DR site has still to replay; null when the primary site does not answer.
  returned: always
  type: int
  sample: 0
receive_lag_bytes:
  description: Bytes the DR site has still to receive; null when unknown.
  returned: always
  type: int
  sample: 0
lag_seconds:
  description: Seconds behind (see the notes); null when the DR site replayed nothing since it started.
  returned: always
  type: float
  sample: 0.0
archive:
  description:
    - Whether the DR site has replayed into the newest segment the offsite archive holds; null
      without O(archive_wal_names).
  returned: always
  type: dict
  sample: {newest_segment: "000000080000000000000023", newest_timeline: 8, archive_end_lsn: "0/24000000",
           replayed_lsn: "0/230001A0", bytes_behind: 16776800, caught_up: true,
           reason: "replayed into the newest archived segment 000000080000000000000023"}
lag_basis:
  description: What the lag was measured against.
  returned: always
  type: str
  sample: primary site's write position
activation:
  description: Whether the DR site may be promoted now, and why.
  returned: always
  type: dict
  sample: {action: refuse, forced: false,
           reason: "the primary site is healthy (pg1 is a writable primary): activating the DR site would make two primaries; ..."}
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._dr_site import (
    activation_verdict,
    archive_catch_up,
    member_position,
    primary_site_state,
    site_lag,
    source_of_wal,
)
from ansible_collections.fulexo.dr.plugins.module_utils._patroni import (
    PatroniClient,
    PatroniError,
    PatroniUnavailable,
    patroni_argument_spec,
)


def leader_status(client, cluster):
    """GET /patroni on the cluster's leader: (position, error)."""
    leader = next((m for m in cluster["members"] if m["is_leader"]), None)
    if leader is None or not leader["api_url"]:
        return None, None
    url = leader["api_url"]
    try:
        status, data = client.request("GET", url)
    except PatroniError as exc:
        return None, "%s: %s" % (url, exc.reason or exc)
    # Patroni answers its status with 503 on a member that is not running; the body still tells.
    if not isinstance(data, dict):
        return None, "%s: HTTP %s: %s" % (url, status, str(data).strip()[:200])
    position = member_position(data)
    position["name"] = position["name"] or leader["name"]
    return position, None


def main():
    spec = patroni_argument_spec()
    spec.update(
        urls=dict(type="list", elements="str", default=[]),
        primary_urls=dict(type="list", elements="str", default=[]),
        max_lag_bytes=dict(type="int", default=1073741824),
        max_lag_seconds=dict(type="int", default=900),
        force=dict(type="bool", default=False),
        archive_wal_names=dict(type="list", elements="str"),
        wal_segment_bytes=dict(type="int", default=16777216),
    )
    module = AnsibleModule(argument_spec=spec, required_together=[("client_cert", "client_key")],
                           supports_check_mode=True)
    params = module.params
    size = params["wal_segment_bytes"]
    if size < 1 << 20 or size > 1 << 30 or size & (size - 1):
        module.fail_json(msg="dr_site_status: wal_segment_bytes %d is not a WAL segment size (a power of two "
                             "from 1 MiB to 1 GiB)" % size, changed=False)
    if not params["urls"]:
        module.fail_json(msg="dr_site_status: urls is empty: give the REST APIs of the DR site's Patroni members",
                         changed=False)
    dr_client = PatroniClient.from_params(params)
    try:
        url, dr_cluster = dr_client.cluster()
    except PatroniUnavailable as exc:
        module.fail_json(msg="dr_site_status: the DR site does not answer: %s" % exc, changed=False)
    standby, standby_error = leader_status(dr_client, dr_cluster)

    primary_cluster, primary, primary_errors = None, None, []
    if params["primary_urls"]:
        primary_client = PatroniClient.from_params(dict(params, urls=params["primary_urls"]))
        try:
            _url, primary_cluster = primary_client.cluster()
        except PatroniUnavailable as exc:
            primary_errors = ["%s: %s" % tried for tried in exc.tried]
        if primary_cluster is not None:
            primary, error = leader_status(primary_client, primary_cluster)
            if error:
                primary_errors.append(error)
    state = primary_site_state(primary_cluster, primary)
    lag = site_lag(standby, primary if state == "writable" else None, time.time())
    archive = None
    if params["archive_wal_names"] is not None:
        archive = archive_catch_up(params["archive_wal_names"], standby, params["wal_segment_bytes"])
    verdict = activation_verdict(dr_cluster, standby, state, primary, lag, params["max_lag_bytes"],
                                 params["max_lag_seconds"], params["force"], archive)
    if standby_error and verdict["action"] == "refuse":
        verdict["reason"] += " (its leader's status: %s)" % standby_error
    module.exit_json(
        changed=False, url=url, scope=dr_cluster["scope"], members=dr_cluster["members"],
        standby=standby, wal_source=source_of_wal(standby), primary_state=state,
        primary=primary if state == "writable" else None, primary_errors=primary_errors,
        lag_bytes=lag["lag_bytes"], receive_lag_bytes=lag["receive_lag_bytes"],
        lag_seconds=lag["lag_seconds"], lag_basis=lag["basis"], archive=archive, activation=verdict)


if __name__ == "__main__":
    main()
