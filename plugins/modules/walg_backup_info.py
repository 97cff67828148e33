#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: walg_backup_info
short_description: Report the WAL-G base backups, the point-in-time recovery window and the archiver's RPO
version_added: 0.1.0
description:
  - Runs C(wal-g backup-list --detail --json) and reports every base backup (full or delta, permanent or not,
    times, LSNs, sizes, the base a delta is built on), oldest first.
  - Reads C(pg_stat_archiver), C(archive_mode) and C(archive_timeout) from the local PostgreSQL over its unix
    socket, when O(archiver=true), to report when WAL was last archived, whether archiving is failing and an RPO
    estimate. A server in recovery is reported as such and its archiver numbers are not judged.
  - Reports the point-in-time recovery window, from the end of the oldest restorable backup to the last archived
    WAL (or the end of the newest backup when the archiver's numbers are not known).
  - With O(restore_target), works out which backup a restore to that target fetches and which PostgreSQL recovery
    settings reach it, and fails with one line when the target cannot be restored to (in the future, before the
    window, no time zone, impossible date, unknown backup, malformed LSN, empty archive).
  - Never changes anything. A database that does not answer is reported in RV(archiver.error), not a failure;
    a failing C(wal-g) is, with the command that was run and wal-g's last error line.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
options:
  walg_path:
    description: The wal-g binary (PostgreSQL build).
    type: path
    default: /usr/local/bin/wal-g
  config:
    description:
      - WAL-G configuration file, passed as C(--config). It holds the storage credentials, so the module runs as a
        user that can read it; its contents are never returned or logged.
    type: path
    default: /etc/wal-g/walg.json
  timeout:
    description:
      - Seconds C(wal-g backup-list) may take (it reads every backup's metadata from the storage), enforced with
        coreutils C(timeout). Also the database connection timeout.
    type: int
    default: 120
  archiver:
    description: Read C(pg_stat_archiver) from the local PostgreSQL. Needs psycopg2 on the host.
    type: bool
    default: true
  login_user:
    description: Database role to connect as, by peer authentication on the unix socket.
    type: str
    default: postgres
  login_unix_socket:
    description: Directory of the PostgreSQL unix socket.
    type: path
    default: /var/run/postgresql
  port:
    description: PostgreSQL port (names the socket file).
    type: int
    default: 5432
  login_db:
    description: Database to connect to.
    type: str
    default: postgres
  restore_target:
    description:
      - Plan a restore to this target and return RV(restore_plan). One of V(latest); a time with a time zone in
        ISO 8601 (V(2026-11-26T14:03:00+00:00), V(2026-11-26T14:03:00Z), a space instead of V(T) is accepted);
        a backup name (V(base_...)); or an LSN (V(3/B374D848)).
      - A time is restored from the newest backup that finished at or before it, an LSN from the newest backup
        whose finish LSN is at or before it; a backup name is restored to the end of that backup.
      - A time later than the archiver's last archived WAL is refused when the archiver was read (that WAL is not
        in the archive); when it was not, that check is left to PostgreSQL.
    type: str
requirements:
  - wal-g 3.0 (PostgreSQL build) and coreutils C(timeout) on the host the module runs on
  - psycopg2 on that host when O(archiver=true) (Debian C(python3-psycopg2))
notes:
  - Run it as the database's OS user (C(become_user=postgres)) so that peer authentication and the configuration
    file's permissions allow it.
  - The window assumes the WAL archive is continuous since the oldest backup; C(wal-g wal-verify) checks that.
  - RV(rpo_seconds) is the age of the last archived WAL segment. On an idle server with C(archive_timeout) set no
    segment is switched without writes, so it then overstates the data at risk.
seealso:
  - name: WAL-G for PostgreSQL
    description: backup-list, backup-fetch and wal-verify.
    link: https://wal-g.readthedocs.io/PostgreSQL/
  - name: PostgreSQL recovery target settings
    description: recovery_target_time, recovery_target_lsn, recovery_target and recovery_target_action.
    link: https://www.postgresql.org/docs/current/runtime-config-wal.html#RUNTIME-CONFIG-WAL-RECOVERY-TARGET
  - name: pg_stat_archiver
    description: The archiver statistics this module reads.
    link: https://www.postgresql.org/docs/current/monitoring-stats.html#MONITORING-PG-STAT-ARCHIVER-VIEW
"""

EXAMPLES = r"""
- name: Read the backups and the recovery window
  fulexo.dr.walg_backup_info:
  become: true
  become_user: postgres
  register: walg

- name: Refuse to go on without a backup from the last 26 hours
  ansible.builtin.assert:
    that:
      - walg.count > 0
      - walg.last_backup_age_seconds < 26 * 3600
    fail_msg: "newest backup {{ walg.last_backup.name | default('none') }} is {{ walg.last_backup_age_seconds }} s old"

- name: Plan a restore to just before the bad migration
  fulexo.dr.walg_backup_info:
    restore_target: "2026-11-26T14:03:00+00:00"
  become: true
  become_user: postgres
  register: plan

- name: Show what the restore fetches
  ansible.builtin.debug:
    msg: "fetch {{ plan.restore_plan.backup_name }}, then recover with {{ plan.restore_plan.recovery_target }}"

- name: List backups on a host without PostgreSQL
  fulexo.dr.walg_backup_info:
    archiver: false
    config: /etc/wal-g/offsite.json
"""

RETURN = r"""
backups:
  description: Every backup in the storage, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Backup name.
      type: str
      sample: base_0000000200000003000000B3_D_00000002000000030000009C
    storage_name:
      description: WAL-G storage it was listed from.
      type: str
      sample: default
    modified_time:
      description: When the backup's sentinel was written to the storage, ISO 8601 UTC.
      type: str
      sample: "2026-11-26T14:00:49.000000Z"
    wal_file_name:
      description: WAL segment the backup started in.
      type: str
      sample: 0000000200000003000000B3
    timeline:
      description: Timeline the backup was taken on.
      type: int
      sample: 2
    start_time:
      description: Start of the backup, ISO 8601 UTC.
      type: str
      sample: "2026-11-26T14:00:00.500000Z"
    finish_time:
      description: End of the backup, ISO 8601 UTC; the earliest point it restores to.
      type: str
      sample: "2026-11-26T14:00:48.700000Z"
    duration_seconds:
      description: finish_time - start_time.
      type: float
      sample: 48.2
    start_lsn:
      description: LSN the backup started at.
      type: str
      sample: 3/B3000028
    finish_lsn:
      description: LSN the backup ended at.
      type: str
      sample: 3/B30006F0
    pg_version:
      description: server_version_num of the server backed up.
      type: int
      sample: 150010
    hostname:
      description: Host the backup was taken on.
      type: str
      sample: pg2
    data_dir:
      description: Data directory backed up.
      type: str
      sample: /var/lib/postgresql/15/fulexo
    system_identifier:
      description: Database system identifier.
      type: int
      sample: 7441938215602215733
    is_permanent:
      description: Marked permanent (retention never deletes it).
      type: bool
      sample: false
    is_full:
      description: A full backup.
      type: bool
      sample: false
    is_delta:
      description: A delta backup (C(_D_) in its name).
      type: bool
      sample: true
    delta_base_wal_file:
      description: For a delta, the WAL file name of the backup it is built on (from its name), else null.
      type: str
      sample: 00000002000000030000009C
    delta_base:
      description: For a delta, the backup it is built on, or null when that backup is not in the storage.
      type: str
      sample: base_00000002000000030000009C
    delta_full:
      description: For a delta, the full backup at the root of its chain, or null when a link is missing.
      type: str
      sample: base_00000002000000030000009C
    restorable:
      description: A full, or a delta whose whole chain is in the storage.
      type: bool
      sample: true
    compressed_size:
      description: Bytes in the storage.
      type: int
      sample: 24117902
    uncompressed_size:
      description: Bytes of data backed up.
      type: int
      sample: 2121269248
    user_data:
      description: User data given to backup-push, or null.
      type: raw
      sample: {reason: before the 15.10 minor upgrade}
count:
  description: Number of backups.
  returned: always
  type: int
  sample: 7
full_count:
  description: Number of full backups.
  returned: always
  type: int
  sample: 4
delta_count:
  description: Number of delta backups.
  returned: always
  type: int
  sample: 3
last_backup:
  description: The newest backup (same keys as an item of RV(backups)), or null when there is none.
  returned: always
  type: dict
  sample: {name: base_0000000200000003000000B3_D_00000002000000030000009C, finish_time: "2026-11-26T14:00:48.700000Z"}
last_backup_age_seconds:
  description: Seconds since the newest backup finished, or null when there is none.
  returned: always
  type: float
  sample: 1751.3
pitr_window:
  description: The times a restore can reach.
  returned: always
  type: dict
  contains:
    earliest:
      description: End of the oldest restorable backup, ISO 8601 UTC; null without backups.
      type: str
      sample: "2026-10-24T02:03:41.100212Z"
    latest:
      description: The archiver's last archived WAL time when known and later, else the end of the newest backup.
      type: str
      sample: "2026-11-26T16:29:12.401000Z"
    latest_source:
      description: V(archiver) or V(backup), null without backups.
      type: str
      sample: archiver
rpo_seconds:
  description:
    - Seconds since the last WAL segment was archived, an estimate of the data lost if the primary were lost now;
      null when unknown (archiver not read or not answering, server in recovery, nothing archived yet).
  returned: always
  type: float
  sample: 47.6
archiver:
  description: What pg_stat_archiver says.
  returned: always
  type: dict
  contains:
    checked:
      description: O(archiver) was true.
      type: bool
      sample: true
    available:
      description: The database answered.
      type: bool
      sample: true
    error:
      description: Why the database could not be read, else null.
      type: str
      sample: null
    in_recovery:
      description: The server is a standby or is recovering; its numbers are then not judged.
      type: bool
      sample: false
    archive_mode:
      description: The archive_mode setting.
      type: str
      sample: "on"
    archive_timeout_seconds:
      description: The archive_timeout setting, in seconds (0 is off).
      type: int
      sample: 60
    archived_count:
      description: WAL files archived since the statistics were reset.
      type: int
      sample: 1204
    last_archived_wal:
      description: Last WAL file archived.
      type: str
      sample: 0000000200000003000000C4
    last_archived_time:
      description: When it was archived, ISO 8601 UTC.
      type: str
      sample: "2026-11-26T16:29:12.401000Z"
    last_archived_age_seconds:
      description: Seconds since then.
      type: float
      sample: 47.6
    failed_count:
      description: Failed archive attempts since the statistics were reset.
      type: int
      sample: 0
    last_failed_wal:
      description: WAL file of the last failed attempt.
      type: str
      sample: null
    last_failed_time:
      description: Time of the last failed attempt, ISO 8601 UTC.
      type: str
      sample: null
    stats_reset:
      description: When the statistics were last reset, ISO 8601 UTC.
      type: str
      sample: "2026-10-01T08:00:00.000000Z"
    failing:
      description: The last archive attempt failed (no success since the last failure); null when not judged.
      type: bool
      sample: false
restore_plan:
  description: How a restore reaches O(restore_target).
  returned: when O(restore_target) is set
  type: dict
  contains:
    kind:
      description: V(latest), V(time), V(backup) or V(lsn).
      type: str
      sample: time
    target:
      description: The target, normalised (ISO 8601 UTC time, upper-case LSN).
      type: str
      sample: "2026-11-26T14:03:00.000000Z"
    backup_name:
      description: The backup to fetch (C(wal-g backup-fetch <datadir> <backup_name>)).
      type: str
      sample: base_0000000200000003000000B3_D_00000002000000030000009C
    backup_finish_time:
      description: End of that backup, ISO 8601 UTC.
      type: str
      sample: "2026-11-26T14:00:48.700000Z"
    recovery_target:
      description:
        - PostgreSQL recovery settings to write with the restore. C(recovery_target_time),
          C(recovery_target_lsn) or C(recovery_target=immediate) by kind (none for V(latest)), plus
          C(recovery_target_action=promote) and C(recovery_target_timeline=latest).
      type: dict
      sample: {recovery_target_time: "2026-11-26 14:03:00+00:00", recovery_target_action: promote,
               recovery_target_timeline: latest}
"""

import datetime
import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fulexo.dr.plugins.module_utils._walg import (
    RestoreTargetError,
    WalgOutputError,
    empty_archiver,
    parse_backup_list,
    parse_restore_target,
    plan_restore,
    read_archiver,
    summarize,
    walg_error_line,
)

try:
    import psycopg2
except ImportError:
    psycopg2 = None
    PSYCOPG2_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG2_IMPORT_ERROR = None


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class WalG:
    """wal-g under coreutils timeout; only the config's path is ever shown."""

    def __init__(self, module):
        self.module = module
        params = module.params
        self.timeout = params["timeout"]
        self.walg = module.get_bin_path(params["walg_path"], required=True)
        self.base = [module.get_bin_path("timeout", required=True), "--kill-after=10", str(self.timeout),
                     self.walg, "--config", params["config"]]

    def run(self, *args):
        return self.module.run_command(self.base + list(args))

    def backup_list(self):
        """Returns (backups, error)."""
        args = ["backup-list", "--detail", "--json"]
        shown = " ".join([self.walg, "--config", self.module.params["config"]] + args)
        rc, out, err = self.run(*args)
        if rc in (124, 137):
            return None, "%s: no answer within %d s" % (shown, self.timeout)
        if rc != 0:
            line = walg_error_line(err, rc)
            if "No backups found" in line:
                return [], ""
            return None, "%s failed (exit %d): %s" % (shown, rc, line)
        try:
            return parse_backup_list(out, err), ""
        except WalgOutputError as exc:
            return None, "%s: %s" % (shown, exc)


def archiver_status(module, now):
    """pg_stat_archiver over the unix socket; a database that does not answer
    is reported, not a failure."""
    if psycopg2 is None:
        module.fail_json(msg=missing_required_lib("psycopg2") + " (or set archiver=false)",
                         exception=PSYCOPG2_IMPORT_ERROR)
    p = module.params
    conn = None
    try:
        conn = psycopg2.connect(host=p["login_unix_socket"], port=p["port"], user=p["login_user"],
                                dbname=p["login_db"], connect_timeout=p["timeout"],
                                application_name="fulexo.dr.walg_backup_info")
        conn.autocommit = True
        cursor = conn.cursor()
        try:
            return read_archiver(cursor, now)
        finally:
            cursor.close()
    except psycopg2.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return empty_archiver(checked=True, error="%s:%s as %s: %s" % (
            p["login_unix_socket"], p["port"], p["login_user"], first))
    finally:
        if conn is not None:
            conn.close()


def main():
    module = AnsibleModule(
        argument_spec=dict(
            walg_path=dict(type="path", default="/usr/local/bin/wal-g"),
            config=dict(type="path", default="/etc/wal-g/walg.json"),
            timeout=dict(type="int", default=120),
            archiver=dict(type="bool", default=True),
            login_user=dict(type="str", default="postgres"),
            login_unix_socket=dict(type="path", default="/var/run/postgresql"),
            port=dict(type="int", default=5432),
            login_db=dict(type="str", default="postgres"),
            restore_target=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    target = p["restore_target"]
    if target is not None:
        # The syntax is checked before anything runs.
        try:
            parse_restore_target(target)
        except RestoreTargetError as exc:
            module.fail_json(msg=str(exc), changed=False)
    if p["timeout"] < 1:
        module.fail_json(msg="timeout must be 1 or more seconds, got %d" % p["timeout"], changed=False)
    if not os.path.isfile(p["config"]):
        module.fail_json(msg="WAL-G configuration %s does not exist on this host (or is not readable)" % p["config"],
                         changed=False)

    backups, error = WalG(module).backup_list()
    if error:
        module.fail_json(msg=error, changed=False)

    now = utcnow()
    archiver = archiver_status(module, now) if p["archiver"] else None
    result = summarize(backups, now, archiver)

    if target is not None:
        # Only a trusted archiver bounds the window from above; without it the
        # archive may well reach past the newest backup.
        latest = result["pitr_window"]["latest"] if result["rpo_seconds"] is not None else None
        try:
            result["restore_plan"] = plan_restore(target, backups, now, latest)
        except RestoreTargetError as exc:
            module.fail_json(msg=str(exc), changed=False, **result)

    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
