#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_integrity_check
short_description: Verify the integrity of the data in a PostgreSQL 15 cluster (checksums, amcheck, constraints, row counts, WAL archive)
version_added: 0.1.0
description:
  - Runs on the PostgreSQL host and checks every database in O(databases)
    (default, every non-template database the user may connect to). Each
    check reports C(passed), C(failed), C(skipped) (with the reason) or
    C(warning).
  - C(checksums) reads C(checksum_failures) and C(checksum_last_failure) of
    C(pg_stat_database), after the other checks ran (they read every page,
    so a bad page they met is counted). With C(data_checksums) off the check
    is C(skipped), never C(passed). Failures in shared catalogs (the
    C(pg_stat_database) row without a database) are reported as an extra
    check with RV(checks[].database=null) when there are any.
  - C(amcheck) runs the C(pg_amcheck) binary on the database (heap tables,
    their TOAST tables and B-tree indexes) and parses the problems it
    prints. It needs the C(amcheck) extension in the database; without it
    the check is C(skipped), unless O(install_amcheck=true).
  - C(constraints) verifies, inside one C(READ ONLY) C(REPEATABLE READ)
    transaction with O(statement_timeout), that every referencing row of
    every validated foreign key has its referenced row (an anti-join) and
    that no row makes a validated C(CHECK) constraint false. SQL is built
    from the catalog with quoted identifiers; the C(CHECK) expression is the
    server's own (C(pg_get_expr) of the constraint, the text
    C(pg_get_constraintdef) wraps in C(CHECK (...))). Violations are counted
    up to O(max_violations_reported) per constraint. Constraints marked
    C(NOT VALID) are not checked.
  - C(baseline) (with O(baseline)) checks that each listed table exists and
    that its exact C(count(*)) lies within the given bounds, in a read-only
    transaction too.
  - C(archive) (with O(walg_verify=true), once per cluster) runs
    C(wal-g wal-verify integrity timeline --json); C(FAILURE) of either
    WAL-G check fails it, C(WARNING) makes it a warning.
  - Reads only, with one exception. O(install_amcheck=true) lets
    C(pg_amcheck --install-missing) run C(CREATE EXTENSION amcheck) in
    databases that lack it (meant for an isolated restore host). That is the
    only change the module can make, and the only case it reports
    C(changed=true).
  - When a check failed and O(fail_on_error=true), the module fails with one
    line naming every failed check, and still returns all results.
author: Fulexo SRE (@fulexo-sre)
options:
  databases:
    description:
      - Databases to check. Default, every database that allows connections,
        is not a template and that O(login_user) may connect to.
    type: list
    elements: str
  checks:
    description:
      - Which per-database checks to run. C(baseline) does nothing without
        O(baseline); the archive check is switched by O(walg_verify).
    type: list
    elements: str
    choices: [checksums, amcheck, constraints, baseline]
    default: [checksums, amcheck, constraints, baseline]
  heapallindexed:
    description:
      - Pass C(--heapallindexed) to C(pg_amcheck), so every heap tuple must
        be found in each B-tree index of its table. Slower, finds indexes
        that lost entries.
    type: bool
    default: true
  install_amcheck:
    description:
      - Pass C(--install-missing) to C(pg_amcheck) in databases without the
        C(amcheck) extension, which creates it (schema C(pg_catalog)). This
        writes to the catalog; use it on restore or drill hosts, not on
        production. In check mode nothing is installed and the check is
        skipped.
    type: bool
    default: false
  pg_amcheck_path:
    description: The C(pg_amcheck) binary of the server's major version.
    type: path
    default: /usr/lib/postgresql/15/bin/pg_amcheck
  max_violations_reported:
    description:
      - Violating rows counted per constraint before the count stops; a
        count equal to it means "at least this many".
    type: int
    default: 10
  statement_timeout:
    description:
      - Seconds each constraint or row count query, and each statement
        C(pg_amcheck) sends (one relation at a time), may run
        (C(statement_timeout)); a query cancelled by it makes its check fail.
        C(0) disables the limit.
      - With O(install_amcheck=true), the extension is not installed where
        the write would wait for a synchronous standby that is not connected;
        the amcheck check fails with that reason instead of hanging.
    type: int
    default: 300
  baseline:
    description:
      - "Expected tables and row counts, C({database: {schema.table: {min_rows: N, max_rows: M}}})."
      - Names are exact (no case folding); a bare name is in C(public); a
        double-quoted part may contain dots. Either bound may be left out.
      - A database named here that is not checked (missing, not connectable,
        or left out of O(databases)) fails every one of its tables.
    type: dict
  walg_verify:
    description: Run the C(archive) check with C(wal-g wal-verify integrity timeline).
    type: bool
    default: false
  walg_path:
    description: The C(wal-g) binary.
    type: path
    default: /usr/local/bin/wal-g
  walg_config:
    description: WAL-G configuration file, passed with C(--config).
    type: path
    default: /etc/wal-g/walg.json
  fail_on_error:
    description:
      - Fail the task when any check failed. The results are returned either
        way; with C(false) read RV(ok) and RV(summary).
    type: bool
    default: true
  login_user:
    description: Role to connect as; it needs C(pg_monitor) (or superuser) for C(pg_amcheck) and must be able to read every checked table.
    type: str
    default: postgres
  login_password:
    description:
      - Password of O(login_user). Given to C(pg_amcheck) and C(wal-g) in
        the environment (C(PGPASSWORD)), never on their command line.
    type: str
  login_unix_socket:
    description: Directory of the server's Unix socket.
    type: path
    default: /var/run/postgresql
  login_host:
    description: Host name or address to connect to over TCP instead of the Unix socket.
    type: str
  port:
    description: Server port (also the number in the socket file name).
    type: int
    default: 5432
    aliases: [login_port]
  login_db:
    description: Database to connect to for discovery and statistics.
    type: str
    default: postgres
  connect_timeout:
    description: Seconds to wait for each connection.
    type: int
    default: 10
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Every check runs in check mode; only O(install_amcheck) is not acted upon.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
requirements:
  - psycopg2 (Debian package python3-psycopg2) or psycopg 3 on the PostgreSQL host
  - pg_amcheck and the amcheck extension (Debian package postgresql-15) for the C(amcheck) check
  - wal-g for the C(archive) check
notes:
  - C(checksum_failures) counts since the statistics were last reset
    (C(stats_reset) in the check details); a failure that was repaired keeps
    failing the check until C(pg_stat_reset()) is run in that database.
  - A page whose checksum fails makes C(pg_amcheck) report an C(ERROR) for
    its relation; any query reading that table (constraints, baseline) then
    fails as well, and each reports it.
  - The C(amcheck) check takes C(AccessShareLock) only; it can run on a hot
    standby (without O(install_amcheck)).
seealso:
  - name: pg_amcheck
    description: What pg_amcheck checks and prints.
    link: https://www.postgresql.org/docs/15/app-pgamcheck.html
  - name: amcheck
    description: The functions pg_amcheck calls.
    link: https://www.postgresql.org/docs/15/amcheck.html
  - name: Data checksums
    description: How PostgreSQL detects corrupted pages.
    link: https://www.postgresql.org/docs/15/checksums.html
  - name: WAL-G wal-verify
    description: Checks of the WAL archive.
    link: https://github.com/wal-g/wal-g/blob/master/docs/PostgreSQL.md
"""

EXAMPLES = r"""
- name: Verify the restored cluster on the isolated restore host
  fulexo.dr.pg_integrity_check:
    databases: [fulexo]
    install_amcheck: true
    baseline:
      fulexo:
        public.orders: {min_rows: 100000}
        public.customers: {min_rows: 5000, max_rows: 20000}
  register: integrity

- name: Check production read-only, archive included, and decide later
  fulexo.dr.pg_integrity_check:
    walg_verify: true
    checks: [checksums, amcheck]
    fail_on_error: false
  register: integrity

- name: Report the failed checks
  ansible.builtin.debug:
    msg: "{{ integrity.checks | selectattr('status', 'equalto', 'failed') | map(attribute='message') | list }}"
  when: not integrity.ok
"""

RETURN = r"""
checks:
  description: One entry per check and database, in the order databases were checked.
  returned: always
  type: list
  elements: dict
  contains:
    database:
      description: Database checked; null for cluster-wide checks (C(archive), checksum failures in shared catalogs).
      type: str
      sample: fulexo
    check:
      description: C(checksums), C(amcheck), C(constraints), C(baseline), C(archive), or C(connect) when the database could not be reached.
      type: str
      sample: amcheck
    status:
      description: C(passed), C(failed), C(skipped) or C(warning).
      type: str
      sample: failed
    message:
      description: One line saying what was found, or why the check was skipped.
      type: str
      sample: "1 problem: relation public.orders: ERROR: invalid page in block 0 of relation base/16384/16385"
    details:
      description:
        - Structured findings, by check. C(checksums) - C(data_checksums),
          C(checksum_failures), C(checksum_last_failure), C(stats_reset).
          C(amcheck) - C(rc), C(problems) (C(kind) heap|btree, C(relation),
          C(block), C(offset), C(attribute), C(message), C(detail)),
          C(problem_count), C(errors) and C(warnings) (of pg_amcheck),
          C(server_messages) (notices the server sent, such as failed page
          verifications), C(amcheck_installed).
          C(constraints) - C(checked), C(foreign_keys), C(check_constraints),
          C(violations) and C(errors) (C(type), C(name), C(table),
          C(definition), C(violations), C(limit_reached), C(error); a foreign key's also C(references), the referenced table).
          C(baseline) - C(table), C(exists), C(rows), C(min_rows), C(max_rows).
          C(archive) - C(rc) and C(wal_verify), the JSON WAL-G printed.
      type: dict
      sample: {rc: 2, problem_count: 1, errors: [], warnings: [], server_messages: [], amcheck_installed: false,
               problems: [{kind: heap, relation: public.orders, block: 0, offset: 3, attribute: 2,
                           message: "toast value 16444 not found in toast table", detail: []}]}
summary:
  description: Number of checks per status.
  returned: always
  type: dict
  sample: {passed: 7, failed: 1, skipped: 0, warning: 0}
databases:
  description: Databases checked.
  returned: always
  type: list
  elements: str
  sample: [fulexo, postgres]
ok:
  description: No check failed.
  returned: always
  type: bool
  sample: false
amcheck_installed_in:
  description: Databases in which O(install_amcheck) created the amcheck extension.
  returned: always
  type: list
  elements: str
  sample: []
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fulexo.dr.plugins.module_utils import _pg_integrity as pgi
# The driver, the session and a driver error on one line, as pg_row_diff has
# them; a failed connection keeps this module's own message (connect below).
from ansible_collections.fulexo.dr.plugins.module_utils._pg_connect import (
    DRIVER_IMPORT_ERROR,
    PgConnectError,
    Session,
    driver,
    driver_error,
)


def connect(params, dbname):
    kwargs = dict(host=params["login_host"] or params["login_unix_socket"], port=params["port"],
                  user=params["login_user"], dbname=dbname, connect_timeout=params["connect_timeout"],
                  application_name="fulexo.dr.pg_integrity_check")
    if params["login_password"]:
        kwargs["password"] = params["login_password"]
    try:
        conn = driver.connect(**kwargs)
        conn.autocommit = True
    except Exception as exc:  # the drivers' base Error, and OSError from the socket
        raise PgConnectError("cannot connect to PostgreSQL at %s as %s: %s"
                             % (pgi.describe_target(params["login_host"], params["login_unix_socket"], params["port"]),
                                params["login_user"], driver_error(exc)))
    return Session(conn)


class ReadOnly(object):
    """A READ ONLY REPEATABLE READ transaction; each statement runs under a
    savepoint so one that fails (timeout, unreadable page) does not abort
    the others."""

    def __init__(self, session, timeout):
        self.session = session
        self.timeout = timeout

    def __enter__(self):
        self.session.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        self.session.query("SET LOCAL statement_timeout = %d" % (int(self.timeout) * 1000))
        return self

    def run(self, sql, params=None):
        """Returns (rows, error)."""
        self.session.query("SAVEPOINT pg_integrity_check")
        try:
            rows = self.session.query(sql, params)
        except Exception as exc:  # pylint: disable=broad-except
            self.session.query("ROLLBACK TO SAVEPOINT pg_integrity_check")
            return None, driver_error(exc)
        self.session.query("RELEASE SAVEPOINT pg_integrity_check")
        return rows, None

    def __exit__(self, *exc_info):
        try:
            self.session.query("ROLLBACK")
        except Exception:  # pylint: disable=broad-except
            pass
        return False


class IntegrityChecker(object):
    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.installed_in = []

    def env(self, dbname, statement_timeout=None):
        p = self.params
        return pgi.connection_env(p["login_host"], p["login_unix_socket"], p["port"], p["login_user"], dbname,
                                  password=p["login_password"], connect_timeout=p["connect_timeout"],
                                  statement_timeout=statement_timeout)

    # -- amcheck ----------------------------------------------------------
    def amcheck(self, session, db):
        try:
            version, available = session.query(pgi.AMCHECK_EXTENSION_SQL)[0]
        except Exception as exc:  # pylint: disable=broad-except
            return pgi.make_check(db, "amcheck", "failed", "cannot look up the amcheck extension: %s" % driver_error(exc))
        install = False
        if version is None:
            reason = "amcheck extension not installed in %s" % db
            if not self.params["install_amcheck"]:
                return pgi.amcheck_skipped(db, reason, {"amcheck_available": bool(available)})
            if self.module.check_mode:
                return pgi.amcheck_skipped(db, reason + " (check mode: install_amcheck not acted upon)",
                                           {"amcheck_available": bool(available)})
            if not available:
                return pgi.make_check(db, "amcheck", "failed",
                                      reason + ", and the server has no amcheck extension to install "
                                      "(contrib of the server's major version missing)")
            try:
                blocked = pgi.write_would_block(*session.query(pgi.SYNC_COMMIT_SQL)[0])
            except Exception as exc:  # pylint: disable=broad-except
                blocked = "cannot tell whether a write would wait for a synchronous standby: %s" % driver_error(exc)
            if blocked:
                return pgi.make_check(db, "amcheck", "failed",
                                      "amcheck extension not installed in %s, and not installed now: %s" % (db, blocked))
            install = True
        args = pgi.amcheck_args(self.params["pg_amcheck_path"], heapallindexed=self.params["heapallindexed"],
                                install_missing=install)
        rc, out, err = self.module.run_command(args, environ_update=self.env(db, self.params["statement_timeout"]))
        installed = False
        if install:
            try:
                installed = session.query(pgi.AMCHECK_EXTENSION_SQL)[0][0] is not None
            except Exception:  # pylint: disable=broad-except
                installed = rc in (0, 2)
            if installed:
                self.installed_in.append(db)
        return pgi.amcheck_check(db, rc, out, err, installed=installed)

    # -- constraints ------------------------------------------------------
    def constraints(self, session, db):
        limit = self.params["max_violations_reported"]
        findings = []
        with ReadOnly(session, self.params["statement_timeout"]) as tx:
            fks, error = tx.run(pgi.FOREIGN_KEYS_SQL)
            if error is None:
                checks, error = tx.run(pgi.CHECK_CONSTRAINTS_SQL)
            if error is not None:
                return pgi.make_check(db, "constraints", "failed", "cannot list constraints: %s" % error)
            kinds = (("foreign_key", fks, pgi.foreign_key_from_row, pgi.foreign_key_sql),
                     ("check", checks, pgi.check_constraint_from_row, pgi.check_constraint_sql))
            for kind, found, from_row, violations_sql in kinds:
                for row in found:
                    con = from_row(row)
                    rows, error = tx.run(violations_sql(con, limit))
                    finding = {"type": kind, "name": con["name"],
                               "table": "%s.%s" % (con["schema"], con["table"]),
                               "definition": con["definition"],
                               "violations": None if error else int(rows[0][0]), "error": error}
                    if kind == "foreign_key":
                        # The table whose rows went missing, for a repair.
                        finding["references"] = "%s.%s" % (con["ref_schema"], con["ref_table"])
                    findings.append(finding)
        return pgi.constraints_check(db, findings, limit)

    # -- baseline ---------------------------------------------------------
    def baseline(self, session, db, tables):
        results = []
        with ReadOnly(session, self.params["statement_timeout"]) as tx:
            for table in sorted(tables):
                bounds = tables[table]
                schema, name = pgi.split_table_name(table)
                rows, error = tx.run(pgi.TABLE_EXISTS_SQL, (schema, name))
                if error or not rows:
                    results.append(pgi.baseline_check(db, table, bounds, False, error=error))
                    continue
                rows, error = tx.run(pgi.count_sql(schema, name))
                results.append(pgi.baseline_check(db, table, bounds, True, None if error else int(rows[0][0]),
                                                  error=error))
        return results

    # -- archive ----------------------------------------------------------
    def archive(self):
        args = pgi.walg_args(self.params["walg_path"], self.params["walg_config"])
        rc, out, err = self.module.run_command(args, environ_update=self.env(self.params["login_db"]))
        return pgi.archive_check(rc, out, err)

    # -- checksums --------------------------------------------------------
    @staticmethod
    def checksum_rows(session):
        return dict((row[0], row[1:]) for row in session.query(pgi.CHECKSUM_STATS_SQL))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            databases=dict(type="list", elements="str"),
            checks=dict(type="list", elements="str", choices=list(pgi.CHECKS), default=list(pgi.CHECKS)),
            heapallindexed=dict(type="bool", default=True),
            install_amcheck=dict(type="bool", default=False),
            pg_amcheck_path=dict(type="path", default="/usr/lib/postgresql/15/bin/pg_amcheck"),
            max_violations_reported=dict(type="int", default=10),
            statement_timeout=dict(type="int", default=300),
            baseline=dict(type="dict"),
            walg_verify=dict(type="bool", default=False),
            walg_path=dict(type="path", default="/usr/local/bin/wal-g"),
            walg_config=dict(type="path", default="/etc/wal-g/walg.json"),
            fail_on_error=dict(type="bool", default=True),
            login_user=dict(type="str", default="postgres"),
            login_password=dict(type="str", no_log=True),
            login_unix_socket=dict(type="path", default="/var/run/postgresql"),
            login_host=dict(type="str"),
            port=dict(type="int", default=5432, aliases=["login_port"]),
            login_db=dict(type="str", default="postgres"),
            connect_timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if driver is None:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=DRIVER_IMPORT_ERROR)
    if params["max_violations_reported"] < 1:
        module.fail_json(msg="max_violations_reported must be at least 1")
    if params["statement_timeout"] < 0:
        module.fail_json(msg="statement_timeout must be 0 (no limit) or more seconds")
    try:
        baseline = pgi.validate_baseline(params["baseline"])
    except pgi.IntegrityError as exc:
        module.fail_json(msg="baseline: %s" % exc)
    checks_wanted = set(params["checks"])
    if "amcheck" in checks_wanted:
        found = module.get_bin_path(params["pg_amcheck_path"])
        if not found:
            module.fail_json(msg="pg_amcheck not found at %s; install postgresql-15 or set pg_amcheck_path"
                             % params["pg_amcheck_path"])
        params["pg_amcheck_path"] = found
    if params["walg_verify"]:
        found = module.get_bin_path(params["walg_path"])
        if not found:
            module.fail_json(msg="wal-g not found at %s; set walg_path" % params["walg_path"])
        params["walg_path"] = found

    try:
        main_session = connect(params, params["login_db"])
    except PgConnectError as exc:
        module.fail_json(msg=str(exc))

    checker = IntegrityChecker(module)
    try:
        checksums_on = pgi.checksums_enabled(main_session.query(pgi.DATA_CHECKSUMS_SQL)[0][0])
        databases = params["databases"] or [row[0] for row in main_session.query(pgi.DATABASES_SQL)]
        per_db = {}
        for db in databases:
            results = per_db[db] = {}
            try:
                session = connect(params, db)
            except PgConnectError as exc:
                results["connect"] = [pgi.make_check(db, "connect", "failed", str(exc))]
                continue
            try:
                if "amcheck" in checks_wanted:
                    results["amcheck"] = [checker.amcheck(session, db)]
                if "constraints" in checks_wanted:
                    results["constraints"] = [checker.constraints(session, db)]
                if "baseline" in checks_wanted and db in baseline:
                    results["baseline"] = checker.baseline(session, db, baseline[db])
            finally:
                session.close()
        # Read last: pages that failed their checksum while amcheck,
        # constraints or counts read them are counted by now.
        stats = checker.checksum_rows(main_session) if "checksums" in checks_wanted else {}
    except Exception as exc:  # pylint: disable=broad-except
        main_session.close()
        module.fail_json(msg="pg_integrity_check: query on %s failed: %s" % (params["login_db"], driver_error(exc)),
                         exception=traceback.format_exc())
    main_session.close()

    checks = []
    if "checksums" in checks_wanted and checksums_on and (stats.get(None) or (0,))[0]:
        checks.append(pgi.checksum_check(None, True, stats[None]))
    for db in databases:
        results = per_db[db]
        if "connect" not in results and "checksums" in checks_wanted:
            checks.append(pgi.checksum_check(db, checksums_on, stats.get(db)))
        for name in ("connect", "amcheck", "constraints", "baseline"):
            checks.extend(results.get(name, []))
    if "baseline" in checks_wanted:
        for db in sorted(set(baseline) - set(databases)):
            for table in sorted(baseline[db]):
                check = pgi.baseline_check(db, table, baseline[db][table], False)
                check["message"] = "%s: database %s was not checked (missing, not connectable, or not in databases)" \
                    % (table, db)
                checks.append(check)
    if params["walg_verify"]:
        checks.append(checker.archive())

    result = pgi.summarize(checks, databases)
    result["amcheck_installed_in"] = checker.installed_in
    changed = bool(checker.installed_in)
    message = pgi.failure_message(checks)
    if message and params["fail_on_error"]:
        module.fail_json(msg=message, changed=changed, **result)
    module.exit_json(changed=changed, msg=message or "all integrity checks passed or were skipped", **result)


if __name__ == "__main__":
    main()
