# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Integrity checks of a PostgreSQL cluster: SQL building, output parsing, results.

Private to the fulexo.dr collection. Pure functions: no AnsibleModule and no
database driver here, so the logic is unit-tested without a server. The
module pg_integrity_check runs the SQL and the binaries and feeds what they
returned into these functions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

CHECKS = ("checksums", "amcheck", "constraints", "baseline")
STATUSES = ("passed", "failed", "skipped", "warning")

# Schemas whose objects belong to the server, not to the application.
_SYSTEM_SCHEMAS = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"

DATABASES_SQL = (
    "SELECT datname FROM pg_catalog.pg_database"
    " WHERE datallowconn AND NOT datistemplate"
    " AND has_database_privilege(datname, 'CONNECT')"
    " ORDER BY datname"
)

DATA_CHECKSUMS_SQL = "SHOW data_checksums"

# The row with datid 0 counts failures in shared catalogs (pg_database, ...).
CHECKSUM_STATS_SQL = (
    "SELECT datname, checksum_failures, checksum_last_failure, stats_reset"
    " FROM pg_catalog.pg_stat_database"
)

AMCHECK_EXTENSION_SQL = (
    "SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'amcheck'),"
    " EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'amcheck')"
)

# What decides whether a write here waits for a synchronous standby: the
# settings, and how many standbys are connected as sync or quorum members.
SYNC_COMMIT_SQL = (
    "SELECT current_setting('synchronous_standby_names'), current_setting('synchronous_commit'),"
    " (SELECT count(*) FROM pg_catalog.pg_stat_replication WHERE sync_state IN ('sync', 'quorum'))"
)

# Constraints of partitions that were inherited from a partitioned table
# (conparentid <> 0) are checked once, through the partitioned table.
FOREIGN_KEYS_SQL = (
    "SELECT c.conname::text, n.nspname::text, r.relname::text, r.relkind::text,"
    " fn.nspname::text, fr.relname::text, fr.relkind::text,"
    " ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)"
    "       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord),"
    " ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, ord)"
    "       JOIN pg_catalog.pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord),"
    " pg_catalog.pg_get_constraintdef(c.oid)"
    " FROM pg_catalog.pg_constraint c"
    " JOIN pg_catalog.pg_class r ON r.oid = c.conrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
    " JOIN pg_catalog.pg_class fr ON fr.oid = c.confrelid"
    " JOIN pg_catalog.pg_namespace fn ON fn.oid = fr.relnamespace"
    " WHERE c.contype = 'f' AND c.convalidated AND c.conparentid = 0 AND " + _SYSTEM_SCHEMAS +
    " ORDER BY n.nspname, r.relname, c.conname"
)

# pg_get_constraintdef(oid) prints "CHECK (<expr>)[ NO INHERIT]"; <expr> is
# pg_get_expr(conbin, conrelid), read separately so nothing has to be cut out
# of the definition text. Partitioned tables hold no rows: each partition
# carries its own copy of the constraint and is checked itself. Foreign
# tables are left alone: their rows live on another server.
CHECK_CONSTRAINTS_SQL = (
    "SELECT c.conname::text, n.nspname::text, r.relname::text, r.relkind::text,"
    " pg_catalog.pg_get_expr(c.conbin, c.conrelid), pg_catalog.pg_get_constraintdef(c.oid)"
    " FROM pg_catalog.pg_constraint c"
    " JOIN pg_catalog.pg_class r ON r.oid = c.conrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
    " WHERE c.contype = 'c' AND c.convalidated AND r.relkind = 'r' AND " + _SYSTEM_SCHEMAS +
    " ORDER BY n.nspname, r.relname, c.conname"
)

TABLE_EXISTS_SQL = (
    "SELECT r.relkind::text FROM pg_catalog.pg_class r"
    " JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
    " WHERE n.nspname = %s AND r.relname = %s AND r.relkind IN ('r', 'p', 'm', 'v', 'f')"
)


class IntegrityError(ValueError):
    """Input the checks cannot use (a malformed option, unparsable tool output)."""


# --------------------------------------------------------------------------
# SQL building

def quote_ident(name):
    """Quote an identifier the way quote_ident() does, always."""
    if name is None or name == "":
        raise IntegrityError("empty identifier")
    if "\x00" in name:
        raise IntegrityError("identifier contains a NUL byte: %r" % name)
    return '"%s"' % name.replace('"', '""')


def qualified(schema, table):
    return "%s.%s" % (quote_ident(schema), quote_ident(table))


def _from(schema, table, relkind):
    # Regular tables are read with ONLY, as the server's own RI and CHECK
    # logic does: rows of inheritance children are not bound by the parent's
    # foreign keys. A partitioned table has no rows of its own.
    return ("" if relkind == "p" else "ONLY ") + qualified(schema, table)


def _limit(limit):
    limit = int(limit)
    if limit < 1:
        raise IntegrityError("max_violations_reported must be at least 1")
    return limit


def foreign_key_sql(fk, limit):
    """Count (up to limit) referencing rows whose referenced row is missing.

    fk: dict with schema, table, relkind, ref_schema, ref_table, ref_relkind,
    columns, ref_columns (lists of the same length). A row is only bound by
    the key when all its key columns are non-null (MATCH SIMPLE; MATCH FULL
    forbids partially null keys on write already).
    """
    columns, ref_columns = fk["columns"], fk["ref_columns"]
    if not columns or len(columns) != len(ref_columns):
        raise IntegrityError("foreign key %s: column lists differ: %r / %r"
                             % (fk.get("name"), columns, ref_columns))
    not_null = " AND ".join("c.%s IS NOT NULL" % quote_ident(col) for col in columns)
    join = " AND ".join("p.%s = c.%s" % (quote_ident(ref), quote_ident(col))
                        for col, ref in zip(columns, ref_columns))
    return ("SELECT count(*) FROM (SELECT 1 FROM %s AS c WHERE %s"
            " AND NOT EXISTS (SELECT 1 FROM %s AS p WHERE %s) LIMIT %d) AS v"
            % (_from(fk["schema"], fk["table"], fk["relkind"]), not_null,
               _from(fk["ref_schema"], fk["ref_table"], fk["ref_relkind"]), join, _limit(limit)))


def check_constraint_sql(con, limit):
    """Count (up to limit) rows for which the CHECK expression is false.

    con["expression"] is the server's own deparsed expression (pg_get_expr
    of conbin), so it is executed as the server printed it; a NULL result
    satisfies a CHECK and is not counted, exactly as on INSERT. The SQL
    takes no parameters, so a '%' in the expression reaches the server as is.
    """
    expression = con["expression"]
    if not expression:
        raise IntegrityError("check constraint %s has no expression" % con.get("name"))
    return ("SELECT count(*) FROM (SELECT 1 FROM %s WHERE NOT (%s) LIMIT %d) AS v"
            % (_from(con["schema"], con["table"], con["relkind"]), expression, _limit(limit)))


def count_sql(schema, table):
    return "SELECT count(*) FROM %s" % qualified(schema, table)


def split_table_name(name):
    """'schema.table' -> (schema, table); a bare name is in public.

    Names are taken literally (no case folding), split at the first dot; a
    double-quoted part may contain dots: '"my.schema".t'.
    """
    match = re.match(r'^(?:("(?:[^"]|"")+"|[^."]+)\.)?("(?:[^"]|"")+"|[^".](?:[^"]*[^".])?)$', name or "")
    if not match:
        raise IntegrityError("baseline table %r is not schema.table" % name)

    def unquote(part):
        if part.startswith('"'):
            return part[1:-1].replace('""', '"')
        return part

    schema, table = match.group(1), match.group(2)
    return (unquote(schema) if schema else "public"), unquote(table)


def foreign_key_from_row(row):
    (name, schema, table, relkind, ref_schema, ref_table, ref_relkind,
     columns, ref_columns, definition) = row
    return {"name": name, "schema": schema, "table": table, "relkind": relkind,
            "ref_schema": ref_schema, "ref_table": ref_table, "ref_relkind": ref_relkind,
            "columns": list(columns or []), "ref_columns": list(ref_columns or []),
            "definition": definition}


def check_constraint_from_row(row):
    name, schema, table, relkind, expression, definition = row
    return {"name": name, "schema": schema, "table": table, "relkind": relkind,
            "expression": expression, "definition": definition}


# --------------------------------------------------------------------------
# Connection

def describe_target(host, unix_socket, port):
    """Where the module connects, as said in error messages."""
    if host:
        return "%s:%s" % (host, port)
    return "unix socket %s/.s.PGSQL.%s" % ((unix_socket or "").rstrip("/"), port)


def connection_env(host, unix_socket, port, user, dbname, password=None, connect_timeout=None,
                   application_name="fulexo.dr.pg_integrity_check", statement_timeout=None):
    """libpq environment for pg_amcheck and wal-g: never a password in argv."""
    env = {
        "PGHOST": host or unix_socket,
        "PGPORT": str(port),
        "PGUSER": user,
        "PGDATABASE": dbname,
        "PGAPPNAME": application_name,
    }
    if connect_timeout:
        env["PGCONNECT_TIMEOUT"] = str(connect_timeout)
    if statement_timeout:
        # Bounds every statement pg_amcheck sends (one relation at a time).
        env["PGOPTIONS"] = "-c statement_timeout=%d" % (int(statement_timeout) * 1000)
    if password:
        env["PGPASSWORD"] = password
    return env


def write_would_block(standby_names, synchronous_commit, sync_standbys):
    """Why a write on this server would wait forever, or None.

    A commit waits for a synchronous standby when synchronous_standby_names
    is set and synchronous_commit is above `local`; with none connected it
    never returns (a restored copy that kept its cluster's setting, a
    primary whose replicas are all gone). CREATE EXTENSION is such a write.
    """
    if not (standby_names or "").strip():
        return None
    if (synchronous_commit or "on").strip().lower() in ("off", "local"):
        return None
    if int(sync_standbys or 0) > 0:
        return None
    return ("a write here would wait forever: synchronous_standby_names is '%s' and no synchronous standby "
            "is connected (set synchronous_standby_names to '' on an isolated copy, or bring a replica back)"
            % standby_names.strip())


def amcheck_args(pg_amcheck, heapallindexed=True, install_missing=False, jobs=1):
    """pg_amcheck for the one database named in PGDATABASE.

    The database is not given as an argument: pg_amcheck would read a
    database name containing '=' as a connection string.
    """
    args = [pg_amcheck, "--no-password"]
    if heapallindexed:
        args.append("--heapallindexed")
    if install_missing:
        args.append("--install-missing")
    if jobs and jobs > 1:
        args += ["--jobs", str(jobs)]
    return args


def walg_args(walg, config):
    return [walg, "--config", config, "wal-verify", "integrity", "timeline", "--json"]


# --------------------------------------------------------------------------
# Results

def make_check(database, check, status, message="", details=None):
    if status not in STATUSES:
        raise IntegrityError("unknown status %r" % status)
    return {"database": database, "check": check, "status": status,
            "details": details or {}, "message": message}


def _iso(value):
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def checksums_enabled(value):
    return str(value).strip().lower() in ("on", "true", "1")


def checksum_check(database, enabled, row):
    """One checksums check from SHOW data_checksums and the database's
    pg_stat_database row (checksum_failures, checksum_last_failure,
    stats_reset), or None when the database has no row yet."""
    if not enabled:
        return make_check(database, "checksums", "skipped",
                          "data checksums are off on this cluster; page corruption cannot be detected "
                          "(initdb -k, or pg_checksums --enable on a stopped cluster)",
                          {"data_checksums": False})
    failures, last_failure, stats_reset = (row or (0, None, None))[:3]
    failures = int(failures or 0)
    details = {"data_checksums": True, "checksum_failures": failures,
               "checksum_last_failure": _iso(last_failure), "stats_reset": _iso(stats_reset)}
    if failures:
        return make_check(database, "checksums", "failed",
                          "%d checksum failure%s, last at %s" % (failures, "" if failures == 1 else "s",
                                                                 details["checksum_last_failure"]),
                          details)
    return make_check(database, "checksums", "passed", "no checksum failures recorded", details)


_AMCHECK_HEADER = re.compile(
    r'^(?P<kind>heap table|btree index) "(?P<name>.*)"'
    r'(?:, block (?P<block>\d+))?(?:, offset (?P<offset>\d+))?(?:, attribute (?P<attribute>\d+))?:$')
_AMCHECK_LOG = re.compile(r"^pg_amcheck: (?P<level>error|warning|detail|hint|info): (?P<text>.*)$")


def _split_relation(name, database):
    """'db.schema.rel' as pg_amcheck prints it -> (schema, rel)."""
    if database and name.startswith(database + "."):
        rest = name[len(database) + 1:]
    else:
        rest = name.split(".", 1)[1] if name.count(".") >= 2 else name
    if "." not in rest:
        return None, rest
    schema, relation = rest.split(".", 1)
    return schema, relation


def parse_amcheck_output(stdout, database=None):
    """Problems pg_amcheck printed on stdout.

    Each problem is a header line naming the relation (and block, offset,
    attribute for heap tuples), followed by the message indented by four
    spaces; an ERROR raised while checking a relation (a page that fails
    its checksum, any btree corruption) is printed with its DETAIL/HINT
    lines under a header without a block.
    """
    problems = []
    current = None
    for line in (stdout or "").splitlines():
        header = _AMCHECK_HEADER.match(line)
        if header:
            schema, relation = _split_relation(header.group("name"), database)
            current = {
                "kind": "heap" if header.group("kind") == "heap table" else "btree",
                "relation": "%s.%s" % (schema, relation) if schema else relation,
                "block": int(header.group("block")) if header.group("block") else None,
                "offset": int(header.group("offset")) if header.group("offset") else None,
                "attribute": int(header.group("attribute")) if header.group("attribute") else None,
                "message": "",
                "detail": [],
            }
            problems.append(current)
        elif line.startswith("    ") and current is not None:
            text = " ".join(line.split())
            if not current["message"]:
                current["message"] = text
            else:
                current["detail"].append(text)
        elif line.strip() and current is not None:
            # "query was: ..." (only with --verbose) or an unknown line.
            current["detail"].append(line.strip())
    for problem in problems:
        if not problem["message"]:
            problem["message"] = "NO MESSAGE"
    return problems


_SERVER_NOTICE = re.compile(r"^(?P<level>WARNING|NOTICE|ERROR|FATAL|PANIC):\s+(?P<text>.*)$")


def parse_amcheck_log(stderr):
    """pg_amcheck's own errors and warnings (stderr), by level, and the
    notices the server sent (e.g. "WARNING:  page verification failed,
    calculated checksum 28461 but expected 63278")."""
    log = {"error": [], "warning": [], "server": []}
    last = None
    for line in (stderr or "").splitlines():
        notice = _SERVER_NOTICE.match(line.strip())
        if notice:
            log["server"].append("%s: %s" % (notice.group("level"), notice.group("text")))
            last = None
            continue
        match = _AMCHECK_LOG.match(line.strip())
        if match:
            level = match.group("level")
            if level in log:
                log[level].append(match.group("text"))
                last = level
            elif last and log[last]:
                log[last][-1] += " (%s: %s)" % (level, match.group("text"))
        elif line.strip() and last and log[last] and not line.startswith("pg_amcheck:"):
            log[last][-1] += " " + line.strip()
    return log


def describe_problem(problem):
    where = "relation %s" % problem["relation"]
    for key in ("block", "offset", "attribute"):
        if problem[key] is not None:
            where += " %s %d" % (key, problem[key])
    return "%s: %s" % (where, problem["message"])


def amcheck_check(database, rc, stdout, stderr, shown=3, installed=False):
    """The amcheck check from pg_amcheck's exit code and output.

    Exit code 0: nothing found; 2: corruption reported; 1 (or anything
    else): pg_amcheck could not do its work, which is a failure too, since
    nothing was verified.
    """
    problems = parse_amcheck_output(stdout, database)
    log = parse_amcheck_log(stderr)
    details = {"rc": rc, "problems": problems, "problem_count": len(problems),
               "errors": log["error"], "warnings": log["warning"], "server_messages": log["server"],
               "amcheck_installed": installed}
    if rc == 0 and not problems:
        return make_check(database, "amcheck", "passed", "no corruption found", details)
    if problems:
        listed = "; ".join(describe_problem(p) for p in problems[:shown])
        more = " and %d more" % (len(problems) - shown) if len(problems) > shown else ""
        message = "%d problem%s: %s%s" % (len(problems), "" if len(problems) == 1 else "s", listed, more)
        if rc not in (0, 2) and log["error"]:
            message += "; pg_amcheck stopped: %s" % log["error"][-1]
        return make_check(database, "amcheck", "failed", message, details)
    reason = log["error"][-1] if log["error"] else ((stderr or "").strip().splitlines() or ["no output"])[-1]
    return make_check(database, "amcheck", "failed",
                      "pg_amcheck exited %s without a verdict: %s" % (rc, reason), details)


def amcheck_skipped(database, reason, details=None):
    return make_check(database, "amcheck", "skipped", reason, details)


def constraints_check(database, findings, limit):
    """The constraints check from one finding per constraint.

    finding: {type: foreign_key|check, name, table, definition,
    violations (int or None), error (str or None)}. `violations` counts at
    most `limit` rows; reaching it means "limit or more".
    """
    violated = [f for f in findings if f.get("violations")]
    errored = [f for f in findings if f.get("error")]
    for finding in findings:
        finding.setdefault("error", None)
        finding["limit_reached"] = bool(finding.get("violations")) and finding["violations"] >= limit
    details = {"checked": len(findings),
               "foreign_keys": len([f for f in findings if f["type"] == "foreign_key"]),
               "check_constraints": len([f for f in findings if f["type"] == "check"]),
               "violations": violated, "errors": errored, "max_violations_reported": limit}
    if not violated and not errored:
        return make_check(database, "constraints", "passed",
                          "%d foreign keys and %d check constraints hold"
                          % (details["foreign_keys"], details["check_constraints"]), details)
    parts = ["%s %s on %s: %s%d row%s" % ("foreign key" if f["type"] == "foreign_key" else "check",
                                          f["name"], f["table"], ">=" if f["limit_reached"] else "",
                                          f["violations"], "" if f["violations"] == 1 else "s")
             for f in violated]
    parts += ["%s %s on %s: %s" % ("foreign key" if f["type"] == "foreign_key" else "check",
                                   f["name"], f["table"], f["error"]) for f in errored]
    return make_check(database, "constraints", "failed",
                      "%d of %d constraints violated or not checkable: %s"
                      % (len(violated) + len(errored), len(findings), "; ".join(parts)), details)


def baseline_check(database, table, bounds, exists, count=None, error=None):
    """One baseline check: the table exists and min_rows <= count(*) <= max_rows."""
    bounds = bounds or {}
    low, high = bounds.get("min_rows"), bounds.get("max_rows")
    details = {"table": table, "min_rows": low, "max_rows": high, "exists": bool(exists), "rows": count}
    check = "baseline"
    if error:
        details["error"] = error
        return make_check(database, check, "failed", "%s: cannot count rows: %s" % (table, error), details)
    if not exists:
        return make_check(database, check, "failed", "%s does not exist" % table, details)
    if low is not None and count < low:
        return make_check(database, check, "failed", "%s has %d rows, fewer than min_rows %d" % (table, count, low),
                          details)
    if high is not None and count > high:
        return make_check(database, check, "failed", "%s has %d rows, more than max_rows %d" % (table, count, high),
                          details)
    return make_check(database, check, "passed", "%s has %d rows" % (table, count), details)


def validate_baseline(baseline):
    """Normalise option baseline: {db: {table: {min_rows, max_rows}}}."""
    result = {}
    for database, tables in (baseline or {}).items():
        if not isinstance(tables, dict):
            raise IntegrityError("baseline[%s] must map schema.table to bounds" % database)
        result[database] = {}
        for table, bounds in tables.items():
            bounds = dict(bounds or {})
            unknown = set(bounds) - set(("min_rows", "max_rows"))
            if unknown:
                raise IntegrityError("baseline[%s][%s]: unknown keys %s" % (database, table, ", ".join(sorted(unknown))))
            for key in ("min_rows", "max_rows"):
                if bounds.get(key) is not None:
                    try:
                        bounds[key] = int(bounds[key])
                    except (TypeError, ValueError):
                        raise IntegrityError("baseline[%s][%s].%s must be an integer" % (database, table, key))
            if bounds.get("min_rows") is not None and bounds.get("max_rows") is not None \
                    and bounds["min_rows"] > bounds["max_rows"]:
                raise IntegrityError("baseline[%s][%s]: min_rows > max_rows" % (database, table))
            split_table_name(table)
            result[database][table] = bounds
    return result


_WALG_STATUS = {"OK": "passed", "WARNING": "warning", "FAILURE": "failed"}


def parse_wal_verify(stdout):
    """`wal-g wal-verify integrity timeline --json`: one JSON object keyed by
    check name ("integrity", "timeline"), each {status: OK|WARNING|FAILURE,
    details}. integrity details: a list (or null) of segment sequences
    {timeline_id, start_segment, end_segment, segments_count, status:
    FOUND|MISSING_DELAYED|MISSING_UPLOADING|MISSING_LOST}; timeline details:
    {current_timeline_id, highest_storage_timeline_id}.
    """
    text = (stdout or "").strip()
    data = None
    try:
        data = json.loads(text)
    except ValueError:
        # Tolerate log lines around the object: take the last line that parses.
        for line in reversed(text.splitlines()):
            line = line.strip()
            if line.startswith("{"):
                try:
                    data = json.loads(line)
                    break
                except ValueError:
                    continue
    if not isinstance(data, dict) or not data:
        raise IntegrityError("wal-g wal-verify did not print its JSON result: %r" % text[:200])
    for name, result in data.items():
        if not isinstance(result, dict) or result.get("status") not in _WALG_STATUS:
            raise IntegrityError("wal-g wal-verify: check %s has no known status: %r" % (name, result))
    return data


def _describe_wal_check(name, result):
    details = result.get("details")
    if name == "timeline" and isinstance(details, dict):
        return "timeline %s: cluster timeline %s, highest in storage %s" % (
            result["status"], details.get("current_timeline_id"), details.get("highest_storage_timeline_id"))
    if name == "integrity":
        missing = [s for s in (details or []) if s.get("status") != "FOUND"]
        if not missing:
            return "integrity %s: %d segments found" % (
                result["status"], sum(s.get("segments_count", 0) for s in (details or [])))
        return "integrity %s: %s" % (result["status"], ", ".join(
            "%d %s %s..%s" % (s.get("segments_count", 0), s.get("status"), s.get("start_segment"),
                              s.get("end_segment")) for s in missing))
    return "%s %s" % (name, result["status"])


def archive_check(rc, stdout, stderr):
    """The archive check (cluster-wide, database None) from wal-g wal-verify."""
    try:
        data = parse_wal_verify(stdout)
    except IntegrityError as exc:
        reason = ((stderr or "").strip().splitlines() or [str(exc)])[-1]
        return make_check(None, "archive", "failed", "wal-g wal-verify exited %s: %s" % (rc, reason),
                          {"rc": rc})
    statuses = [_WALG_STATUS[r["status"]] for r in data.values()]
    status = "failed" if "failed" in statuses else ("warning" if "warning" in statuses else "passed")
    message = "; ".join(_describe_wal_check(name, data[name]) for name in sorted(data))
    return make_check(None, "archive", status, message, {"rc": rc, "wal_verify": data})


def summarize(checks, databases):
    summary = dict((status, 0) for status in STATUSES)
    for check in checks:
        summary[check["status"]] += 1
    return {"checks": checks, "summary": summary, "databases": list(databases),
            "ok": summary["failed"] == 0}


def failure_message(checks):
    """One line naming every failed check, or None when none failed."""
    failed = ["%s: %s (%s)" % (c["database"] if c["database"] is not None else "cluster", c["check"], c["message"])
              for c in checks if c["status"] == "failed"]
    if not failed:
        return None
    return "integrity check failed: " + "; ".join(failed)
