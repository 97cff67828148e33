"""pg_row_diff as a whole, with the database replaced.

connect() returns a session on a small in-memory database that answers the
module's catalog queries by the SQL constants of _row_diff, serves rows
through DECLARE/FETCH/CLOSE, and runs the repair's INSERT (a row whose key
or unique value is taken is skipped, as ON CONFLICT DO NOTHING does).
Everything between (transactions, the export file, the classification, the
repair order, the results and refusals) runs unchanged.
"""

import copy
import json
import os
import stat

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.module_utils import _pg_integrity as pgi
from ansible_collections.fulexo.dr.plugins.module_utils import _row_diff as rd
from ansible_collections.fulexo.dr.plugins.modules import pg_row_diff

WRITES = ("INSERT", "UPDATE", "DELETE", "TRUNCATE", "CREATE", "ALTER", "DROP")


class FakeError(Exception):
    def __init__(self, message, pgcode=None):
        super(FakeError, self).__init__(message)
        self.pgcode = pgcode


def make_table(schema, name, primary_key, columns, generated=(), identity_always=(), unique=()):
    return {"schema": schema, "table": name, "relkind": "r", "primary_key": list(primary_key),
            "columns": list(columns), "generated": list(generated), "identity_always": list(identity_always),
            "unique": list(unique), "rows": []}


def estate():
    """The good point: customers, orders referencing them, a table with an
    awkward name and a text key, and a table without a primary key."""
    tables = {
        "public.customers": make_table("public", "customers", ["id"], ["id", "email", "prefs", "domain"],
                                       generated=["domain"], identity_always=["id"], unique=["email"]),
        "public.orders": make_table("public", "orders", ["id"], ["id", "customer_id", "amount"]),
        'public."odd ""name"".v2"': make_table("public", 'odd "name".v2', ["code"], ["code", "label"]),
        "public.audit_log": make_table("public", "audit_log", [], ["at", "msg"]),
    }
    for i in range(1, 6):
        tables["public.customers"]["rows"].append(
            {"id": i, "email": "user%d@example.test" % i, "prefs": {"lang": "en", "n": i}, "domain": "example.test"})
    for i in range(1, 11):
        tables["public.orders"]["rows"].append({"id": 100 + i, "customer_id": 1 + i % 5, "amount": "%d.50" % i})
    for i in range(1, 4):
        tables['public."odd ""name"".v2"']["rows"].append({"code": 'code.%d"q\'s' % i, "label": "label %d" % i})
    tables["public.audit_log"]["rows"].append({"at": "2026-12-01T00:00:00+00:00", "msg": "boot"})
    fks = [("orders_customer_id_fkey", "public", "orders", "public", "customers", False)]
    return tables, fks


class FakeDatabase(object):
    def __init__(self, tables=None, fks=None, in_recovery=False, sync_commit=("", "on", 0), fail_insert=None):
        default_tables, default_fks = estate()
        self.tables = tables if tables is not None else default_tables
        self.fks = fks if fks is not None else default_fks
        self.in_recovery = in_recovery
        self.sync_commit = sync_commit
        self.fail_insert = fail_insert
        self.statements = []
        self.pending = None  # rows inserted by the open transaction
        self.cursor = None

    def connect(self, params, dbname):
        self.connected = (params["login_unix_socket"], params["port"], dbname)
        return FakeSession(self)

    def table(self, schema, name):
        for table in self.tables.values():
            if (table["schema"], table["table"]) == (schema, name):
                return table
        return None

    def key(self, table, row):
        return tuple(json.dumps(row[col]) for col in table["primary_key"])


class FakeSession(object):
    def __init__(self, db):
        self.db = db

    def query(self, sql, params=None):
        db = self.db
        db.statements.append(sql)
        if sql.startswith("BEGIN ISOLATION LEVEL REPEATABLE READ"):
            db.pending = []
            return []
        if sql == "COMMIT":
            for table, row in db.pending or []:
                table["rows"].append(row)
            db.pending = None
            return []
        if sql == "ROLLBACK":
            db.pending = None
            return []
        if sql.startswith(("SET LOCAL ", "SET CONSTRAINTS")):
            return []
        if sql == rd.SERVER_VERSION_SQL:
            return [("15.18 (Debian 15.18-0+deb12u1)",)]
        if sql == rd.IN_RECOVERY_SQL:
            return [(db.in_recovery,)]
        if sql == pgi.SYNC_COMMIT_SQL:
            return [db.sync_commit]
        if sql == rd.TABLES_SQL:
            return sorted((t["schema"], t["table"], t["primary_key"]) for t in db.tables.values())
        if sql == rd.TABLE_SQL:
            t = db.table(*params)
            return [("r", t["primary_key"], t["columns"], t["generated"], t["identity_always"])] if t else []
        if sql == rd.FOREIGN_KEYS_SQL:
            return list(db.fks)
        if sql.startswith("DECLARE "):
            for label, t in db.tables.items():
                if t["primary_key"] and sql == rd.declare_rows_sql(dict(t, label=label)):
                    db.cursor = [(json.dumps([row[c] for c in t["primary_key"]]), json.dumps(row))
                                 for row in t["rows"]]
                    return []
            raise AssertionError("DECLARE of an unknown table: %r" % sql)
        if sql.startswith("FETCH FORWARD "):
            size = int(sql.split()[2])
            batch, db.cursor = db.cursor[:size], db.cursor[size:]
            return batch
        if sql.startswith("CLOSE "):
            db.cursor = None
            return []
        if sql.startswith("SELECT count(*) FROM "):
            for label, t in db.tables.items():
                if sql == rd.count_sql(dict(t, label=label)):
                    return [(len(t["rows"]),)]
        raise AssertionError("unexpected SQL %r" % sql)

    def execute(self, sql, params=None):
        db = self.db
        db.statements.append(sql)
        assert sql.startswith("INSERT INTO ") and "ON CONFLICT DO NOTHING" in sql
        if db.fail_insert:
            raise db.fail_insert
        for label, t in db.tables.items():
            if sql.startswith("INSERT INTO %s " % pgi.qualified(t["schema"], t["table"]).replace("%", "%%")):
                break
        else:
            raise AssertionError("INSERT into an unknown table: %r" % sql)
        assert sql.count("%s") == 1
        live = t["rows"] + [row for table, row in db.pending if table is t]
        inserted = 0
        for row in json.loads(params[0]):
            taken = any(db.key(t, row) == db.key(t, other) or
                        any(row[col] == other[col] for col in t["unique"]) for other in live)
            if not taken:
                row = dict((col, row.get(col)) for col in t["columns"])
                db.pending.append((t, row))
                live.append(row)
                inserted += 1
        return inserted

    def close(self):
        pass


def run(monkeypatch, capsys, db, **args):
    monkeypatch.setattr(pg_row_diff, "driver", object())
    monkeypatch.setattr(pg_row_diff, "connect", db.connect)
    args.setdefault("database", "fulexo")
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            pg_row_diff.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def exported(monkeypatch, capsys, tmp_path):
    """An export of the good point; returns its path."""
    path = str(tmp_path / "rows.jsonl.gz")
    result = run(monkeypatch, capsys, FakeDatabase(), action="export", path=path)
    assert result["changed"] is True and not result.get("failed")
    return path


def bad_deploy(db):
    """Two customers and three orders deleted (one order's customer among
    them), two orders and a label changed, a customer and an order added."""
    customers, orders = db.tables["public.customers"], db.tables["public.orders"]
    odd = db.tables['public."odd ""name"".v2"']
    customers["rows"] = [r for r in customers["rows"] if r["id"] not in (2, 3)]
    orders["rows"] = [r for r in orders["rows"] if r["id"] not in (101, 102, 107)]
    for row in orders["rows"]:
        if row["id"] in (104, 105):
            row["amount"] = "999.00"
    odd["rows"][0]["label"] = "edited"
    customers["rows"][0]["prefs"] = {"n": 1, "lang": "en"}  # same JSON, keys reordered
    customers["rows"].append({"id": 6, "email": "new@example.test", "prefs": None, "domain": "example.test"})
    orders["rows"].append({"id": 201, "customer_id": 6, "amount": "1.00"})
    return db


def live_db():
    return bad_deploy(FakeDatabase())


# --------------------------------------------------------------------------
# export

def test_export_writes_every_keyed_table_read_only(monkeypatch, capsys, tmp_path):
    path = str(tmp_path / "rows.jsonl.gz")
    db = FakeDatabase()
    result = run(monkeypatch, capsys, db, action="export", path=path, login_unix_socket="/run/pg", port=5433)
    assert db.connected == ("/run/pg", 5433, "fulexo")
    assert result["changed"] is True
    assert result["tables"] == {"public.customers": {"rows": 5, "primary_key": ["id"]},
                                "public.orders": {"rows": 10, "primary_key": ["id"]},
                                'public."odd ""name"".v2"': {"rows": 3, "primary_key": ["code"]}}
    assert result["rows_total"] == 18 and result["without_primary_key"] == ["public.audit_log"]
    assert result["bytes"] == os.path.getsize(path) and result["path"] == path
    assert result["server_version"].startswith("15.18")
    assert result["msg"] == "exported 18 rows of 3 tables of fulexo to %s (%d bytes)" % (path, result["bytes"])
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert db.statements[0] == "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    assert "SET LOCAL TimeZone = 'UTC'" in db.statements
    assert db.statements[-1] == "ROLLBACK"
    assert not [s for s in db.statements if s.split()[0] in WRITES]
    header = rd.read_header(path)
    assert header["database"] == "fulexo" and header["tables"]["public.customers"]["columns"][-1] == "domain"


def test_export_of_named_tables(monkeypatch, capsys, tmp_path):
    path = str(tmp_path / "rows.jsonl.gz")
    result = run(monkeypatch, capsys, FakeDatabase(), action="export", path=path,
                 tables=["orders", 'public."odd ""name"".v2"', "public.orders"])
    assert list(result["tables"]) == ["public.orders", 'public."odd ""name"".v2"']
    assert result["without_primary_key"] == []


def test_export_refuses_a_table_without_primary_key(monkeypatch, capsys, tmp_path):
    path = str(tmp_path / "rows.jsonl.gz")
    result = run(monkeypatch, capsys, FakeDatabase(), action="export", path=path, tables=["orders", "audit_log"])
    assert result["failed"] is True
    assert result["msg"] == ("table public.audit_log in database fulexo has no primary key: its rows cannot be "
                             "matched with the live ones; leave it out of tables")
    assert not os.path.exists(path) and os.listdir(str(tmp_path)) == []


def test_export_refuses_a_table_that_does_not_exist(monkeypatch, capsys, tmp_path):
    result = run(monkeypatch, capsys, FakeDatabase(), action="export", path=str(tmp_path / "x.gz"), tables=["nope"])
    assert result["msg"] == "table public.nope does not exist in database fulexo (or is not a table)"


def test_export_in_check_mode_counts_and_writes_nothing(monkeypatch, capsys, tmp_path):
    path = str(tmp_path / "rows.jsonl.gz")
    db = FakeDatabase()
    result = run(monkeypatch, capsys, db, action="export", path=path, _ansible_check_mode=True)
    assert result["changed"] is True and result["bytes"] == 0 and result["rows_total"] == 18
    assert result["msg"] == "would export 18 rows of 3 tables of fulexo"
    assert os.listdir(str(tmp_path)) == []
    assert not [s for s in db.statements if s.startswith("DECLARE")]


def test_export_into_a_missing_directory_fails_cleanly(monkeypatch, capsys, tmp_path):
    result = run(monkeypatch, capsys, FakeDatabase(), action="export", path=str(tmp_path / "no" / "rows.gz"))
    assert result["failed"] is True and result["msg"].startswith("directory ") and "does not exist" in result["msg"]


def test_export_refuses_compare_options(monkeypatch, capsys, tmp_path):
    result = run(monkeypatch, capsys, FakeDatabase(), action="export", path=str(tmp_path / "x"), repair="missing")
    assert result["msg"] == "repair and fail_on_difference belong to action=compare"


# --------------------------------------------------------------------------
# compare

def test_compare_classifies_rows(monkeypatch, capsys, exported):
    db = live_db()
    result = run(monkeypatch, capsys, db, action="compare", path=exported, max_keys_reported=1)
    assert result["changed"] is False and not result.get("failed")
    orders = result["tables"]["public.orders"]
    assert orders == {"reference_rows": 10, "live_rows": 8, "missing": 3, "changed": 2, "added": 1, "unchanged": 5,
                      "missing_keys": [[101]], "changed_keys": [[104]], "added_keys": [[201]], "repaired": 0}
    customers = result["tables"]["public.customers"]
    assert (customers["missing"], customers["changed"], customers["added"]) == (2, 0, 1)
    assert result["tables"]['public."odd ""name"".v2"']["changed_keys"] == [['code.1"q\'s']]
    assert result["totals"] == {"missing": 5, "changed": 3, "added": 2, "unchanged": 10, "repaired": 0,
                                "remaining_missing": 5}
    assert result["repaired"] == {} and result["repair_order"] == [] and result["constraints_deferred"] is False
    assert result["reference"]["database"] == "fulexo"
    assert result["msg"].startswith("5 missing, 3 changed, 2 added rows in 3 tables; differ: public.customers")
    assert db.statements[0] == "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    assert not [s for s in db.statements if s.split()[0] in WRITES]
    assert rd.IN_RECOVERY_SQL not in db.statements  # only asked before a repair


def test_compare_of_named_tables_only(monkeypatch, capsys, exported):
    result = run(monkeypatch, capsys, live_db(), action="compare", path=exported, tables=["orders"])
    assert list(result["tables"]) == ["public.orders"]
    result = run(monkeypatch, capsys, live_db(), action="compare", path=exported, tables=["orders", "audit_log"])
    assert result["failed"] is True
    assert result["msg"].startswith("not in the export %s: public.audit_log (it holds public.customers" % exported)


def test_repair_in_check_mode_inserts_nothing(monkeypatch, capsys, exported):
    db = live_db()
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing", _ansible_check_mode=True)
    assert result["changed"] is True
    assert result["repair_order"] == ["public.customers", "public.orders"]
    assert result["repaired"] == {"public.customers": 0, "public.orders": 0}
    assert result["totals"]["remaining_missing"] == 5
    assert result["msg"].endswith("; check mode: 5 rows would be put back")
    assert not [s for s in db.statements if s.split()[0] in WRITES]
    assert [s for s in db.statements if s.startswith("BEGIN")] == ["BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"]


def test_repair_puts_back_missing_rows_parents_first_and_nothing_else(monkeypatch, capsys, exported):
    db = live_db()
    before = copy.deepcopy(db.tables)
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    assert result["changed"] is True and not result.get("failed")
    assert result["repaired"] == {"public.customers": 2, "public.orders": 3}
    assert result["totals"]["repaired"] == 5 and result["totals"]["remaining_missing"] == 0
    assert result["tables"]["public.orders"]["changed"] == 2  # reported, never overwritten
    assert result["msg"].endswith("; 5 rows put back")
    inserts = [s for s in db.statements if s.startswith("INSERT")]
    assert [s.split()[2] for s in inserts] == ['"public"."customers"', '"public"."orders"']
    assert 'OVERRIDING SYSTEM VALUE' in inserts[0] and '"domain"' not in inserts[0]
    assert db.statements[:2] == [rd.IN_RECOVERY_SQL, pgi.SYNC_COMMIT_SQL]
    assert db.statements[2] == "BEGIN ISOLATION LEVEL REPEATABLE READ READ WRITE"
    assert db.statements[-1] == "COMMIT"
    assert not [s for s in db.statements if s.split()[0] in ("UPDATE", "DELETE", "TRUNCATE")]
    ids = sorted(r["id"] for r in db.tables["public.orders"]["rows"])
    assert ids == [101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 201]
    assert [r["amount"] for r in db.tables["public.orders"]["rows"] if r["id"] == 104] == ["999.00"]
    assert sorted(r["id"] for r in db.tables["public.customers"]["rows"]) == [1, 2, 3, 4, 5, 6]
    assert db.tables["public.audit_log"] == before["public.audit_log"]
    # Run again: nothing left to put back.
    db.statements = []
    again = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    assert again["changed"] is False and again["totals"]["missing"] == 0 and again["repaired"] == {}
    assert not [s for s in db.statements if s.startswith("INSERT")]


def test_a_row_colliding_on_a_unique_key_is_skipped(monkeypatch, capsys, exported):
    db = live_db()
    db.tables["public.customers"]["rows"][-1]["email"] = "user2@example.test"  # the new customer took it
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    assert result["repaired"]["public.customers"] == 1 and result["totals"]["remaining_missing"] == 1
    assert result["msg"].endswith("; 4 rows put back, 1 skipped (a live row holds the same unique key)")


def test_repair_is_refused_on_a_replica(monkeypatch, capsys, exported):
    db = live_db()
    db.in_recovery = True
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing", port=5433,
                 login_unix_socket="/var/run/postgresql/")
    assert result["failed"] is True
    assert result["msg"] == ("database fulexo at unix socket /var/run/postgresql/.s.PGSQL.5433 is a replica "
                             "(in recovery): rows cannot be put back there; run the repair on the leader")
    assert not [s for s in db.statements if s.startswith(("BEGIN", "INSERT"))]
    result = run(monkeypatch, capsys, db, action="compare", path=exported)
    assert not result.get("failed") and result["totals"]["missing"] == 5


def test_repair_is_refused_where_the_commit_would_wait_forever(monkeypatch, capsys, exported):
    db = live_db()
    db.sync_commit = ("ANY 1 (pg2,pg3)", "on", 0)
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    assert result["failed"] is True and result["msg"].startswith("no row put back: a write here would wait forever")
    assert not [s for s in db.statements if s.startswith("INSERT")]


def test_a_failed_insert_rolls_everything_back(monkeypatch, capsys, exported):
    db = live_db()
    db.fail_insert = FakeError('insert or update on table "orders" violates foreign key constraint\n'
                               '"orders_customer_id_fkey"', pgcode="23503")
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    assert result["failed"] is True
    assert result["msg"] == (
        "database fulexo at unix socket /var/run/postgresql/.s.PGSQL.5432, inserting into public.customers failed: "
        'insert or update on table "orders" violates foreign key constraint "orders_customer_id_fkey"; '
        "the repair was rolled back, no row was put back")
    assert db.statements[-1] == "ROLLBACK" and "COMMIT" not in db.statements
    assert sorted(r["id"] for r in db.tables["public.customers"]["rows"]) == [1, 4, 5, 6]


def test_a_concurrent_write_asks_for_another_run(monkeypatch, capsys, exported):
    db = live_db()
    db.fail_insert = FakeError("could not serialize access due to concurrent update", pgcode="40001")
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    assert result["msg"].endswith("no row was put back (live rows with the same keys were written meanwhile: "
                                  "run it again)")


def test_a_table_gone_live_is_named(monkeypatch, capsys, exported):
    db = live_db()
    del db.tables["public.orders"]
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    assert result["failed"] is True
    assert result["msg"] == "table public.orders of the export does not exist in live database fulexo"
    assert not [s for s in db.statements if s.startswith(("DECLARE", "INSERT"))]


def test_a_changed_primary_key_is_named(monkeypatch, capsys, exported):
    db = live_db()
    db.tables["public.orders"]["primary_key"] = ["id", "customer_id"]
    result = run(monkeypatch, capsys, db, action="compare", path=exported)
    assert result["msg"] == ("table public.orders: the primary key is (id, customer_id) live but (id) in the export; "
                             "rows cannot be matched")


def test_columns_that_differ_are_reported(monkeypatch, capsys, exported):
    db = live_db()
    db.tables["public.orders"]["columns"].append("currency")
    for row in db.tables["public.orders"]["rows"]:
        row["currency"] = "EUR"
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    orders = result["tables"]["public.orders"]
    assert orders["columns_only_live"] == ["currency"] and orders["columns_only_in_export"] == []
    assert orders["changed"] == 7 and orders["repaired"] == 3
    assert "public.orders: columns differ between the export (none) and live (currency)" in json.dumps(result["warnings"])
    insert = [s for s in db.statements if s.startswith('INSERT INTO "public"."orders"')][0]
    assert '"currency"' not in insert  # its default applies


def test_a_foreign_key_cycle_that_cannot_be_deferred_is_refused_before_inserting(monkeypatch, capsys, exported):
    db = live_db()
    db.fks.append(("customers_last_order_fkey", "public", "customers", "public", "orders", False))
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    assert result["failed"] is True and "form a cycle that no deferrable key breaks" in result["msg"]
    assert not [s for s in db.statements if s.startswith("INSERT")]
    db.fks[-1] = ("customers_last_order_fkey", "public", "customers", "public", "orders", True)
    db.statements = []
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing")
    assert result["constraints_deferred"] is True and result["totals"]["remaining_missing"] == 0
    assert db.statements.index("SET CONSTRAINTS ALL DEFERRED") < db.statements.index(
        [s for s in db.statements if s.startswith("INSERT")][0])


def test_fail_on_difference(monkeypatch, capsys, exported):
    result = run(monkeypatch, capsys, live_db(), action="compare", path=exported, fail_on_difference=True)
    assert result["failed"] is True and result["totals"]["missing"] == 5
    assert result["msg"].startswith("rows differ from the export: 5 missing, 3 changed (5 missing, 3 changed")
    db = FakeDatabase()
    db.tables["public.orders"]["rows"].append({"id": 300, "customer_id": 1, "amount": "1.00"})
    result = run(monkeypatch, capsys, db, action="compare", path=exported, fail_on_difference=True)
    assert not result.get("failed") and result["totals"]["added"] == 1


def test_fail_on_difference_counts_missing_after_the_repair(monkeypatch, capsys, exported):
    db = live_db()
    for row in db.tables["public.orders"]["rows"]:
        if row["id"] in (104, 105):
            row["amount"] = "%d.50" % (row["id"] - 100)
    db.tables['public."odd ""name"".v2"']["rows"][0]["label"] = "label 1"
    result = run(monkeypatch, capsys, db, action="compare", path=exported, repair="missing", fail_on_difference=True)
    assert not result.get("failed") and result["totals"]["repaired"] == 5
    result = run(monkeypatch, capsys, live_db(), action="compare", path=exported, repair="missing",
                 fail_on_difference=True, _ansible_check_mode=True)
    assert result["failed"] is True and result["totals"]["remaining_missing"] == 5


def test_compare_without_the_file(monkeypatch, capsys, tmp_path):
    result = run(monkeypatch, capsys, live_db(), action="compare", path=str(tmp_path / "rows.jsonl.gz"))
    assert result["msg"] == ("the export %s is not on this host: copy it here first (action=export writes it on the "
                             "restored host)" % (tmp_path / "rows.jsonl.gz"))


def test_a_damaged_file_is_refused(monkeypatch, capsys, tmp_path):
    path = tmp_path / "rows.jsonl.gz"
    path.write_bytes(b"\x1f\x8b garbage")
    result = run(monkeypatch, capsys, live_db(), action="compare", path=str(path))
    assert result["failed"] is True and "is damaged near line 1" in result["msg"]


def test_connection_failure_is_one_line(monkeypatch, capsys, exported):
    def refuse(params, dbname):
        raise pg_row_diff.PgConnectError("cannot connect to database fulexo at 10.0.0.9:5432 as postgres: refused")
    monkeypatch.setattr(pg_row_diff, "driver", object())
    monkeypatch.setattr(pg_row_diff, "connect", refuse)
    with patch_module_args({"action": "compare", "database": "fulexo", "path": exported, "login_host": "10.0.0.9"}):
        with pytest.raises(SystemExit):
            pg_row_diff.main()
    result = json.loads(capsys.readouterr().out)
    assert result["msg"] == "cannot connect to database fulexo at 10.0.0.9:5432 as postgres: refused"


def test_without_a_driver(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(pg_row_diff, "driver", None)
    with patch_module_args({"action": "export", "database": "fulexo", "path": str(tmp_path / "x")}):
        with pytest.raises(SystemExit):
            pg_row_diff.main()
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True and "psycopg2" in result["msg"]


def test_password_is_not_logged(monkeypatch, capsys, exported):
    result = run(monkeypatch, capsys, live_db(), action="compare", path=exported, login_password="s3cret-pw")
    assert "s3cret-pw" not in json.dumps(result)


def test_connect_passes_the_options_to_the_driver(monkeypatch):
    calls = []

    class Conn(object):
        autocommit = False

    class Driver(object):
        @staticmethod
        def connect(**kwargs):
            calls.append(kwargs)
            return Conn()

    from ansible_collections.fulexo.dr.plugins.module_utils import _pg_connect as pgc
    monkeypatch.setattr(pgc, "driver", Driver)
    params = {"login_host": None, "login_unix_socket": "/run/pg", "port": 5433, "login_user": "postgres",
              "login_password": "pw", "connect_timeout": 7}
    session = pg_row_diff.connect(params, "fulexo")
    assert session.conn.autocommit is True
    assert calls == [{"host": "/run/pg", "port": 5433, "user": "postgres", "dbname": "fulexo", "connect_timeout": 7,
                      "application_name": "fulexo.dr.pg_row_diff", "password": "pw"}]
