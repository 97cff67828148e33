#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: pg_row_diff
short_description: Compare the rows of PostgreSQL tables with a restored copy, and put back rows that were deleted
version_added: 0.1.0
description:
  - For the logical case of database corruption (a bad deploy deleted or changed rows), the database is
    restored to the last good point in time on an isolated host, its rows are exported there, the file is
    carried to the live leader, and the live rows are compared with it there. The two servers never talk to
    each other.
  - O(action=export) runs on the restored (reference) host. In one C(REPEATABLE READ READ ONLY) transaction
    it reads the rows of O(tables) through a server-side cursor (a big table is never held in memory) and
    writes them to O(path), gzip-compressed JSON lines, each row keyed by its primary key and rendered by
    C(row_to_json). The file is written beside O(path) and renamed into place, mode C(0600) (rows may be
    personal data).
  - O(action=compare) runs on the live leader with the export at O(path). Each table's rows are classified by
    primary key. C(missing) is in the export and not live (deleted since). C(changed) is in both but differs.
    C(added) is live only (written since the good point). Rows are compared as JSON, so key order and
    spacing never make a difference. Both sides render values with the same settings (C(TimeZone=UTC),
    C(IntervalStyle), C(extra_float_digits), C(bytea_output), C(lc_monetary)).
  - With O(repair=missing), the missing rows are inserted, and only they. Nothing live is updated or
    deleted, and C(ON CONFLICT DO NOTHING) skips a row that collides with a live one on any unique key. All
    tables go in one transaction, parents before children by the foreign keys among them. Foreign keys that
    form a cycle are deferred (C(SET CONSTRAINTS ALL DEFERRED)) when that breaks the cycle. Otherwise the
    module fails before inserting anything. Generated columns are left to the server. Identity C(ALWAYS)
    columns get their old values back (C(OVERRIDING SYSTEM VALUE)).
  - A table of the export that no longer exists live, or whose primary key changed, fails the module with
    the table named, before any row is read.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.postgres.connection
options:
  action:
    description: C(export) on the reference host, C(compare) on the live leader.
    type: str
    required: true
    choices: [export, compare]
  database:
    description: The database, on the server this task connects to.
    type: str
    required: true
  path:
    description:
      - The export file. Written by O(action=export) (its directory must exist; an existing file is replaced);
        read by O(action=compare).
    type: path
    required: true
  tables:
    description:
      - Tables as C(schema.table); a bare name is in C(public); a part holding a dot is double-quoted
        (C(public."my.table")). Names are exact (no case folding).
      - With O(action=export), the tables to export. Each needs a primary key, or the module fails (rows cannot
        be matched without one). Default, every table of the database outside the system schemas that has a
        primary key (not partitions, whose rows are read through their partitioned table, nor tables of
        extensions). RV(without_primary_key) lists the tables left out.
      - With O(action=compare), only these tables of the export are compared (each must be in it). Default,
        all of them.
    type: list
    elements: str
  repair:
    description:
      - O(action=compare) only. C(missing) inserts the rows that are missing live; C(none) only reports.
    type: str
    choices: [none, missing]
    default: none
  max_keys_reported:
    description: O(action=compare) only. Primary keys listed per table for each of missing, changed and added.
    type: int
    default: 20
  fail_on_difference:
    description:
      - O(action=compare) only. Fail the task when any row is still missing after the run, or any row is changed.
        Rows added live do not count. The results are returned either way.
      - In check mode nothing is repaired, so missing rows still count.
    type: bool
    default: false
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - O(action=export) writes nothing in check mode. It counts each table's rows in the snapshot instead and
        reports C(changed=true), since a real run writes the file.
      - O(action=compare) compares fully in check mode and inserts nothing. C(changed) is then true when rows
        are missing and O(repair=missing).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - Needs a primary key on every compared table and read access to every table; the repair needs INSERT on
    the tables it puts rows back into.
  - The export holds rows as JSON texts; the file is two gzip members (a header, then the rows), which
    C(zcat) reads as one.
  - Both servers must run the same major version (PostgreSQL 15), so that each value renders the same way.
    A table whose columns differ between the export and live shows every row as changed; the repair inserts
    the columns both have (a new live column gets its default).
  - Rows put back with identity or serial keys keep their old key values; sequences are not touched (the
    values were handed out before, so the sequence is already past them).
  - On a live server that is in recovery (a replica), O(repair=missing) fails; compare without repair works
    there too. The repair also fails, before it writes, when a commit would wait for a synchronous standby
    that is not connected.
  - Rows are read in a C(REPEATABLE READ) transaction. When the application writes a row with the same key
    between the snapshot and the insert, the server raises a serialization failure. The whole repair is then
    rolled back and the module says to run it again.
seealso:
  - module: fulexo.dr.pg_integrity_check
  - module: fulexo.dr.pg_corruption_triage
  - name: row_to_json and json_populate_recordset
    description: The functions that render and read rows back.
    link: https://www.postgresql.org/docs/15/functions-json.html
"""

EXAMPLES = r"""
- name: Export the rows of the restored copy (isolated restore host)
  fulexo.dr.pg_row_diff:
    action: export
    database: fulexo
    tables: [public.customers, public.orders]
    path: /var/tmp/fulexo-rows.jsonl.gz
  become: true
  become_user: postgres

- name: Carry the export to the controller
  ansible.builtin.fetch:
    src: /var/tmp/fulexo-rows.jsonl.gz
    dest: "{{ incident_dir }}/rows.jsonl.gz"
    flat: true

- name: Compare with the leader and put back the rows the deploy deleted
  fulexo.dr.pg_row_diff:
    action: compare
    database: fulexo
    path: /var/tmp/fulexo-rows.jsonl.gz
    repair: missing
    fail_on_difference: false
  register: rows
  become: true
  become_user: postgres

- name: Say what the deploy changed (never overwritten)
  ansible.builtin.debug:
    msg: "{{ rows.tables | dict2items | selectattr('value.changed') | map(attribute='key') | list }}"
"""

RETURN = r"""
tables:
  description:
    - Per table (C(schema.table)). With O(action=export), C(rows) and C(primary_key).
    - With O(action=compare), C(reference_rows), C(live_rows), C(missing), C(changed), C(added), C(unchanged),
      C(missing_keys), C(changed_keys), C(added_keys) (at most O(max_keys_reported) primary keys each, as
      lists of the key's values), C(repaired) (rows inserted; 0 in check mode or without O(repair=missing)),
      and, when the live table's columns are not the export's, C(columns_only_in_export) and
      C(columns_only_live).
  returned: always
  type: dict
  sample:
    public.orders: {reference_rows: 1000, live_rows: 990, missing: 12, changed: 3, added: 5, unchanged: 985,
                    missing_keys: [[17], [18]], changed_keys: [[40]], added_keys: [[1001]], repaired: 12}
rows_total:
  description: O(action=export) only. Rows exported (counted in check mode).
  returned: success and action is export
  type: int
  sample: 1000
path:
  description: The export file.
  returned: always
  type: str
  sample: /var/tmp/fulexo-rows.jsonl.gz
bytes:
  description: O(action=export) only. Size of the file written; 0 in check mode.
  returned: success and action is export
  type: int
  sample: 48213
without_primary_key:
  description: O(action=export) without O(tables) only. Tables left out because they have no primary key.
  returned: success and action is export
  type: list
  elements: str
  sample: [public.audit_log]
server_version:
  description: O(action=export) only. The reference server's version.
  returned: success and action is export
  type: str
  sample: "15.18 (Debian 15.18-0+deb12u1)"
exported_at:
  description: O(action=export) only. When the export's snapshot was taken (UTC).
  returned: success and action is export
  type: str
  sample: "2026-12-03T06:50:12Z"
reference:
  description: O(action=compare) only. The export's C(database), C(server_version) and C(exported_at).
  returned: success and action is compare
  type: dict
  sample: {database: fulexo, server_version: "15.18 (Debian 15.18-0+deb12u1)", exported_at: "2026-12-03T06:50:12Z"}
totals:
  description:
    - O(action=compare) only. Sums over the tables of C(missing), C(changed), C(added), C(unchanged),
      C(repaired), and C(remaining_missing) (missing less repaired).
  returned: success and action is compare
  type: dict
  sample: {missing: 12, changed: 3, added: 5, unchanged: 985, repaired: 12, remaining_missing: 0}
repaired:
  description:
    - O(action=compare) with O(repair=missing) only. Rows inserted per table that had missing rows; a count
      below the table's C(missing) means rows that collided with live rows on a unique key were skipped. All
      zero in check mode. Empty without missing rows or without O(repair=missing).
  returned: success and action is compare
  type: dict
  sample: {public.customers: 2, public.orders: 12}
repair_order:
  description: O(action=compare) with O(repair=missing) only. Tables in the order rows were (or would be) inserted.
  returned: success and action is compare
  type: list
  elements: str
  sample: [public.customers, public.orders]
constraints_deferred:
  description: O(action=compare) only. Whether the repair deferred deferrable constraints to break a foreign key cycle.
  returned: success and action is compare
  type: bool
  sample: false
msg:
  description: One line saying what was exported, or what differs and what was put back.
  returned: always
  type: str
  sample: "12 missing, 3 changed, 5 added rows in 2 tables; differ: public.orders (12 missing, 3 changed, 5 added); 12 rows put back"
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.fulexo.dr.plugins.module_utils import _pg_connect as pgc
from ansible_collections.fulexo.dr.plugins.module_utils import _pg_integrity as pgi
from ansible_collections.fulexo.dr.plugins.module_utils import _row_diff as rd

driver = pgc.driver
PgConnectError = pgc.PgConnectError
APPLICATION_NAME = "fulexo.dr.pg_row_diff"
SERIALIZATION_FAILURE = "40001"


def connect(params, dbname):
    return pgc.connect(params, dbname, APPLICATION_NAME)


class Transaction(object):
    """A REPEATABLE READ transaction with the rendering settings of
    rd.SESSION_SETTINGS; rolled back unless committed."""

    def __init__(self, session, read_only):
        self.session = session
        self.read_only = read_only
        self.open = False

    def __enter__(self):
        self.session.query("BEGIN ISOLATION LEVEL REPEATABLE READ %s" % ("READ ONLY" if self.read_only else "READ WRITE"))
        self.open = True
        for sql in rd.settings_sql():
            self.session.query(sql)
        return self

    def commit(self):
        self.open = False
        self.session.query("COMMIT")

    def __exit__(self, *exc_info):
        if self.open:
            self.open = False
            try:
                self.session.query("ROLLBACK")
            except Exception:  # pylint: disable=broad-except
                pass
        return False


class RowDiff(object):
    def __init__(self, module, session):
        self.module = module
        self.params = module.params
        self.session = session
        self.step = "connecting"

    def run(self, step, sql, params=None):
        self.step = step
        return self.session.query(sql, params)

    # -- catalog -----------------------------------------------------------
    def describe(self, label):
        """The table dict of label, or None when there is no such table."""
        schema, table = rd.parse_table_name(label)
        rows = self.run("looking up %s" % label, rd.TABLE_SQL, (schema, table))
        return rd.table_from_row(schema, table, rows[0]) if rows else None

    def stream(self, table):
        """(key JSON, row_to_json text) of every row, FETCH_SIZE at a time."""
        self.run("reading %s" % table["label"], rd.declare_rows_sql(table))
        while True:
            batch = self.run("reading %s" % table["label"], rd.fetch_sql())
            if not batch:
                break
            for key_json, row_text in batch:
                yield key_json, row_text
        self.run("reading %s" % table["label"], rd.close_sql())

    # -- export ------------------------------------------------------------
    def export_tables(self):
        """(tables to export, tables left out for want of a primary key)."""
        labels = rd.normalize_tables(self.params["tables"])
        database = self.params["database"]
        if labels:
            tables = []
            for label in labels:
                table = self.describe(label)
                if table is None:
                    raise rd.RowDiffError("table %s does not exist in database %s (or is not a table)" % (label, database))
                if not table["primary_key"]:
                    raise rd.RowDiffError("table %s in database %s has no primary key: its rows cannot be matched "
                                          "with the live ones; leave it out of tables" % (label, database))
                tables.append(table)
            return tables, []
        listed = self.run("listing tables", rd.TABLES_SQL)
        without = [rd.table_label(schema, name) for schema, name, key in listed if not key]
        tables = [self.describe(rd.table_label(schema, name)) for schema, name, key in listed if key]
        if not tables:
            raise rd.RowDiffError("database %s has no table with a primary key to export" % database)
        return tables, without

    def export(self):
        p = self.params
        exported_at = rd.utc_now()
        result = {"path": p["path"], "changed": True}
        with Transaction(self.session, read_only=True):
            version = self.run("reading the server version", rd.SERVER_VERSION_SQL)[0][0]
            tables, without = self.export_tables()
            counted = []
            if self.module.check_mode:
                for table in tables:
                    count = self.run("counting %s" % table["label"], rd.count_sql(table))[0][0]
                    counted.append((table, int(count)))
                size = 0
            else:
                writer = rd.ExportWriter(p["path"])
                try:
                    for table in tables:
                        for key_json, row_text in self.stream(table):
                            writer.write(table["label"], key_json, row_text)
                        counted.append((table, writer.counts.get(table["label"], 0)))
                    header = rd.make_header(p["database"], version, counted, exported_at)
                    self.step = "writing %s" % p["path"]
                    size = writer.commit(header)
                except BaseException:
                    writer.abort()
                    raise
        result.update(
            tables=dict((t["label"], {"rows": rows, "primary_key": t["primary_key"]}) for t, rows in counted),
            rows_total=sum(rows for t, rows in counted), bytes=size, without_primary_key=without,
            server_version=version, exported_at=exported_at)
        result["msg"] = "%s %d rows of %d tables of %s%s" % (
            "would export" if self.module.check_mode else "exported", result["rows_total"], len(counted),
            p["database"], "" if self.module.check_mode else " to %s (%d bytes)" % (p["path"], size))
        return result

    # -- compare -----------------------------------------------------------
    def live_tables(self, header, labels):
        """The live table dict of each label; fails on a table that is gone
        or whose primary key is not the export's."""
        database = self.params["database"]
        live = {}
        for label in labels:
            table = self.describe(label)
            exported = header["tables"][label]
            if table is None:
                raise rd.RowDiffError("table %s of the export does not exist in live database %s" % (label, database))
            if table["primary_key"] != exported["primary_key"]:
                raise rd.RowDiffError("table %s: the primary key is (%s) live but (%s) in the export; rows cannot be "
                                      "matched" % (label, ", ".join(table["primary_key"]) or "none",
                                                   ", ".join(exported["primary_key"])))
            live[label] = table
        return live

    def diff(self, live, labels):
        """Per-table results, and the keys of the missing rows."""
        wanted = set(labels)
        results, missing = {}, {}
        self.step = "reading %s" % self.params["path"]
        with rd.ExportReader(self.params["path"]) as reader:
            for label, rows in reader.each_table():
                if label not in wanted:
                    rd.skip(rows)
                    continue
                table_diff = rd.TableDiff(self.params["max_keys_reported"])
                for key, row_text in rows:
                    table_diff.add_reference(key, row_text)
                for key_json, row_text in self.stream(live[label]):
                    table_diff.add_live(rd.key_text(key_json), row_text)
                results[label] = table_diff.finish()
                results[label]["repaired"] = 0
                missing[label] = table_diff.missing
        return results, missing

    def insert(self, table, reference_columns, keys, whole):
        """Insert the exported rows of table whose key is in keys; rows inserted."""
        sql = rd.insert_sql(table, reference_columns)
        step = "inserting into %s" % table["label"]
        batch, inserted = [], 0
        for row_text in rd.rows_of(self.params["path"], table["label"], keys):
            batch.append(row_text)
            if len(batch) >= rd.INSERT_BATCH and not whole:
                self.step = step
                inserted += self.session.execute(sql, (rd.batch_param(batch),))
                batch = []
        if batch:
            self.step = step
            inserted += self.session.execute(sql, (rd.batch_param(batch),))
        return inserted

    def compare(self):
        p = self.params
        repair = p["repair"] == "missing"
        writes = repair and not self.module.check_mode
        header = rd.read_header(p["path"])
        labels = list(header["tables"])
        if p["tables"]:
            asked = rd.normalize_tables(p["tables"])
            absent = [label for label in asked if label not in header["tables"]]
            if absent:
                raise rd.RowDiffError("not in the export %s: %s (it holds %s)"
                                      % (p["path"], ", ".join(absent), ", ".join(labels) or "no table"))
            labels = asked
        if header.get("database") != p["database"]:
            self.module.warn("the export is of database %s, compared with live database %s"
                             % (header.get("database"), p["database"]))
        if repair:
            if self.run("checking for recovery", rd.IN_RECOVERY_SQL)[0][0]:
                raise rd.RowDiffError("%s is a replica (in recovery): rows cannot be put back there; run the repair "
                                      "on the leader" % self.target())
            if writes:
                blocked = pgi.write_would_block(*self.run("reading the synchronous commit settings",
                                                          pgi.SYNC_COMMIT_SQL)[0])
                if blocked:
                    raise rd.RowDiffError("no row put back: %s" % blocked)

        result = {"path": p["path"], "repaired": {}, "repair_order": [], "constraints_deferred": False,
                  "reference": dict((k, header.get(k)) for k in ("database", "server_version", "exported_at"))}
        with Transaction(self.session, read_only=not writes) as tx:
            live = self.live_tables(header, labels)
            tables, missing = self.diff(live, labels)
            for label in labels:
                exported = header["tables"][label].get("columns") or []
                only_export = [c for c in exported if c not in live[label]["columns"]]
                only_live = [c for c in live[label]["columns"] if c not in exported]
                if exported and (only_export or only_live):
                    tables[label].update(columns_only_in_export=only_export, columns_only_live=only_live)
                    self.module.warn("%s: columns differ between the export (%s) and live (%s); every row shows "
                                     "as changed" % (label, ", ".join(only_export) or "none",
                                                     ", ".join(only_live) or "none"))
            to_repair = [label for label in labels if tables[label]["missing"]] if repair else []
            if to_repair:
                self.step = "reading foreign keys"
                plan = rd.repair_plan(to_repair, [rd.foreign_key_from_row(row)
                                                  for row in self.run("reading foreign keys", rd.FOREIGN_KEYS_SQL)])
                result.update(repair_order=plan["order"], constraints_deferred=plan["defer"])
                result["repaired"] = dict((label, 0) for label in plan["order"])
                if writes:
                    if plan["defer"]:
                        self.run("deferring constraints", "SET CONSTRAINTS ALL DEFERRED")
                    for label in plan["order"]:
                        inserted = self.insert(live[label], header["tables"][label].get("columns") or
                                               live[label]["columns"], missing[label],
                                               label in plan["whole_tables"])
                        tables[label]["repaired"] = inserted
                        result["repaired"][label] = inserted
                    self.step = "committing the repair"
                    tx.commit()
        result["tables"] = tables
        result["totals"] = rd.totals(tables)
        total_missing = result["totals"]["missing"]
        if writes:
            result["changed"] = result["totals"]["repaired"] > 0
        else:
            result["changed"] = bool(repair and total_missing)
        msg = rd.summary(tables)
        if repair and total_missing:
            if writes:
                msg += "; %d rows put back" % result["totals"]["repaired"]
                skipped = total_missing - result["totals"]["repaired"]
                if skipped:
                    msg += ", %d skipped (a live row holds the same unique key)" % skipped
            else:
                msg += "; check mode: %d rows would be put back" % total_missing
        result["msg"] = msg
        return result

    def target(self):
        p = self.params
        return "database %s at %s" % (p["database"], pgi.describe_target(p["login_host"], p["login_unix_socket"],
                                                                         p["port"]))


def difference_message(result):
    """Why fail_on_difference fails, or None."""
    t = result["totals"]
    if not t["remaining_missing"] and not t["changed"]:
        return None
    return "rows differ from the export: %d missing%s, %d changed (%s)" % (
        t["remaining_missing"], " after the repair" if t["repaired"] else "", t["changed"], result["msg"])


def main():
    argument_spec = dict(
        action=dict(type="str", required=True, choices=["export", "compare"]),
        database=dict(type="str", required=True),
        path=dict(type="path", required=True),
        tables=dict(type="list", elements="str"),
        repair=dict(type="str", choices=["none", "missing"], default="none"),
        max_keys_reported=dict(type="int", default=20, no_log=False),
        fail_on_difference=dict(type="bool", default=False),
    )
    argument_spec.update(pgc.CONNECTION_SPEC)
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    if driver is None:
        module.fail_json(msg=missing_required_lib("psycopg2"), exception=pgc.DRIVER_IMPORT_ERROR)
    if p["max_keys_reported"] < 0:
        module.fail_json(msg="max_keys_reported must be 0 or more")
    if p["action"] == "export" and (p["repair"] != "none" or p["fail_on_difference"]):
        module.fail_json(msg="repair and fail_on_difference belong to action=compare")
    if p["action"] == "compare" and not os.path.isfile(p["path"]):
        module.fail_json(msg="the export %s is not on this host: copy it here first (action=export writes it on the "
                             "restored host)" % p["path"])
    try:
        rd.normalize_tables(p["tables"])
    except rd.RowDiffError as exc:
        module.fail_json(msg="tables: %s" % exc)

    try:
        session = connect(p, p["database"])
    except PgConnectError as exc:
        module.fail_json(msg=str(exc))
    worker = RowDiff(module, session)
    try:
        result = worker.export() if p["action"] == "export" else worker.compare()
    except rd.RowDiffError as exc:
        module.fail_json(msg=str(exc), path=p["path"])
    except Exception as exc:  # pylint: disable=broad-except
        message = "%s, %s failed: %s" % (worker.target(), worker.step, pgc.driver_error(exc))
        if p["action"] == "compare" and worker.step.startswith(("inserting", "committing", "deferring")):
            message += "; the repair was rolled back, no row was put back"
            if pgc.sqlstate(exc) == SERIALIZATION_FAILURE:
                message += " (live rows with the same keys were written meanwhile: run it again)"
        module.fail_json(msg=message, path=p["path"], exception=traceback.format_exc())
    finally:
        session.close()
    if p["action"] == "compare" and p["fail_on_difference"]:
        message = difference_message(result)
        if message:
            module.fail_json(**dict(result, msg=message))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
