#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: minio_replication_status
short_description: Compare object versions of a bucket across MinIO sites and report what has not replicated
version_added: 0.1.0
description:
  - Lists every object version under a bucket and prefix on the source site
    and on each target site (C(mc ls --versions --recursive --json)), and
    compares them by key and version ID, which MinIO replication preserves.
  - Reports per target the versions that are missing, classified with the
    source's own replication status (C(mc stat)) as C(pending) (in flight, or
    younger than O(grace)), C(failed) or C(missing) (the source believes it was
    sent), the oldest unreplicated age, and versions only the target has.
  - A target that cannot be listed is reported unreachable, with the backlog
    the source reports for it (its newest versions still C(PENDING) or
    C(FAILED)).
  - Fails when a target is unreachable or holds more than O(max_missing)
    overdue versions, unless O(fail_on_missing=false).
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
  - fulexo.dr.minio
options:
  bucket:
    description: Bucket to compare; the same name on every site.
    type: str
    required: true
  prefix:
    description: Only object keys starting with this prefix.
    type: str
    default: ""
  source:
    description: The site replication starts from.
    type: dict
    required: true
    suboptions:
      name:
        description: Site name used in the results.
        type: str
        required: true
      url:
        description: S3 endpoint, for example C(https://minio1.example.com:9000).
        type: str
        required: true
      access_key:
        description: Access key allowed to list versions (and stat objects on the source).
        type: str
        required: true
      secret_key:
        description: Secret of O(source.access_key).
        type: str
        required: true
  targets:
    description: The sites the source replicates to.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Site name used in the results.
        type: str
        required: true
      url:
        description: S3 endpoint.
        type: str
        required: true
      access_key:
        description: Access key allowed to list versions.
        type: str
        required: true
      secret_key:
        description: Secret of the access key.
        type: str
        required: true
      delete_markers:
        description: Whether delete markers replicate to this target (otherwise they are not expected there).
        type: bool
        default: false
  grace:
    description: Seconds a version may take to replicate before it counts as overdue.
    type: int
    default: 60
  max_missing:
    description: Overdue missing versions tolerated per target before the module fails.
    type: int
    default: 0
  fail_on_missing:
    description: Fail when a target is unreachable or beyond O(max_missing). Otherwise only report.
    type: bool
    default: true
  status_lookups:
    description: At most this many source versions are asked for their replication status (one C(mc stat) each).
    type: int
    default: 50
  max_listed:
    description: At most this many missing versions are listed per target (counts are always complete).
    type: int
    default: 50
notes:
  - Lifecycle expiry acts on each site on its own, so a target may keep versions
    the source already expired; they are counted in the C(extra_count) of each target, never a failure.
  - The source's replication status is aggregated over all its targets by
    MinIO; per target, presence in the listing is the truth this module reports.
seealso:
  - name: MinIO bucket replication
    description: How MinIO replicates versions, delete markers and existing objects.
    link: https://min.io/docs/minio/linux/administration/bucket-replication.html
"""

EXAMPLES = r"""
- name: Check that last night's base backups reached the other sites
  fulexo.dr.minio_replication_status:
    bucket: fulexo-backups
    prefix: postgres/basebackups_005/
    source: {name: primary, url: "https://minio1:9000", access_key: "{{ vault_minio_root_user }}",
             secret_key: "{{ vault_minio_root_password }}"}
    targets:
      - {name: secondary, url: "https://minio2:9000", access_key: "{{ vault_minio_root_user }}",
         secret_key: "{{ vault_minio_root_password }}", delete_markers: true}
      - {name: offsite, url: "https://minio3:9000", access_key: "{{ vault_minio_root_user }}",
         secret_key: "{{ vault_minio_root_password }}"}
    grace: 3600
  register: replication
  no_log: false
"""

RETURN = r"""
source_versions:
  description: Versions (delete markers included) under the prefix on the source.
  returned: always
  type: int
  sample: 412
targets:
  description: One entry per target.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: secondary, reachable: true, error: "", expected: 412, present: 409, missing_count: 3,
       pending_count: 3, failed_count: 0, overdue_count: 0, extra_count: 0, oldest_missing_age: 12.5,
       within_tolerance: true,
       missing: [{key: postgres/wal_0001, version_id: 8317d573-ed26-48ec-b875-c2fc20f3a85f,
                  is_delete_marker: false, age: 12.5, source_status: FAILED, state: failed}]}
unreachable_targets:
  description: Names of the targets that could not be listed.
  returned: always
  type: list
  elements: str
  sample: [secondary]
missing_total:
  description: Missing versions summed over the reachable targets.
  returned: always
  type: int
  sample: 3
pending_total:
  description: Missing (or, for unreachable targets, backlogged) versions still in flight.
  returned: always
  type: int
  sample: 3
failed_total:
  description: Missing or backlogged versions whose replication the source reports as failed.
  returned: always
  type: int
  sample: 0
oldest_unreplicated_age:
  description: Age in seconds of the oldest version not yet on a target; null when none.
  returned: always
  type: float
  sample: 12.5
in_sync:
  description: Every target is reachable and holds every expected version.
  returned: always
  type: bool
  sample: false
ok:
  description: Every target is reachable and within O(max_missing).
  returned: always
  type: bool
  sample: true
"""

import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._mc import SITE_SPEC, Mc, list_versions
from ansible_collections.fulexo.dr.plugins.module_utils._minio import (
    MinioOutputError,
    compare_sites,
    parse_replication_status,
    status_lookup_candidates,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            bucket=dict(type="str", required=True),
            prefix=dict(type="str", default=""),
            source=dict(type="dict", required=True, options=SITE_SPEC),
            targets=dict(type="list", elements="dict", required=True,
                         options=dict(SITE_SPEC, delete_markers=dict(type="bool", default=False))),
            grace=dict(type="int", default=60),
            max_missing=dict(type="int", default=0),
            fail_on_missing=dict(type="bool", default=True),
            status_lookups=dict(type="int", default=50),
            max_listed=dict(type="int", default=50),
            mc_path=dict(type="path", default="mc"),
            ca_cert=dict(type="path"),
            insecure=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    bucket, prefix = params["bucket"], params["prefix"].lstrip("/")
    config_dir = tempfile.mkdtemp(prefix="fulexo-mc-")
    try:
        mc = Mc(module, config_dir)
        mc.add_site("src", params["source"])
        source_versions, error = list_versions(mc, "src", bucket, prefix)
        if source_versions is None:
            module.fail_json(msg="minio_replication_status: cannot list versions of %s/%s on source %s (%s): %s"
                             % (bucket, prefix, params["source"]["name"], params["source"]["url"], error))
        targets = []
        for index, site in enumerate(params["targets"]):
            alias = "t%d" % index
            mc.add_site(alias, site)
            versions, error = list_versions(mc, alias, bucket, prefix)
            targets.append({"name": site["name"], "delete_markers": site["delete_markers"],
                            "versions": versions, "error": error})

        statuses = {}
        for version in status_lookup_candidates(source_versions, targets, params["status_lookups"]):
            rc, out, err = mc.run("stat", "--version-id", version["version_id"],
                                  "src/%s/%s" % (bucket, version["key"]))
            try:
                statuses[(version["key"], version["version_id"])] = parse_replication_status(out)
            except MinioOutputError:
                # Gone since the listing (lifecycle); judged by age alone.
                continue
        result = compare_sites(source_versions, targets, time.time(), grace=params["grace"],
                               max_missing=params["max_missing"], statuses=statuses,
                               max_listed=params["max_listed"])
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)

    if params["fail_on_missing"] and not result["ok"]:
        problems = []
        for target in result["targets"]:
            if not target["reachable"]:
                problems.append("%s unreachable (%s), %d version(s) backlogged on the source"
                                % (target["name"], target["error"], target["backlog_count"]))
            elif not target["within_tolerance"]:
                problems.append("%s lacks %d overdue version(s) (%d failed), oldest %.0f s"
                                % (target["name"], target["overdue_count"], target["failed_count"],
                                   target["oldest_missing_age"]))
        module.fail_json(msg="replication of %s/%s from %s is behind beyond tolerance (max_missing=%d, grace=%d s): %s"
                         % (bucket, prefix, params["source"]["name"], params["max_missing"], params["grace"],
                            "; ".join(problems)), changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
