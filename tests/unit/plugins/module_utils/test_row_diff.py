"""Row comparison logic without a server: names, canonical rows, the
classification, the repair order, the SQL and the export file.

Row texts are shaped as PostgreSQL 15's row_to_json printed them on a
throwaway cluster (numbers as typed, json columns verbatim, timestamptz in
UTC with TimeZone set, bytea in hex).
"""

import gzip
import json
import os
import stat

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _row_diff as rd

ORDER_10 = ('{"id":10,"customer_id":11,"amount":35.00,"placed_at":"2026-02-01T02:10:00+00:00",'
            '"note":"note with \\"quotes\\"","payload":{"gift": true, "items": 0}}')


def table(label, primary_key=("id",), columns=("id", "name"), relkind="r", generated=(), identity_always=()):
    schema, name = rd.parse_table_name(label)
    return {"schema": schema, "table": name, "label": rd.table_label(schema, name), "relkind": relkind,
            "primary_key": list(primary_key), "columns": list(columns), "generated": list(generated),
            "identity_always": list(identity_always)}


# --------------------------------------------------------------------------
# names

@pytest.mark.parametrize("name, expected", [
    ("orders", ("public", "orders")),
    ("sales.orders", ("sales", "orders")),
    ('public."odd ""name"".v2"', ("public", 'odd "name".v2')),
    ('"my.schema".t', ("my.schema", "t")),
])
def test_parse_table_name(name, expected):
    assert rd.parse_table_name(name) == expected


@pytest.mark.parametrize("schema, name, label", [
    ("public", "orders", "public.orders"),
    ("public", 'odd "name".v2', 'public."odd ""name"".v2"'),
    ("my.schema", "t", '"my.schema".t'),
    ("public", "Orders", "public.Orders"),
    ("public", " padded", 'public." padded"'),
])
def test_table_label_reads_back(schema, name, label):
    assert rd.table_label(schema, name) == label
    assert rd.parse_table_name(label) == (schema, name)


def test_bad_table_name_is_refused_with_a_hint():
    with pytest.raises(rd.RowDiffError, match=r"is not schema.table \(quote a part that holds a dot"):
        rd.parse_table_name('public."unterminated')


def test_normalize_tables_keeps_order_and_drops_repeats():
    assert rd.normalize_tables(["orders", "public.orders", "sales.x", 'public."a.b"']) == [
        "public.orders", "sales.x", 'public."a.b"']
    assert rd.normalize_tables(None) == []


# --------------------------------------------------------------------------
# canonical rows

def test_key_order_and_white_space_make_no_difference():
    a = '{"id":50,"prefs":{"lang" : "en", "n" : 50, "nested" : {"x" : 1}}}'
    b = '{"id":50,"prefs":{"nested": {"x": 1},   "n": 50, "lang": "en"}}'
    assert rd.row_digest(a) == rd.row_digest(b)


@pytest.mark.parametrize("a, b", [
    ('{"amount":35.00}', '{"amount":36.00}'),
    ('{"amount":1.50}', '{"amount":1.5}'),  # numeric scale is part of the value as rendered
    ('{"n":123456789012345678901234567890.000000000000000000001}',
     '{"n":123456789012345678901234567890.000000000000000000002}'),  # beyond a float
    ('{"a":null}', '{"a":"null"}'),
    ('{"a":1}', '{"a":"1"}'),
    ('{"tags":["a","b"]}', '{"tags":["b","a"]}'),
])
def test_values_that_differ_are_different(a, b):
    assert rd.row_digest(a) != rd.row_digest(b)


def test_canonical_keeps_number_literals_and_unicode():
    value = rd.loads('{"b": [1, 2.50, -3e2], "a": "\\u00fc\\"x"}')
    assert rd.canonical(value) == '{"a":"\\u00fc\\"x","b":[1,2.50,-3e2]}'
    assert rd.plain(value) == {"a": u'\xfc"x', "b": [1, 2.5, -300.0]}


def test_key_text_is_canonical():
    assert rd.key_text('[1, "a"]') == '[1,"a"]'
    assert rd.key_text('[10.0]') == '[10.0]'


def test_a_row_that_is_not_json_is_refused():
    with pytest.raises(rd.RowDiffError, match="a row is not JSON"):
        rd.row_digest('{"id":')


# --------------------------------------------------------------------------
# classification

def test_table_diff_classifies_and_samples():
    diff = rd.TableDiff(max_keys=2)
    for i in range(1, 7):
        diff.add_reference("[%d]" % i, '{"id":%d,"v":"x"}' % i)
    diff.add_live("[1]", '{"v":"x","id":1}')  # same row, other key order
    diff.add_live("[2]", '{"id":2,"v":"y"}')  # changed
    diff.add_live("[3]", '{"id":3,"v":"y"}')
    diff.add_live("[4]", '{"id":4,"v":"y"}')
    diff.add_live("[9]", '{"id":9,"v":"x"}')  # added
    result = diff.finish()
    assert result == {"reference_rows": 6, "live_rows": 5, "missing": 2, "changed": 3, "added": 1, "unchanged": 1,
                      "missing_keys": [[5], [6]], "changed_keys": [[2], [3]], "added_keys": [[9]]}
    assert diff.missing == set(["[5]", "[6]"])


def test_table_diff_refuses_a_key_twice():
    diff = rd.TableDiff(max_keys=1)
    diff.add_reference("[1]", "{}")
    with pytest.raises(rd.RowDiffError, match=r"holds key \[1\] twice"):
        diff.add_reference("[1]", "{}")


def test_totals_and_summary():
    a = dict(rd.new_table_diff(10), missing=2, changed=1, added=0, unchanged=7, repaired=2)
    b = dict(rd.new_table_diff(5), unchanged=5)
    tables = {"public.orders": a, "public.x": b}
    assert rd.totals(tables) == {"missing": 2, "changed": 1, "added": 0, "unchanged": 12, "repaired": 2,
                                 "remaining_missing": 0}
    assert rd.summary(tables) == ("2 missing, 1 changed, 0 added rows in 2 tables; differ: "
                                  "public.orders (2 missing, 1 changed, 0 added)")


# --------------------------------------------------------------------------
# repair order

def fk(name, child, parent, deferrable=False):
    return {"name": name, "table": child, "references": parent, "deferrable": deferrable}


def test_parents_come_first():
    fks = [fk("items_order", "public.order_items", "public.orders"),
           fk("orders_customer", "public.orders", "public.customers"),
           fk("orders_shop", "public.orders", "public.shops")]  # not repaired: no constraint on the order
    plan = rd.repair_plan(["public.order_items", "public.orders", "public.customers"], fks)
    assert plan == {"order": ["public.customers", "public.orders", "public.order_items"], "defer": False,
                    "whole_tables": []}


def test_a_cycle_broken_by_a_deferrable_key_is_deferred():
    fks = [fk("a_b", "public.a", "public.b", deferrable=True), fk("b_a", "public.b", "public.a")]
    assert rd.repair_plan(["public.a", "public.b"], fks) == {"order": ["public.a", "public.b"], "defer": True,
                                                             "whole_tables": []}


def test_a_cycle_no_deferrable_key_breaks_is_refused():
    fks = [fk("a_b", "public.a", "public.b"), fk("b_a", "public.b", "public.a"),
           fk("c_a", "public.c", "public.a")]
    with pytest.raises(rd.RowDiffError) as err:
        rd.repair_plan(["public.a", "public.b", "public.c"], fks)
    assert str(err.value) == (
        "cannot put rows back into public.a, public.b: their foreign keys form a cycle that no deferrable "
        "key breaks (a_b (public.a -> public.b), b_a (public.b -> public.a)); make one of them DEFERRABLE or repair "
        "these tables by hand")


def test_a_table_referencing_itself():
    tree = fk("categories_parent", "public.categories", "public.categories")
    assert rd.repair_plan(["public.categories"], [tree]) == {"order": ["public.categories"], "defer": False,
                                                             "whole_tables": ["public.categories"]}
    tree["deferrable"] = True
    assert rd.repair_plan(["public.categories"], [tree]) == {"order": ["public.categories"], "defer": True,
                                                             "whole_tables": []}


# --------------------------------------------------------------------------
# SQL

def test_declare_reads_key_and_whole_row():
    sql = rd.declare_rows_sql(table('public."odd ""name"".v2"', primary_key=("code", "r")))
    assert sql == ('DECLARE pg_row_diff_rows NO SCROLL CURSOR FOR SELECT pg_catalog.json_build_array(r."code", r."r")'
                   '::text, pg_catalog.row_to_json(r.*)::text FROM ONLY "public"."odd ""name"".v2" AS r')
    assert " ONLY " not in rd.declare_rows_sql(table("public.events", relkind="p"))
    assert rd.count_sql(table("public.events", relkind="p")) == 'SELECT count(*) FROM "public"."events"'
    with pytest.raises(rd.RowDiffError, match="public.log has no primary key"):
        rd.declare_rows_sql(table("public.log", primary_key=()))


def test_insert_skips_generated_columns_and_overrides_identity():
    live = table("public.customers", columns=("id", "email", "email_domain", "added_later"),
                 generated=("email_domain",), identity_always=("id",))
    sql = rd.insert_sql(live, ["id", "email", "email_domain"])
    assert sql == ('INSERT INTO "public"."customers" ("id", "email") OVERRIDING SYSTEM VALUE SELECT r."id", r."email" '
                   'FROM pg_catalog.json_populate_recordset(NULL::"public"."customers", %s::json) AS r '
                   'ON CONFLICT DO NOTHING')
    plain = rd.insert_sql(table("public.orders"), ["id", "name"])
    assert "OVERRIDING" not in plain and "UPDATE" not in plain and "DELETE" not in plain


def test_insert_escapes_percent_in_names_for_the_driver():
    sql = rd.insert_sql(table('public."100%"', columns=("id", "5%")), ["id", "5%"])
    assert sql.count("%s") == 1
    # What the driver sends, after it substituted the one parameter:
    sent = sql % ("'[]'",)
    assert sent == ('INSERT INTO "public"."100%" ("id", "5%") SELECT r."id", r."5%" FROM '
                    'pg_catalog.json_populate_recordset(NULL::"public"."100%", \'[]\'::json) AS r ON CONFLICT DO NOTHING')


def test_insert_needs_a_column():
    with pytest.raises(rd.RowDiffError, match="no column to insert"):
        rd.insert_sql(table("public.t", columns=("id",)), ["other"])


def test_batch_param_is_a_json_array():
    assert json.loads(rd.batch_param([ORDER_10, '{"id":11}']))[1] == {"id": 11}


def test_settings_are_set_locally():
    assert rd.settings_sql()[0] == "SET LOCAL TimeZone = 'UTC'"
    assert len(rd.settings_sql()) == len(rd.SESSION_SETTINGS)


def test_catalog_sql_takes_the_parameters_it_is_given():
    assert rd.TABLE_SQL.count("%s") == 2
    for sql in (rd.TABLES_SQL, rd.FOREIGN_KEYS_SQL):
        assert "%" not in sql.replace("%s", "")
        assert "%s" not in sql


def test_rows_of_table_and_foreign_keys():
    t = rd.table_from_row("public", "customers", ("r", ["id"], ["id", "email", "email_domain"], ["email_domain"],
                                                  ["id"]))
    assert t["label"] == "public.customers" and t["generated"] == ["email_domain"] and t["identity_always"] == ["id"]
    assert rd.foreign_key_from_row(("f", "public", "a.b", "s", "p", True)) == {
        "name": "f", "table": 'public."a.b"', "references": "s.p", "deferrable": True}


# --------------------------------------------------------------------------
# the export file

ORDERS = table("public.orders", columns=("id", "customer_id", "amount", "placed_at", "note", "payload"))
ODD = table('public."odd ""name"".v2"', primary_key=("code",), columns=("code", "label"))
EMPTY = table("public.empty")


def write_export(path, rows=None):
    rows = rows if rows is not None else {
        ORDERS["label"]: [("[10]", ORDER_10), ("[11]", '{"id":11}')],
        EMPTY["label"]: [],
        ODD["label"]: [('["code.1\\"q\'s"]', '{"code":"code.1\\"q\'s","label":"label 1"}')],
    }
    writer = rd.ExportWriter(str(path))
    counted = []
    for t in (ORDERS, EMPTY, ODD):
        for key, row in rows[t["label"]]:
            writer.write(t["label"], key, row)
        counted.append((t, writer.counts.get(t["label"], 0)))
    header = rd.make_header("fulexo", "15.18", counted, exported_at="2026-12-03T06:45:24Z")
    return writer.commit(header), header


def test_export_round_trip(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    size, header = write_export(path)
    assert size == os.path.getsize(str(path))
    assert stat.S_IMODE(os.stat(str(path)).st_mode) == 0o600
    assert os.listdir(str(tmp_path)) == ["rows.jsonl.gz"]  # no temporary file left
    with gzip.open(str(path), "rt") as handle:
        lines = handle.read().splitlines()
    first = json.loads(lines[0])
    assert first["format"] == "fulexo.dr.pg_row_diff/1" and first["database"] == "fulexo"
    assert first["tables"]["public.orders"] == {"primary_key": ["id"], "rows": 2,
                                                "columns": ["id", "customer_id", "amount", "placed_at", "note",
                                                            "payload"]}
    assert json.loads(lines[1]) == {"t": "public.orders", "k": [10], "r": ORDER_10}
    assert len(lines) == 4
    with rd.ExportReader(str(path)) as reader:
        assert reader.header == header
        seen = [(label, list(rows)) for label, rows in reader.each_table()]
    assert seen == [("public.orders", [("[10]", ORDER_10), ("[11]", '{"id":11}')]), ("public.empty", []),
                    ('public."odd ""name"".v2"', [('["code.1\\"q\'s"]', '{"code":"code.1\\"q\'s","label":"label 1"}')])]
    assert list(rd.rows_of(str(path), "public.orders", set(["[11]"]))) == ['{"id":11}']
    assert list(rd.rows_of(str(path), 'public."odd ""name"".v2"', set(['["code.1\\"q\'s"]'])))[0].startswith('{"code"')
    assert rd.read_header(str(path))["exported_at"] == "2026-12-03T06:45:24Z"


def test_export_replaces_a_file_and_cleans_up_on_abort(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    path.write_text("old")
    write_export(path)
    assert rd.read_header(str(path))["format"] == rd.FORMAT
    writer = rd.ExportWriter(str(path))
    writer.write("public.orders", "[1]", "{}")
    writer.abort()
    assert os.listdir(str(tmp_path)) == ["rows.jsonl.gz"]
    with pytest.raises(rd.RowDiffError, match="directory .*/nowhere does not exist"):
        rd.ExportWriter(str(tmp_path / "nowhere" / "rows.jsonl.gz"))


def test_a_truncated_export_is_refused(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    rows = {ORDERS["label"]: [("[%d]" % i, '{"id":%d,"pad":"%s"}' % (i, os.urandom(40).hex())) for i in range(3000)],
            EMPTY["label"]: [], ODD["label"]: []}
    write_export(path, rows)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(rd.RowDiffError, match="is damaged near line"):
        read_through(path)


def read_through(path):
    with rd.ExportReader(str(path)) as reader:
        for _label, table_rows in reader.each_table():
            rd.skip(table_rows)


def rewrite_lines(path, change):
    """An export whose lines change() edited (as one gzip member)."""
    with gzip.open(str(path), "rt") as handle:
        lines = handle.read().splitlines()
    change(lines)
    with gzip.open(str(path), "wt") as handle:
        handle.write("\n".join(lines) + "\n")


def test_a_count_that_does_not_match_the_header_is_refused(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    write_export(path)
    read_through(path)
    rewrite_lines(path, lambda lines: lines.pop(2))  # the second order
    with pytest.raises(rd.RowDiffError, match="public.orders has 1 rows where its header says 2"):
        read_through(path)


def test_rows_out_of_place_are_refused(tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    write_export(path)
    rewrite_lines(path, lambda lines: lines.append('{"t":"public.other","k":[1],"r":"{}"}'))
    with pytest.raises(rd.RowDiffError, match="rows of public.other at line 5 are out of place"):
        read_through(path)


@pytest.mark.parametrize("content, message", [
    (b"not gzip at all", "is damaged near line 1"),
    (gzip.compress(b'{"format": "something else"}\n'), "not a pg_row_diff export in .* \\(format 'something else'"),
    (gzip.compress(b""), "ends before its header"),
    (gzip.compress(b'{"format": "fulexo.dr.pg_row_diff/1", "tables": {"public.t": {"rows": 1}}}\n'),
     "describes table public.t without primary_key and rows"),
    (gzip.compress(b'{"format": "fulexo.dr.pg_row_diff/1", "tables": {"public.t": {"rows": 1, "primary_key": ["id"]}}}'
                   b'\n{"t": "public.t"}\n'), "line 2 is not a row"),
])
def test_files_that_are_not_exports_are_refused(tmp_path, content, message):
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(content)
    with pytest.raises(rd.RowDiffError, match=message):
        rd.read_header(str(path))


def test_an_unreadable_path_is_refused(tmp_path):
    with pytest.raises(rd.RowDiffError, match="cannot read the export"):
        rd.ExportReader(str(tmp_path / "absent.gz"))
