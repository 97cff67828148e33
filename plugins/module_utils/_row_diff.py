# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Row-level comparison of PostgreSQL tables between a restored copy and the
live leader (the plan's section 4, database corruption, logical case).

Private to the fulexo.dr collection. No AnsibleModule and no database driver
here: table names, the catalog SQL and the SQL that reads and puts back
rows, the export file (writer and reader), the canonical form rows are
compared in, the classification of rows, and the order in which tables are
repaired. The module pg_row_diff runs the SQL.

The export file is gzip-compressed JSON lines. The first line is a header:

    {"format": "fulexo.dr.pg_row_diff/1", "database": ..., "server_version": ...,
     "exported_at": "<ISO 8601 UTC>", "settings": {...},
     "tables": {"schema.table": {"primary_key": [...], "columns": [...], "rows": N}}}

then one line per row, tables in the order of the header, each row as

    {"t": "schema.table", "k": [primary key values], "r": "<row_to_json text>"}

The file is two gzip members (the header, then the rows, written first so
the header can carry the counts); gzip, zcat and Python read it as one
stream. A reader checks every table's row count against the header, so a
truncated or spliced file is refused rather than compared.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import gzip
import hashlib
import json
import os
import shutil
import tempfile

from ansible_collections.fulexo.dr.plugins.module_utils import _pg_integrity as pgi

FORMAT = "fulexo.dr.pg_row_diff/1"
CLASSES = ("missing", "changed", "added")
FETCH_SIZE = 2000
INSERT_BATCH = 500
CURSOR = "pg_row_diff_rows"

# Set (SET LOCAL) in every transaction that reads rows, on both servers, so
# that row_to_json renders the same value the same way whatever each
# server's or role's defaults are (a timestamptz follows TimeZone, an
# interval IntervalStyle, money lc_monetary, floats extra_float_digits).
SESSION_SETTINGS = (
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO, YMD"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "1"),
    ("bytea_output", "hex"),
    ("lc_monetary", "C"),
)


class RowDiffError(ValueError):
    """Input the comparison cannot use: a bad option, a damaged export file,
    tables that cannot be matched or repaired."""


# --------------------------------------------------------------------------
# Table names

def parse_table_name(name):
    """'schema.table' -> (schema, table); a bare name is in public; a
    double-quoted part may hold dots and doubled quotes (pg_integrity's
    rules)."""
    try:
        return pgi.split_table_name(name)
    except pgi.IntegrityError:
        raise RowDiffError("table %r is not schema.table (quote a part that holds a dot: "
                           "'public.\"my.table\"')" % (name,))


def _label_part(part):
    if "." in part or '"' in part or part != part.strip() or not part:
        return '"%s"' % part.replace('"', '""')
    return part


def table_label(schema, table):
    """The name a table has in the file and in results: schema.table, a part
    quoted when it holds a dot or a quote, so parse_table_name reads it
    back."""
    return "%s.%s" % (_label_part(schema), _label_part(table))


def normalize_tables(names):
    """Option tables -> labels, in the order given, without repeats."""
    labels = []
    for name in names or []:
        label = table_label(*parse_table_name(name))
        if label not in labels:
            labels.append(label)
    return labels


# --------------------------------------------------------------------------
# Catalog SQL

SYSTEM_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema')"
    " AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'"
)

_PRIMARY_KEY = (
    "ARRAY(SELECT a.attname::text FROM unnest(p.conkey) WITH ORDINALITY AS k(attnum, ord)"
    " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum ORDER BY k.ord)"
)


def _attributes(condition=""):
    return ("ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a"
            " WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped%s ORDER BY a.attnum)" % condition)


# Every table (plain or partitioned, not a partition, not an extension's)
# outside the system schemas, with its primary key ({} without one).
TABLES_SQL = (
    "SELECT n.nspname::text, c.relname::text, " + _PRIMARY_KEY +
    " FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " LEFT JOIN pg_catalog.pg_constraint p ON p.conrelid = c.oid AND p.contype = 'p'"
    " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND " + SYSTEM_SCHEMAS +
    " AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass"
    " AND d.objid = c.oid AND d.deptype = 'e')"
    " ORDER BY 1, 2"
)

# One table by (schema, name): relkind, primary key, columns, generated
# columns, identity ALWAYS columns.
TABLE_SQL = (
    "SELECT c.relkind::text, " + _PRIMARY_KEY + ", " + _attributes() + ", " +
    _attributes(" AND a.attgenerated = 's'") + ", " + _attributes(" AND a.attidentity = 'a'") +
    " FROM pg_catalog.pg_class c"
    " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
    " LEFT JOIN pg_catalog.pg_constraint p ON p.conrelid = c.oid AND p.contype = 'p'"
    " WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')"
)

# Every foreign key, enforced or NOT VALID (both are checked on INSERT);
# the copies on partitions (conparentid <> 0) are left to their parent's.
FOREIGN_KEYS_SQL = (
    "SELECT c.conname::text, n.nspname::text, r.relname::text, fn.nspname::text, fr.relname::text,"
    " c.condeferrable"
    " FROM pg_catalog.pg_constraint c"
    " JOIN pg_catalog.pg_class r ON r.oid = c.conrelid"
    " JOIN pg_catalog.pg_namespace n ON n.oid = r.relnamespace"
    " JOIN pg_catalog.pg_class fr ON fr.oid = c.confrelid"
    " JOIN pg_catalog.pg_namespace fn ON fn.oid = fr.relnamespace"
    " WHERE c.contype = 'f' AND c.conparentid = 0"
    " ORDER BY 2, 3, 1"
)

SERVER_VERSION_SQL = "SHOW server_version"
IN_RECOVERY_SQL = "SELECT pg_catalog.pg_is_in_recovery()"


def table_from_row(schema, table, row):
    """TABLE_SQL's row -> table dict."""
    relkind, primary_key, columns, generated, identity_always = row
    return {"schema": schema, "table": table, "label": table_label(schema, table), "relkind": relkind,
            "primary_key": list(primary_key or []), "columns": list(columns or []),
            "generated": list(generated or []), "identity_always": list(identity_always or [])}


def foreign_key_from_row(row):
    name, schema, table, ref_schema, ref_table, deferrable = row
    return {"name": name, "table": table_label(schema, table), "references": table_label(ref_schema, ref_table),
            "deferrable": bool(deferrable)}


# --------------------------------------------------------------------------
# Row SQL

def _ident(name):
    """A quoted identifier, safe in a statement that also takes parameters
    (the drivers read '%' as a placeholder)."""
    return pgi.quote_ident(name).replace("%", "%%")


def _qualified(table):
    return "%s.%s" % (_ident(table["schema"]), _ident(table["table"]))


def _relation(table):
    # A plain table is read with ONLY (its inheritance children are tables
    # of their own); a partitioned table through its partitions.
    return ("" if table["relkind"] == "p" else "ONLY ") + pgi.qualified(table["schema"], table["table"])


def settings_sql():
    return ["SET LOCAL %s = '%s'" % (name, value) for name, value in SESSION_SETTINGS]


def declare_rows_sql(table):
    """A server-side cursor over a table's rows: the primary key as a JSON
    array and the row as row_to_json text. r.* (not r) is the whole row even
    when a column is named r. Runs without parameters: '%' stays as is."""
    if not table["primary_key"]:
        raise RowDiffError("%s has no primary key" % table["label"])
    key = ", ".join("r.%s" % pgi.quote_ident(col) for col in table["primary_key"])
    return ("DECLARE %s NO SCROLL CURSOR FOR SELECT pg_catalog.json_build_array(%s)::text,"
            " pg_catalog.row_to_json(r.*)::text FROM %s AS r" % (CURSOR, key, _relation(table)))


def count_sql(table):
    """Exact row count, read as declare_rows_sql reads the rows."""
    return "SELECT count(*) FROM %s" % _relation(table)


def fetch_sql(size=FETCH_SIZE):
    return "FETCH FORWARD %d FROM %s" % (int(size), CURSOR)


def close_sql():
    return "CLOSE %s" % CURSOR


def insert_columns(live, reference_columns):
    """Columns to insert: the live table's, less generated columns (the
    server computes them) and columns the export does not have (their
    default applies)."""
    return [col for col in live["columns"] if col not in live["generated"] and col in reference_columns]


def insert_sql(live, reference_columns):
    """INSERT of a batch of exported rows (one parameter: a JSON array of
    row_to_json objects) that skips any row conflicting with a live one:
    nothing live is ever overwritten."""
    columns = insert_columns(live, reference_columns)
    if not columns:
        raise RowDiffError("%s: no column to insert" % live["label"])
    names = ", ".join(_ident(col) for col in columns)
    overriding = " OVERRIDING SYSTEM VALUE" if set(columns) & set(live["identity_always"]) else ""
    return ("INSERT INTO %s (%s)%s SELECT %s FROM pg_catalog.json_populate_recordset(NULL::%s, %%s::json) AS r"
            " ON CONFLICT DO NOTHING"
            % (_qualified(live), names, overriding, ", ".join("r.%s" % _ident(col) for col in columns),
               _qualified(live)))


def batch_param(row_texts):
    """The JSON array insert_sql takes, from row_to_json texts."""
    return "[" + ",".join(row_texts) + "]"


# --------------------------------------------------------------------------
# Canonical form

class JsonNumber(str):
    """A JSON number kept as its literal text: 1.50 and 1.5 stay apart, and
    a numeric of 30 digits keeps them all."""


def loads(text):
    return json.loads(text, parse_int=JsonNumber, parse_float=JsonNumber)


def canonical(value):
    """JSON text of a value from loads(), keys sorted, no white space: equal
    for two renderings that differ only in key order or spacing."""
    if isinstance(value, JsonNumber):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join("%s:%s" % (json.dumps(k), canonical(value[k])) for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    return json.dumps(value)


def plain(value):
    """A value from loads() as an ordinary JSON value (for results)."""
    if isinstance(value, JsonNumber):
        try:
            return int(value)
        except ValueError:
            return float(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return dict((k, plain(v)) for k, v in value.items())
    return value


def row_digest(row_text):
    """What two rows are compared by: a digest of the row's canonical JSON."""
    try:
        text = canonical(loads(row_text))
    except ValueError:
        raise RowDiffError("a row is not JSON: %r" % row_text[:200])
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def key_text(key_json):
    """The canonical text of a primary key (a JSON array)."""
    return canonical(loads(key_json))


# --------------------------------------------------------------------------
# Classification

def new_table_diff(reference_rows):
    return {"reference_rows": reference_rows, "live_rows": 0, "missing": 0, "changed": 0, "added": 0,
            "unchanged": 0, "missing_keys": [], "changed_keys": [], "added_keys": []}


class TableDiff(object):
    """Classifies one table's rows: the reference rows first (add_reference),
    then the live rows streamed through add_live, then finish()."""

    def __init__(self, max_keys):
        self.max_keys = max_keys
        self.reference = {}
        self.live_rows = 0
        self.counts = dict((name, 0) for name in CLASSES + ("unchanged",))
        self.samples = dict((name, []) for name in CLASSES)
        self.missing = None

    def _sample(self, kind, key):
        self.counts[kind] += 1
        if len(self.samples[kind]) < self.max_keys:
            self.samples[kind].append(plain(loads(key)))

    def add_reference(self, key, row_text):
        if key in self.reference:
            raise RowDiffError("the export holds key %s twice" % key)
        self.reference[key] = row_digest(row_text)

    def add_live(self, key, row_text):
        self.live_rows += 1
        digest = self.reference.pop(key, None)
        if digest is None:
            self._sample("added", key)
        elif digest != row_digest(row_text):
            self._sample("changed", key)
        else:
            self.counts["unchanged"] += 1

    def finish(self):
        """The result; the keys of the missing rows stay in self.missing."""
        self.missing = set(self.reference)
        for key in self.reference:
            self._sample("missing", key)
        self.reference = {}
        result = new_table_diff(len(self.missing) + self.counts["changed"] + self.counts["unchanged"])
        result["live_rows"] = self.live_rows
        for name in CLASSES + ("unchanged",):
            result[name] = self.counts[name]
        for name in CLASSES:
            result[name + "_keys"] = self.samples[name]
        return result


def totals(tables):
    out = dict((name, 0) for name in CLASSES + ("unchanged", "repaired", "remaining_missing"))
    for diff in tables.values():
        for name in CLASSES + ("unchanged",):
            out[name] += diff[name]
        out["repaired"] += diff.get("repaired", 0)
        out["remaining_missing"] += diff["missing"] - diff.get("repaired", 0)
    return out


def summary(tables):
    """One line for msg."""
    t = totals(tables)
    differing = ["%s (%d missing, %d changed, %d added)" % (label, d["missing"], d["changed"], d["added"])
                 for label, d in tables.items() if d["missing"] or d["changed"] or d["added"]]
    line = "%d missing, %d changed, %d added rows in %d tables" % (
        t["missing"], t["changed"], t["added"], len(tables))
    if differing:
        line += "; differ: %s" % ", ".join(differing)
    return line


# --------------------------------------------------------------------------
# Repair order

def _topological(tables, edges):
    """Kahn's algorithm, ready tables by name: edges (child, parent) put the
    parent first. Returns (order, tables left in cycles)."""
    parents = dict((t, set()) for t in tables)
    children = dict((t, set()) for t in tables)
    for child, parent in edges:
        parents[child].add(parent)
        children[parent].add(child)
    ready = sorted(t for t in tables if not parents[t])
    order = []
    while ready:
        table = ready.pop(0)
        order.append(table)
        for child in sorted(children[table]):
            parents[child].discard(table)
            if not parents[child]:
                ready.append(child)
        ready.sort()
    return order, sorted(t for t in tables if t not in order)


def repair_plan(tables, foreign_keys):
    """In which order to insert into tables, parents first.

    foreign_keys: dicts with name, table, references, deferrable (all of the
    database's; only those between two of tables count). Returns
    {order, defer, whole_tables}: defer asks for SET CONSTRAINTS ALL
    DEFERRED (a cycle that only deferrable keys close, or a deferrable key
    of a table to itself), whole_tables the tables with a non-deferrable key
    to themselves, whose rows must go in one statement (the server checks a
    foreign key at the end of the statement). A cycle closed by keys that
    cannot be deferred has no order: RowDiffError names it.
    """
    tables = list(tables)
    wanted = set(tables)
    among = [fk for fk in foreign_keys if fk["table"] in wanted and fk["references"] in wanted]
    self_keys = [fk for fk in among if fk["table"] == fk["references"]]
    edges = [fk for fk in among if fk["table"] != fk["references"]]
    defer = any(fk["deferrable"] for fk in self_keys)
    whole = sorted(set(fk["table"] for fk in self_keys if not fk["deferrable"]))
    order, cyclic = _topological(tables, [(fk["table"], fk["references"]) for fk in edges])
    if cyclic:
        defer = True
        order, cyclic = _topological(tables, [(fk["table"], fk["references"]) for fk in edges
                                              if not fk["deferrable"]])
    if cyclic:
        # Tables that only hang below a cycle are not named: only the cycle's.
        hard = [(fk["table"], fk["references"]) for fk in edges if not fk["deferrable"]]
        cyclic = _topological(cyclic, [(parent, child) for child, parent in hard
                                       if child in cyclic and parent in cyclic])[1]
        keys = ["%s (%s -> %s)" % (fk["name"], fk["table"], fk["references"]) for fk in edges
                if not fk["deferrable"] and fk["table"] in cyclic and fk["references"] in cyclic]
        raise RowDiffError("cannot put rows back into %s: their foreign keys form a cycle that no deferrable key "
                           "breaks (%s); make one of them DEFERRABLE or repair these tables by hand"
                           % (", ".join(cyclic), ", ".join(keys)))
    return {"order": order, "defer": defer, "whole_tables": whole}


# --------------------------------------------------------------------------
# The export file

def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def make_header(database, server_version, tables, exported_at=None):
    """tables: list of (table dict, rows)."""
    return {"format": FORMAT, "database": database, "server_version": server_version,
            "exported_at": exported_at or utc_now(), "settings": dict(SESSION_SETTINGS),
            "tables": dict((t["label"], {"primary_key": t["primary_key"], "columns": t["columns"], "rows": rows})
                           for t, rows in tables)}


def row_line(label, key_json, row_text):
    return '{"t":%s,"k":%s,"r":%s}\n' % (json.dumps(label), key_text(key_json), json.dumps(row_text))


class ExportWriter(object):
    """Writes the export beside path and renames it into place at the end:
    a reader never sees half a file. Files are created 0600 (rows may be
    personal data)."""

    def __init__(self, path):
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise RowDiffError("directory %s does not exist" % directory)
        self.directory = directory
        prefix = ".%s." % os.path.basename(path)
        fd, self.rows_path = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".rows.tmp")
        os.close(fd)
        fd, self.final_path = tempfile.mkstemp(dir=directory, prefix=prefix, suffix=".tmp")
        os.close(fd)
        self.rows = gzip.open(self.rows_path, "wt", encoding="utf-8", compresslevel=6)
        self.counts = {}

    def write(self, label, key_json, row_text):
        self.rows.write(row_line(label, key_json, row_text))
        self.counts[label] = self.counts.get(label, 0) + 1

    def commit(self, header):
        """Header first, then the rows; fsync, rename. Returns the size."""
        self.rows.close()
        with open(self.final_path, "wb") as out:
            with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as head:
                head.write((json.dumps(header, sort_keys=False) + "\n").encode("utf-8"))
            with open(self.rows_path, "rb") as rows:
                shutil.copyfileobj(rows, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        os.rename(self.final_path, self.path)
        os.unlink(self.rows_path)
        try:
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError:
            pass
        return os.path.getsize(self.path)

    def abort(self):
        try:
            self.rows.close()
        except Exception:  # pylint: disable=broad-except
            pass
        for name in (self.rows_path, self.final_path):
            try:
                os.unlink(name)
            except OSError:
                pass


def check_header(header, path=""):
    where = (" in %s" % path) if path else ""
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise RowDiffError("not a pg_row_diff export%s (format %r, expected %s)" % (where, found, FORMAT))
    tables = header.get("tables")
    if not isinstance(tables, dict):
        raise RowDiffError("the export%s has no table list" % where)
    for label, info in tables.items():
        if not isinstance(info, dict) or not info.get("primary_key") or not isinstance(info.get("rows"), int):
            raise RowDiffError("the export%s describes table %s without primary_key and rows" % (where, label))
        parse_table_name(label)
    return header


class ExportReader(object):
    """Reads an export: header, then each table's rows in the header's
    order (every table, an empty one too), each row checked against the
    header. Use as a context manager."""

    def __init__(self, path):
        self.path = path
        try:
            self.handle = gzip.open(path, "rt", encoding="utf-8")
        except (IOError, OSError) as exc:
            raise RowDiffError("cannot read the export %s: %s" % (path, exc))
        self.line = 1
        self.header = check_header(self._parse(self._readline(), "header", json.loads), path)
        self.pending = self._next()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
        return False

    def close(self):
        self.handle.close()

    def _readline(self):
        try:
            return self.handle.readline()
        except (IOError, OSError, EOFError, ValueError) as exc:  # bad gzip data, truncated member, CRC
            raise RowDiffError("the export %s is damaged near line %d: %s" % (self.path, self.line, exc))

    def _parse(self, text, what, parse=loads):
        if not text:
            raise RowDiffError("the export %s ends before its %s" % (self.path, what))
        try:
            return parse(text)
        except ValueError:
            raise RowDiffError("the export %s is damaged: line %d is not JSON" % (self.path, self.line))

    def _next(self):
        text = self._readline()
        if not text:
            return None
        self.line += 1
        record = self._parse(text, "rows")
        if not isinstance(record, dict) or not isinstance(record.get("t"), str) \
                or not isinstance(record.get("k"), list) or not isinstance(record.get("r"), str):
            raise RowDiffError("the export %s is damaged: line %d is not a row" % (self.path, self.line))
        return record["t"], canonical(record["k"]), record["r"]

    def tables(self):
        return list(self.header["tables"])

    def rows(self, label):
        """(key, row_text) of the next table, which must be label."""
        expected = self.header["tables"][label]["rows"]
        count = 0
        while self.pending is not None and self.pending[0] == label:
            yield self.pending[1], self.pending[2]
            count += 1
            self.pending = self._next()
        if count != expected:
            raise RowDiffError("the export %s is damaged: %s has %d rows where its header says %d"
                               % (self.path, label, count, expected))

    def each_table(self):
        """(label, rows) for every table of the header, in order."""
        for label in self.tables():
            yield label, self.rows(label)
        if self.pending is not None:
            raise RowDiffError("the export %s is damaged: rows of %s at line %d are out of place"
                               % (self.path, self.pending[0], self.line))


def read_header(path):
    with ExportReader(path) as reader:
        return reader.header


def skip(rows):
    """Read through a table's rows (they are checked as they are read)."""
    for _row in rows:
        pass


def rows_of(path, label, keys):
    """The row_to_json texts of label's rows whose key is in keys, read
    again from the file."""
    with ExportReader(path) as reader:
        for name, rows in reader.each_table():
            if name != label:
                skip(rows)
                continue
            for key, row_text in rows:
                if key in keys:
                    yield row_text
            return
