#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: walg_archive_guard
short_description: Record WAL-G base backups' object versions and find the newest backup untouched since a given time
version_added: 0.1.0
description:
  - Guards a WAL-G archive kept in a versioned MinIO bucket with object lock
    against someone holding the writer's keys, who can put new versions on
    top of backups and WAL or hide them with delete markers, but cannot
    change or remove locked versions.
  - With O(action=record) (right after a base backup), reads the latest
    version of every object of backup O(backup) and of its backup stop
    sentinel, streams each through SHA-256 (C(mc cat)), and writes the list
    of keys, version IDs, sizes and digests as
    C(<prefix>/manifests/<backup>.json) (C(mc pipe)). A manifest that already
    lists the same versions and digests is not written again.
  - O(action=verify) also reads the manifests the walg role's backup job
    writes there (keys, sizes and digests without version IDs); their
    objects are judged by the trusted version's size and bytes.
  - With O(action=verify), lists every version under O(prefix) and builds
    the trusted view, each key as it stood just before O(before) (versions
    written at or after it are not trusted). Then, for each backup whose
    sentinel is in that view, newest first (or only O(backup)), it checks
    that a delta's bases are there too (C(chain)), that the backup's
    manifest is (C(manifest)), that every version the manifest lists is
    still the trusted version of its key (C(manifest_versions)), that every
    version a restore reads is locked in a mode of O(lock_modes) until a
    time still to come (C(lock)) - the recorded objects, sentinels,
    manifests, and the WAL segments from the backup's start on any timeline
    with every timeline history file - and that each recorded object's bytes
    still hash to the manifest's digest (C(checksum)). The first backup to
    pass them all is the one to restore from; the others are reported with
    the check they failed.
  - Fails when no backup passes, saying for each (newest first) which check
    failed and why.
  - Also plans a rewind of the bucket to that moment - WAL-G reads the
    latest versions, not the trusted ones - and applies it with
    O(rewind=true) once a backup has passed. Each key whose trusted version
    is not its latest gets that version copied on top (server-side,
    C(mc cp --version-id)), and each key with no trusted version (written
    at or after O(before), or deleted before it) gets a delete marker
    (C(mc rm)). Nothing is deleted, every version stays as evidence. The
    result is listed again and checked key by key.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.minio
options:
  site:
    description: The MinIO site holding the archive.
    type: dict
    required: true
    suboptions:
      name:
        description: Site name, used in messages.
        type: str
        required: true
      url:
        description: S3 endpoint, for example C(https://minio1.example.com:9000).
        type: str
        required: true
      access_key:
        description:
          - Access key allowed to list versions, read objects and their
            retention; with O(action=record) also to write the manifest,
            with O(rewind=true) to copy objects and add delete markers.
        type: str
        required: true
      secret_key:
        description: Secret of O(site.access_key).
        type: str
        required: true
  bucket:
    description: The bucket WAL-G archives to.
    type: str
    required: true
  prefix:
    description: WAL-G's prefix in the bucket (the path of C(WALG_S3_PREFIX) after the bucket), for example C(postgres/fulexo).
    type: str
    required: true
  action:
    description:
      - V(record) writes the manifest of O(backup).
      - V(verify) finds the newest backup that passes every check as of O(before), and plans (or applies) the rewind.
    type: str
    required: true
    choices: [record, verify]
  backup:
    description:
      - The backup's name, for example C(base_000000010000000000000002).
      - Required with O(action=record). With O(action=verify), only this backup is judged.
    type: str
  before:
    description:
      - A time with a time zone, for example C(2026-12-03T02:00:00Z), before the
        keys may have been stolen. Versions written at or after it are not
        trusted. Required with O(action=verify).
    type: str
  lock_modes:
    description: Object lock modes accepted as immutable.
    type: list
    elements: str
    choices: [COMPLIANCE, GOVERNANCE]
    default: [COMPLIANCE, GOVERNANCE]
  rewind:
    description:
      - With O(action=verify), once a backup has passed, make every key's
        latest version its trusted version again, as planned in RV(rewind).
      - The sentinels of trusted backups that failed the checks are hidden
        too (a delete marker), so that WAL-G's LATEST, which a restore to the
        newest point starts from, is the backup that passed. Removing that
        delete marker shows such a backup again.
      - Stop the archiving (and anything else writing under O(prefix))
        first, since WAL written from then on is hidden by the next rewind.
    type: bool
    default: false
  max_listed:
    description: At most this many rejected backups, copied and hidden keys are listed (counts are always complete).
    type: int
    default: 20
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - O(action=verify) only reads, unless O(rewind=true); in check mode the rewind is planned, not applied.
      - O(action=record) reads and hashes the backup in check mode too, and does not write the manifest.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Every object of the backup is read once per O(action=record), and once
    per O(action=verify) for the backup that reaches the C(checksum) check;
    plan for the transfer of a full base backup.
  - Legal holds are not read; only retention modes and dates count as locks.
  - A multipart object copied back by a rewind gets a new ETag, so a later
    run with the same O(before) hashes it and its trusted version to tell
    that it is already restored.
seealso:
  - name: MinIO object locking
    description: Retention modes, retain-until dates, and what a delete marker does to a locked object.
    link: https://min.io/docs/minio/linux/administration/object-management/object-retention.html
  - module: fulexo.dr.walg_backup_info
"""

EXAMPLES = r"""
- name: Record the manifest of the backup just taken
  fulexo.dr.walg_archive_guard:
    action: record
    backup: "{{ walg.last_backup.name }}"
    site: {name: primary, url: "https://minio1:9000", access_key: "{{ vault_walg_s3_access_key }}",
           secret_key: "{{ vault_walg_s3_secret_key }}"}
    bucket: fulexo-backups
    prefix: postgres/fulexo

- name: Which backup is untouched since before the intrusion (read-only)
  fulexo.dr.walg_archive_guard:
    action: verify
    before: "2026-12-03T02:00:00Z"
    site: {name: offsite, url: "https://minio3:9000", access_key: "{{ vault_minio_root_user }}",
           secret_key: "{{ vault_minio_root_password }}"}
    bucket: fulexo-backups
    prefix: postgres/fulexo
    lock_modes: [COMPLIANCE]
  register: guard

- name: Put the archive back as it was then, archiving stopped
  fulexo.dr.walg_archive_guard:
    action: verify
    before: "2026-12-03T02:00:00Z"
    rewind: true
    site: {name: offsite, url: "https://minio3:9000", access_key: "{{ vault_minio_root_user }}",
           secret_key: "{{ vault_minio_root_password }}"}
    bucket: fulexo-backups
    prefix: postgres/fulexo
"""

RETURN = r"""
manifest:
  description:
    - With O(action=record), the manifest of O(backup) - written, already there (RV(manifest.written=false)),
      or in check mode to be written (RV(manifest.version_id=null)).
  returned: action is record
  type: dict
  contains:
    key:
      description: The manifest's key.
      type: str
      sample: postgres/fulexo/manifests/base_000000010000000000000002.json
    version_id:
      description: The manifest's version in the bucket; null in check mode when it would be written.
      type: str
      sample: 2acbc5d2-5a9a-4cf7-8448-981f88348872
    objects:
      description: Objects recorded, the sentinel included.
      type: int
      sample: 5
    bytes:
      description: Their bytes, all read through SHA-256.
      type: int
      sample: 20005893
    written:
      description: This run wrote it.
      type: bool
      sample: true
ok:
  description: A backup passed every check.
  returned: action is verify
  type: bool
  sample: true
before:
  description: O(before) as UTC.
  returned: action is verify
  type: str
  sample: "2026-12-03T02:22:41.594000Z"
backup:
  description: The newest backup that passed every check; null when none did.
  returned: action is verify
  type: str
  sample: base_000000010000000000000005_D_000000010000000000000002
backup_finished_at:
  description: When that backup's stop sentinel was written (WAL-G writes it last).
  returned: action is verify
  type: str
  sample: "2026-12-03T02:22:17.216000Z"
chain:
  description: The backups a restore of RV(backup) reads, itself first, then each delta's base.
  returned: action is verify
  type: list
  elements: str
  sample: [base_000000010000000000000005_D_000000010000000000000002, base_000000010000000000000002]
rejected:
  description: Newer backups that failed a check (or, with O(backup), that one), newest first.
  returned: action is verify
  type: list
  elements: dict
  sample:
    - {backup: base_000000020000000000000009, check: manifest_versions,
       detail: "1 of 5 recorded object(s): postgres/fulexo/basebackups_005/base_000000020000000000000009/tar_partitions/pg_control.tar.lz4:
                overwritten before then (trusted version da000022-6503-40d6-b05b-d0b714117f01, recorded
                8923ed5c-3bec-469a-8fb5-fd463798647b)"}
    - {backup: base_000000020000000000000008, check: manifest,
       detail: "no manifest postgres/fulexo/manifests/base_000000020000000000000008.json before then
                (action=record did not run for it, or it was deleted)"}
objects_checked:
  description: Recorded objects (sentinels included) of the chosen backup and its bases that were checked.
  returned: action is verify
  type: int
  sample: 10
bytes_hashed:
  description: Bytes read through SHA-256 in this run (the checked objects, and objects a rewind may already have restored).
  returned: action is verify
  type: int
  sample: 40311786
wal_objects_checked:
  description: Trusted WAL segments and history files whose lock was checked for the chosen backup.
  returned: action is verify
  type: int
  sample: 7
lock:
  description: Retention of every version the chosen backup's restore reads (null when none passed).
  returned: action is verify
  type: dict
  sample: {versions: 19, modes: {COMPLIANCE: 19}, earliest_retain_until: "2026-12-04T02:21:43.063000Z"}
untrusted_versions:
  description: Versions under the prefix written at or after O(before), delete markers included.
  returned: action is verify
  type: int
  sample: 7
rewind:
  description:
    - The rewind to O(before). RV(rewind.copied) and RV(rewind.hidden) list what was copied back and
      hidden, or with RV(rewind.applied=false) what would be.
  returned: action is verify
  type: dict
  contains:
    to_copy:
      description: Keys whose trusted version is to be copied back on top.
      type: int
      sample: 5
    to_hide:
      description: Keys with no trusted version to be hidden by a delete marker.
      type: int
      sample: 2
    applied:
      description: This run copied and hid them, and the listing after it showed every key as planned.
      type: bool
      sample: true
    copied:
      description: The keys copied back (at most O(max_listed)), with the trusted version and the latest before the rewind.
      type: list
      elements: dict
      sample:
        - {key: postgres/fulexo/wal_005/000000020000000000000007.lz4, version_id: 49a3dee3-f22b-4d81-8b68-16fea1a74866,
           size: 67000, etag: a22c36e07f9f4f58637d4ceb541d8b68, latest_version_id: f396f482-0f21-4417-9f4c-e6ae8b1779d4,
           latest_is_delete_marker: false, latest_written_at: "2026-12-03T02:22:44.090000Z"}
    hidden:
      description: The keys hidden (at most O(max_listed)), with their latest version before the rewind.
      type: list
      elements: dict
      sample:
        - {key: postgres/fulexo/README_RESTORE_YOUR_DATA.txt, latest_version_id: ca664fbb-6225-4466-b4c7-7860b4a228d4,
           latest_written_at: "2026-12-03T02:22:44.378000Z"}
"""

import datetime
import shutil
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.fulexo.dr.plugins.module_utils._archive_guard import (
    GuardError,
    ManifestError,
    Verification,
    backup_folder,
    before_micros,
    build_manifest,
    by_key,
    clean_prefix,
    failure_message,
    hide_rejected,
    iso_micros,
    manifest_key,
    manifest_text,
    parse_manifest,
    parse_retention,
    record_objects,
    rewind_plan,
    rewind_problems,
    same_objects,
    sentinel_key,
    strip_progress,
)
from ansible_collections.fulexo.dr.plugins.module_utils._mc import SITE_SPEC, Mc, list_versions
from ansible_collections.fulexo.dr.plugins.module_utils._minio import MinioOutputError, parse_json_lines
from ansible_collections.fulexo.dr.plugins.module_utils._walg import MissingTimeZoneError, iso, split_backup_name

ALIAS = "site"


class Guard(object):
    """The module's reads and writes through mc, and its failures."""

    def __init__(self, module, mc):
        self.module = module
        self.mc = mc
        self.params = module.params
        self.bucket = module.params["bucket"]
        self.prefix = clean_prefix(module.params["prefix"])
        self.where = "%s/%s" % (self.bucket, self.prefix)
        self.site = "%s (%s)" % (module.params["site"]["name"], module.params["site"]["url"])

    def path(self, key):
        return "%s/%s/%s" % (ALIAS, self.bucket, key)

    def fail(self, msg, **result):
        result.setdefault("changed", False)
        self.module.fail_json(msg=msg, **result)

    def versions(self, prefix):
        versions, error = list_versions(self.mc, ALIAS, self.bucket, prefix)
        if versions is None:
            self.fail("cannot list the object versions of %s/%s on %s: %s" % (self.bucket, prefix, self.site, error))
        return versions

    def run_ok(self, what, *args, **kwargs):
        """mc args; its --json lines, or raises MinioOutputError with mc's message."""
        rc, out, err = self.mc.run(*args, **kwargs)
        lines = parse_json_lines(strip_progress(out), what)
        if rc != 0:
            raise MinioOutputError("mc %s exited %d: %s" % (what, rc, err.strip() or "no message"))
        return lines

    # --- record ------------------------------------------------------------------------

    def record(self):
        backup = self.params["backup"]
        if split_backup_name(backup) is None:
            self.fail("backup %r is not a WAL-G backup name (base_ and a 24-digit WAL file name, for example "
                      "base_000000010000000000000002)" % backup)
        objects = []
        try:
            objects = record_objects(self.versions(backup_folder(self.prefix, backup)),
                                     self.versions(sentinel_key(self.prefix, backup)), self.prefix, backup)
        except GuardError as exc:
            self.fail("cannot record %s in %s on %s: %s" % (backup, self.where, self.site, exc))
        hashed = []
        for version in objects:
            digest, size = None, None
            try:
                digest, size = self.mc.sha256(self.path(version["key"]), version["version_id"])
            except MinioOutputError as exc:
                self.fail("cannot record %s: %s" % (backup, exc))
            if size != version["size"]:
                self.fail("cannot record %s: %s version %s is listed with %d bytes but %d were read; run it again"
                          % (backup, version["key"], version["version_id"], version["size"], size))
            hashed.append(dict(version, sha256=digest))
        manifest = build_manifest(backup, self.bucket, self.prefix, iso(datetime.datetime.now(datetime.timezone.utc)),
                                  hashed)
        key = manifest_key(self.prefix, backup)
        summary = {"key": key, "version_id": None, "objects": len(hashed),
                   "bytes": sum(o["size"] for o in hashed), "written": False}

        # Writing the same manifest again would only add a locked version.
        latest = by_key(self.versions(key)).get(key, [None])[0]
        if latest is not None and not latest["is_delete_marker"]:
            try:
                existing = parse_manifest(self.mc.read(self.path(key), latest["version_id"]), backup, self.prefix)
            except (ManifestError, MinioOutputError):
                existing = None
            if existing is not None and same_objects(existing, manifest):
                summary["version_id"] = latest["version_id"]
                return {"changed": False, "manifest": summary}
        if self.module.check_mode:
            return {"changed": True, "manifest": summary}

        text = manifest_text(manifest)
        try:
            self.run_ok("pipe", "pipe", self.path(key), data=text, binary_data=True)
        except MinioOutputError as exc:
            self.fail("cannot write the manifest %s of %s on %s: %s" % (key, backup, self.site, exc))
        # mc pipe does not print the version it made, and uploads in parts,
        # so the ETag is no MD5 of the text: the latest version is read back.
        latest = by_key(self.versions(key)).get(key, [None])[0]
        try:
            written = latest is not None and self.mc.read(self.path(key), latest["version_id"]) == text
        except MinioOutputError:
            written = False
        if not written:
            self.fail("wrote the manifest %s of %s, but its latest version is not what was written (another writer?): "
                      "%s" % (key, backup, latest and latest["version_id"]))
        summary.update(version_id=latest["version_id"], written=True)
        return {"changed": True, "manifest": summary}

    # --- verify ------------------------------------------------------------------------

    def retention(self):
        path = self.path(self.prefix + "/" if self.prefix else "")
        rc, out, err = self.mc.run("retention", "info", "--recursive", "--versions", path)
        retention = parse_retention(out, ALIAS, self.bucket)
        if rc != 0:
            raise MinioOutputError("mc retention info exited %d: %s" % (rc, err.strip() or "no message"))
        return retention

    def verify(self):
        params = self.params
        before_us = None
        try:
            before_us = before_micros(params["before"])
        except MissingTimeZoneError:
            self.fail("before %r has no time zone: add Z or an offset, e.g. %sZ"
                      % (params["before"], params["before"].strip().replace(" ", "T")))
        except ValueError as exc:
            self.fail("before %r is not a time: %s" % (params["before"], exc))
        versions = self.versions(self.prefix + "/" if self.prefix else "")
        verification = Verification(
            versions, self.prefix, before_us,
            read_manifest=lambda v: self.mc.read(self.path(v["key"]), v["version_id"]),
            retention=self.retention,
            hash_version=lambda v: self.mc.sha256(self.path(v["key"]), v["version_id"]),
            lock_modes=params["lock_modes"], now=time.time())
        result = {}
        try:
            result = verification.run(params["backup"], where=self.where)
        except GuardError as exc:
            self.fail(str(exc))
        except MinioOutputError as exc:
            self.fail("cannot read %s on %s: %s" % (self.where, self.site, exc))

        def same_content(latest, trusted):
            return verification.hash(latest)[0] == verification.hash(trusted)[0]

        plan = {"to_copy": [], "to_hide": []}
        try:
            plan = rewind_plan(versions, before_us, same_content)
        except MinioOutputError as exc:
            self.fail("cannot plan the rewind of %s on %s: %s" % (self.where, self.site, exc))
        if result["ok"]:
            plan = hide_rejected(plan, versions, self.prefix, [r["backup"] for r in result["rejected"]])
        cap = max(params["max_listed"], 0)
        result.update(before=iso_micros(before_us), bytes_hashed=verification.bytes_hashed,
                      rewind={"to_copy": len(plan["to_copy"]), "to_hide": len(plan["to_hide"]), "applied": False,
                              "copied": plan["to_copy"][:cap], "hidden": plan["to_hide"][:cap]})
        rejected = result["rejected"]
        result["rejected"] = rejected[:cap]
        if not result["ok"]:
            self.fail(failure_message(self.where, before_us, rejected), **result)

        pending = plan["to_copy"] or plan["to_hide"]
        if not params["rewind"] or not pending:
            return dict(result, changed=False)
        if self.module.check_mode:
            return dict(result, changed=True)
        self.apply(plan, result)
        problems = rewind_problems(plan, self.versions(self.prefix + "/" if self.prefix else ""))
        if problems:
            self.fail("the rewind of %s to %s left %d key(s) wrong: %s"
                      % (self.where, result["before"], len(problems), ", ".join(problems[:5])), **result)
        result["rewind"]["applied"] = True
        return dict(result, changed=True)

    def apply(self, plan, result):
        done = {"copied": 0, "hidden": 0}
        for what, entries, args in (
                ("copied", plan["to_copy"], lambda e: ("cp", "--version-id", e["version_id"],
                                                       self.path(e["key"]), self.path(e["key"]))),
                ("hidden", plan["to_hide"], lambda e: ("rm", self.path(e["key"])))):
            for entry in entries:
                try:
                    self.run_ok(args(entry)[0], *args(entry))
                except MinioOutputError as exc:
                    self.fail("the rewind of %s stopped at %s (%d of %d copied, %d of %d hidden): %s"
                              % (self.where, entry["key"], done["copied"], len(plan["to_copy"]), done["hidden"],
                                 len(plan["to_hide"]), exc), changed=bool(done["copied"] or done["hidden"]),
                              **result)
                done[what] += 1


def main():
    module = AnsibleModule(
        argument_spec=dict(
            site=dict(type="dict", required=True, options=SITE_SPEC),
            bucket=dict(type="str", required=True),
            prefix=dict(type="str", required=True),
            action=dict(type="str", required=True, choices=["record", "verify"]),
            backup=dict(type="str"),
            before=dict(type="str"),
            lock_modes=dict(type="list", elements="str", choices=["COMPLIANCE", "GOVERNANCE"],
                            default=["COMPLIANCE", "GOVERNANCE"]),
            rewind=dict(type="bool", default=False),
            max_listed=dict(type="int", default=20),
            mc_path=dict(type="path", default="mc"),
            ca_cert=dict(type="path"),
            insecure=dict(type="bool", default=False),
        ),
        required_if=[("action", "record", ("backup",)), ("action", "verify", ("before",))],
        supports_check_mode=True,
    )
    if not module.params["lock_modes"]:
        module.fail_json(msg="lock_modes is empty: no version could count as locked")
    config_dir = tempfile.mkdtemp(prefix="fulexo-mc-")
    try:
        mc = Mc(module, config_dir)
        mc.add_site(ALIAS, module.params["site"])
        guard = Guard(module, mc)
        result = guard.record() if module.params["action"] == "record" else guard.verify()
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
