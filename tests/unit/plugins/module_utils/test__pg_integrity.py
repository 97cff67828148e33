"""Integrity check logic without a server.

The pg_amcheck samples are what pg_amcheck 15.x printed on a throwaway
PostgreSQL 15 cluster whose relation files were overwritten on disk: one
cluster with data checksums (a page fails its checksum, so every reader gets
an ERROR), one without (tuple-level and btree findings). The WAL-G samples
follow the JSON writer of wal-g v3.0.8 (internal/databases/postgres/
wal_verify_output_writer.go: a map keyed by check name, statuses
OK/WARNING/FAILURE, segment statuses FOUND/MISSING_*).
"""

import datetime
import json

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _pg_integrity as pgi

# pg_amcheck --heapallindexed, cluster initialised with -k, 32 bytes of
# block 1 of public.orders overwritten: rc 2.
AMCHECK_CHECKSUM_OUT = (
    'btree index "fulexo.public.orders_pkey":\n'
    '    ERROR:  invalid page in block 1 of relation base/16384/16393\n'
    'heap table "fulexo.public.orders":\n'
    '    ERROR:  invalid page in block 1 of relation base/16384/16393\n'
)
AMCHECK_CHECKSUM_ERR = (
    "WARNING:  page verification failed, calculated checksum 28461 but expected 63278\n"
    "WARNING:  page verification failed, calculated checksum 28461 but expected 63278\n"
)

# Same, cluster without checksums: a varlena header, a t_hoff and an index
# key overwritten: rc 2.
AMCHECK_TUPLE_OUT = (
    'heap table "fulexo.public.orders", block 0, offset 5, attribute 2:\n'
    '    attribute with length 4294967295 ends at offset 159 beyond total tuple length 53\n'
    'heap table "fulexo.public.orders", block 0, offset 7:\n'
    '    tuple data should begin at byte 24, but actually begins at byte 40 (3 attributes, no nulls)\n'
    'btree index "fulexo.public.orders_pkey":\n'
    '    ERROR:  item order invariant violated for index "orders_pkey"\n'
    '    DETAIL:  Lower index tid=(1,5) (points to heap tid=(0,5)) higher index tid=(1,6) '
    '(points to heap tid=(0,6)) page lsn=0/1953FF8.\n'
)

# pg_amcheck on a database without the extension: rc 1, nothing on stdout.
AMCHECK_NOT_INSTALLED_ERR = (
    'pg_amcheck: warning: skipping database "template1": amcheck is not installed\n'
    "pg_amcheck: error: no relations to check\n"
)
AMCHECK_NO_DATABASE_ERR = (
    'pg_amcheck: error: connection to server on socket "/tmp/pg/.s.PGSQL.55432" failed: '
    'FATAL:  database "nope" does not exist\n'
)
# run_command() in pg_amcheck.c when PQsendQuery fails (server went away).
AMCHECK_SEND_ERR = (
    'pg_amcheck: error: error sending command to database "fulexo": server closed the connection unexpectedly\n'
    "\tThis probably means the server terminated abnormally\n"
    "\tbefore or while processing the request.\n"
    "pg_amcheck: error: command was: SELECT blkno, offnum, attnum, msg FROM \"pg_catalog\".verify_heapam(\n"
    "relation := 16393, on_error_stop := false, check_toast := true, skip := 'none')\n"
)


def fk(**overrides):
    base = {"name": "orders_customer_id_fkey", "schema": "public", "table": "orders", "relkind": "r",
            "ref_schema": "public", "ref_table": "customers", "ref_relkind": "r",
            "columns": ["customer_id"], "ref_columns": ["id"], "definition": "FOREIGN KEY ..."}
    base.update(overrides)
    return base


# ---------------------------------------------------------------------------
# SQL building

@pytest.mark.parametrize("name, quoted", [
    ("orders", '"orders"'),
    ("Orders", '"Orders"'),
    ('we"ird', '"we""ird"'),
    ("a.b c", '"a.b c"'),
    ("x; DROP TABLE y; --", '"x; DROP TABLE y; --"'),
])
def test_quote_ident(name, quoted):
    assert pgi.quote_ident(name) == quoted


@pytest.mark.parametrize("name", ["", None, "a\x00b"])
def test_quote_ident_refuses(name):
    with pytest.raises(pgi.IntegrityError):
        pgi.quote_ident(name)


@pytest.mark.parametrize("name, expected", [
    ("public.orders", ("public", "orders")),
    ("orders", ("public", "orders")),
    ("Sales.Orders", ("Sales", "Orders")),
    ('"my.schema".t', ("my.schema", "t")),
    ('"we""ird"."T 1"', ('we"ird', "T 1")),
    ("s.table.with.dots", ("s", "table.with.dots")),
])
def test_split_table_name(name, expected):
    assert pgi.split_table_name(name) == expected


@pytest.mark.parametrize("name", ["", '"unterminated.t', ".", "s.", ".t"])
def test_split_table_name_refuses(name):
    with pytest.raises(pgi.IntegrityError):
        pgi.split_table_name(name)


def test_foreign_key_sql_single_column():
    assert pgi.foreign_key_sql(fk(), 10) == (
        'SELECT count(*) FROM (SELECT 1 FROM ONLY "public"."orders" AS c WHERE c."customer_id" IS NOT NULL'
        ' AND NOT EXISTS (SELECT 1 FROM ONLY "public"."customers" AS p WHERE p."id" = c."customer_id")'
        ' LIMIT 10) AS v')


def test_foreign_key_sql_composite_quoted_and_partitioned():
    sql = pgi.foreign_key_sql(fk(schema='we"ird', table="child", relkind="p", ref_schema='we"ird',
                                 ref_table="T 1", columns=["x", "Y"], ref_columns=["a", "b"]), 3)
    assert sql == (
        'SELECT count(*) FROM (SELECT 1 FROM "we""ird"."child" AS c'
        ' WHERE c."x" IS NOT NULL AND c."Y" IS NOT NULL'
        ' AND NOT EXISTS (SELECT 1 FROM ONLY "we""ird"."T 1" AS p WHERE p."a" = c."x" AND p."b" = c."Y")'
        ' LIMIT 3) AS v')


@pytest.mark.parametrize("overrides, limit", [
    ({"columns": ["a"], "ref_columns": ["a", "b"]}, 10),
    ({"columns": [], "ref_columns": []}, 10),
    ({}, 0),
])
def test_foreign_key_sql_refuses(overrides, limit):
    with pytest.raises(pgi.IntegrityError):
        pgi.foreign_key_sql(fk(**overrides), limit)


@pytest.mark.parametrize("expression, sql", [
    ("(amount >= (0)::numeric)",
     'SELECT count(*) FROM (SELECT 1 FROM ONLY "public"."orders" WHERE NOT ((amount >= (0)::numeric)) LIMIT 10) AS v'),
    # a '%' reaches the server unchanged: the statement has no parameters
    ("((note IS NULL) OR (note !~~ '%bad%'::text))",
     "SELECT count(*) FROM (SELECT 1 FROM ONLY \"public\".\"orders\" WHERE NOT (((note IS NULL) OR "
     "(note !~~ '%bad%'::text))) LIMIT 10) AS v"),
])
def test_check_constraint_sql(expression, sql):
    con = {"name": "c", "schema": "public", "table": "orders", "relkind": "r", "expression": expression}
    assert pgi.check_constraint_sql(con, 10) == sql


def test_check_constraint_without_expression_is_refused():
    with pytest.raises(pgi.IntegrityError):
        pgi.check_constraint_sql({"name": "c", "schema": "s", "table": "t", "relkind": "r", "expression": None}, 1)


def test_count_sql_quotes():
    assert pgi.count_sql('we"ird', "T 1") == 'SELECT count(*) FROM "we""ird"."T 1"'


def test_catalog_rows_become_dicts():
    row = ("fk", "public", "orders", "r", "public", "customers", "r", ["customer_id"], ["id"],
           "FOREIGN KEY (customer_id) REFERENCES customers(id)")
    assert pgi.foreign_key_from_row(row)["ref_columns"] == ["id"]
    con = pgi.check_constraint_from_row(("c", "public", "orders", "r", "(amount >= 0)", "CHECK ((amount >= 0))"))
    assert con["expression"] == "(amount >= 0)" and con["definition"] == "CHECK ((amount >= 0))"


def test_catalog_queries_skip_what_is_checked_elsewhere():
    assert "c.convalidated" in pgi.FOREIGN_KEYS_SQL and "c.conparentid = 0" in pgi.FOREIGN_KEYS_SQL
    assert "c.convalidated" in pgi.CHECK_CONSTRAINTS_SQL and "r.relkind = 'r'" in pgi.CHECK_CONSTRAINTS_SQL
    assert "NOT datistemplate" in pgi.DATABASES_SQL


# ---------------------------------------------------------------------------
# Connection and command lines

@pytest.mark.parametrize("host, socket, port, expected", [
    (None, "/var/run/postgresql", 5432, "unix socket /var/run/postgresql/.s.PGSQL.5432"),
    (None, "/tmp/pg/", 55432, "unix socket /tmp/pg/.s.PGSQL.55432"),
    ("10.0.0.5", "/var/run/postgresql", 5433, "10.0.0.5:5433"),
])
def test_describe_target(host, socket, port, expected):
    assert pgi.describe_target(host, socket, port) == expected


@pytest.mark.parametrize("password", [None, "", "s3cret"])
def test_connection_env_password_only_when_given(password):
    env = pgi.connection_env(None, "/var/run/postgresql", 5432, "postgres", "fulexo", password=password,
                             connect_timeout=10)
    assert env["PGHOST"] == "/var/run/postgresql" and env["PGPORT"] == "5432"
    assert env["PGUSER"] == "postgres" and env["PGDATABASE"] == "fulexo" and env["PGCONNECT_TIMEOUT"] == "10"
    assert env.get("PGPASSWORD") == (password or None)


def test_connection_env_host_overrides_socket():
    assert pgi.connection_env("db1", "/var/run/postgresql", 5432, "u", "d")["PGHOST"] == "db1"


@pytest.mark.parametrize("kwargs, expected", [
    ({}, ["/bin/pg_amcheck", "--no-password", "--heapallindexed"]),
    ({"heapallindexed": False}, ["/bin/pg_amcheck", "--no-password"]),
    ({"install_missing": True}, ["/bin/pg_amcheck", "--no-password", "--heapallindexed", "--install-missing"]),
    ({"jobs": 4}, ["/bin/pg_amcheck", "--no-password", "--heapallindexed", "--jobs", "4"]),
])
def test_amcheck_args(kwargs, expected):
    args = pgi.amcheck_args("/bin/pg_amcheck", **kwargs)
    assert args == expected
    assert not any("password=" in a or a.startswith("-W") for a in args)


def test_walg_args():
    assert pgi.walg_args("/usr/local/bin/wal-g", "/etc/wal-g/walg.json") == [
        "/usr/local/bin/wal-g", "--config", "/etc/wal-g/walg.json", "wal-verify", "integrity", "timeline", "--json"]


# ---------------------------------------------------------------------------
# pg_amcheck output

@pytest.mark.parametrize("stdout, database, expected", [
    (AMCHECK_TUPLE_OUT, "fulexo", [
        ("heap", "public.orders", 0, 5, 2,
         "attribute with length 4294967295 ends at offset 159 beyond total tuple length 53", 0),
        ("heap", "public.orders", 0, 7, None,
         "tuple data should begin at byte 24, but actually begins at byte 40 (3 attributes, no nulls)", 0),
        ("btree", "public.orders_pkey", None, None, None,
         'ERROR: item order invariant violated for index "orders_pkey"', 1),
    ]),
    (AMCHECK_CHECKSUM_OUT, "fulexo", [
        ("btree", "public.orders_pkey", None, None, None,
         "ERROR: invalid page in block 1 of relation base/16384/16393", 0),
        ("heap", "public.orders", None, None, None,
         "ERROR: invalid page in block 1 of relation base/16384/16393", 0),
    ]),
    # block-only and relation-only headers of verify_heap_slot_handler
    ('heap table "fulexo.public.orders", block 12:\n    line pointer redirection to item at offset 9 exceeds maximum offset 8\n'
     'heap table "fulexo.pg_toast.pg_toast_16393":\n    toast value 16444 not found in toast table\n', "fulexo", [
         ("heap", "public.orders", 12, None, None,
          "line pointer redirection to item at offset 9 exceeds maximum offset 8", 0),
         ("heap", "pg_toast.pg_toast_16393", None, None, None, "toast value 16444 not found in toast table", 0),
     ]),
    # a database name with dots is cut off as a whole
    ('heap table "shop.eu.public.orders", block 0, offset 1:\n    xmin 4000000000 equals or exceeds next valid transaction ID 0:745\n',
     "shop.eu", [("heap", "public.orders", 0, 1, None,
                  "xmin 4000000000 equals or exceeds next valid transaction ID 0:745", 0)]),
    ("", "fulexo", []),
])
def test_parse_amcheck_output(stdout, database, expected):
    problems = pgi.parse_amcheck_output(stdout, database)
    assert [(p["kind"], p["relation"], p["block"], p["offset"], p["attribute"], p["message"], len(p["detail"]))
            for p in problems] == expected


def test_btree_detail_line_is_kept():
    problem = pgi.parse_amcheck_output(AMCHECK_TUPLE_OUT, "fulexo")[2]
    assert problem["detail"][0].startswith("DETAIL: Lower index tid=(1,5)")


@pytest.mark.parametrize("stderr, errors, warnings, server", [
    (AMCHECK_NOT_INSTALLED_ERR, ["no relations to check"],
     ['skipping database "template1": amcheck is not installed'], []),
    (AMCHECK_NO_DATABASE_ERR,
     ['connection to server on socket "/tmp/pg/.s.PGSQL.55432" failed: FATAL:  database "nope" does not exist'], [], []),
    (AMCHECK_CHECKSUM_ERR, [], [], ["WARNING: page verification failed, calculated checksum 28461 but expected 63278"] * 2),
    ("", [], [], []),
])
def test_parse_amcheck_log(stderr, errors, warnings, server):
    log = pgi.parse_amcheck_log(stderr)
    assert (log["error"], log["warning"], log["server"]) == (errors, warnings, server)


def test_send_error_keeps_its_continuation_lines():
    log = pgi.parse_amcheck_log(AMCHECK_SEND_ERR)
    assert log["error"][0].startswith('error sending command to database "fulexo": server closed the connection '
                                      "unexpectedly This probably means")
    assert log["error"][1].startswith("command was: SELECT blkno")


@pytest.mark.parametrize("rc, stdout, stderr, status, fragments", [
    (0, "", "", "passed", ["no corruption found"]),
    (2, AMCHECK_TUPLE_OUT, "", "failed",
     ["3 problems: relation public.orders block 0 offset 5 attribute 2: attribute with length",
      "relation public.orders_pkey: ERROR: item order invariant violated"]),
    (2, AMCHECK_CHECKSUM_OUT, AMCHECK_CHECKSUM_ERR, "failed",
     ["2 problems: relation public.orders_pkey: ERROR: invalid page in block 1 of relation base/16384/16393"]),
    (1, "", AMCHECK_NO_DATABASE_ERR, "failed", ["pg_amcheck exited 1 without a verdict: connection to server"]),
    (1, AMCHECK_CHECKSUM_OUT, AMCHECK_SEND_ERR, "failed", ["2 problems", "pg_amcheck stopped: command was"]),
    (-9, "", "", "failed", ["pg_amcheck exited -9 without a verdict: no output"]),
])
def test_amcheck_check(rc, stdout, stderr, status, fragments):
    check = pgi.amcheck_check("fulexo", rc, stdout, stderr)
    assert (check["database"], check["check"], check["status"]) == ("fulexo", "amcheck", status)
    for fragment in fragments:
        assert fragment in check["message"]
    assert check["details"]["rc"] == rc


def test_amcheck_message_lists_three_problems_and_counts_the_rest():
    stdout = "".join('heap table "db.public.t", block %d, offset 1:\n    bad\n' % i for i in range(5))
    check = pgi.amcheck_check("db", 2, stdout, "")
    assert check["message"].endswith("relation public.t block 2 offset 1: bad and 2 more")
    assert check["details"]["problem_count"] == 5


def test_server_notices_are_returned():
    check = pgi.amcheck_check("fulexo", 2, AMCHECK_CHECKSUM_OUT, AMCHECK_CHECKSUM_ERR)
    assert check["details"]["server_messages"][0].startswith("WARNING: page verification failed")


# ---------------------------------------------------------------------------
# Checksums, constraints, baseline

LAST = datetime.datetime(2026, 11, 26, 16, 11, 59, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("enabled, row, status, message", [
    (False, (0, None, None), "skipped", "data checksums are off on this cluster"),
    (True, (0, None, None), "passed", "no checksum failures recorded"),
    (True, None, "passed", "no checksum failures recorded"),
    (True, (None, None, None), "passed", "no checksum failures recorded"),
    (True, (1, LAST, None), "failed", "1 checksum failure, last at 2026-11-26T16:11:59+00:00"),
    (True, (6, LAST, None), "failed", "6 checksum failures, last at 2026-11-26T16:11:59+00:00"),
])
def test_checksum_check(enabled, row, status, message):
    check = pgi.checksum_check("fulexo", enabled, row)
    assert check["status"] == status and check["message"].startswith(message)
    assert check["details"]["data_checksums"] is enabled


@pytest.mark.parametrize("value, enabled", [("on", True), ("off", False), ("ON", True), (True, True)])
def test_checksums_enabled(value, enabled):
    assert pgi.checksums_enabled(value) is enabled


def finding(kind="foreign_key", name="orders_customer_id_fkey", violations=0, error=None):
    return {"type": kind, "name": name, "table": "public.orders", "definition": "...",
            "violations": violations, "error": error}


@pytest.mark.parametrize("findings, status, fragment", [
    ([finding(), finding("check", "orders_amount_check")], "passed", "1 foreign keys and 1 check constraints hold"),
    ([], "passed", "0 foreign keys and 0 check constraints hold"),
    ([finding(violations=2)], "failed", "foreign key orders_customer_id_fkey on public.orders: 2 rows"),
    ([finding(violations=10)], "failed", "foreign key orders_customer_id_fkey on public.orders: >=10 rows"),
    ([finding("check", "orders_amount_check", violations=1)], "failed", "check orders_amount_check on public.orders: 1 row"),
    ([finding(violations=None, error="canceling statement due to statement timeout")], "failed",
     "1 of 1 constraints violated or not checkable: foreign key orders_customer_id_fkey on public.orders: "
     "canceling statement due to statement timeout"),
])
def test_constraints_check(findings, status, fragment):
    check = pgi.constraints_check("fulexo", findings, 10)
    assert check["status"] == status
    assert fragment in check["message"]


def test_constraints_limit_reached_flag():
    check = pgi.constraints_check("fulexo", [finding(violations=10), finding(name="other", violations=3)], 10)
    assert [f["limit_reached"] for f in check["details"]["violations"]] == [True, False]


@pytest.mark.parametrize("bounds, exists, count, error, status, message", [
    ({"min_rows": 500}, True, 502, None, "passed", "public.orders has 502 rows"),
    ({}, True, 0, None, "passed", "public.orders has 0 rows"),
    ({"min_rows": 500, "max_rows": 502}, True, 502, None, "passed", "public.orders has 502 rows"),
    ({"min_rows": 500}, True, 499, None, "failed", "public.orders has 499 rows, fewer than min_rows 500"),
    ({"max_rows": 10}, True, 11, None, "failed", "public.orders has 11 rows, more than max_rows 10"),
    ({"min_rows": 1}, False, None, None, "failed", "public.orders does not exist"),
    ({}, True, None, "invalid page in block 1 of relation base/16384/16393", "failed",
     "public.orders: cannot count rows: invalid page in block 1 of relation base/16384/16393"),
])
def test_baseline_check(bounds, exists, count, error, status, message):
    check = pgi.baseline_check("fulexo", "public.orders", bounds, exists, count, error=error)
    assert (check["status"], check["message"]) == (status, message)


def test_validate_baseline_normalises():
    assert pgi.validate_baseline({"fulexo": {"public.orders": {"min_rows": "5"}, "t": None}}) == {
        "fulexo": {"public.orders": {"min_rows": 5}, "t": {}}}
    assert pgi.validate_baseline(None) == {}


@pytest.mark.parametrize("baseline, fragment", [
    ({"fulexo": ["public.orders"]}, "must map schema.table to bounds"),
    ({"fulexo": {"public.orders": {"min": 1}}}, "unknown keys min"),
    ({"fulexo": {"public.orders": {"min_rows": "many"}}}, "min_rows must be an integer"),
    ({"fulexo": {"public.orders": {"min_rows": 5, "max_rows": 1}}}, "min_rows > max_rows"),
    ({"fulexo": {'"open': {}}}, "is not schema.table"),
])
def test_validate_baseline_refuses(baseline, fragment):
    with pytest.raises(pgi.IntegrityError, match=fragment):
        pgi.validate_baseline(baseline)


# ---------------------------------------------------------------------------
# wal-g wal-verify

def wal_verify(integrity_status="OK", integrity=None, timeline_status="OK", current=1, highest=1):
    if integrity is None:
        integrity = [{"timeline_id": 1, "start_segment": "000000010000000000000001",
                      "end_segment": "000000010000000000000009", "segments_count": 9, "status": "FOUND"}]
    return json.dumps({
        "integrity": {"status": integrity_status, "details": integrity},
        "timeline": {"status": timeline_status,
                     "details": {"current_timeline_id": current, "highest_storage_timeline_id": highest}},
    })


LOST = [
    {"timeline_id": 1, "start_segment": "000000010000000000000001", "end_segment": "000000010000000000000004",
     "segments_count": 4, "status": "FOUND"},
    {"timeline_id": 1, "start_segment": "000000010000000000000005", "end_segment": "000000010000000000000006",
     "segments_count": 2, "status": "MISSING_LOST"},
    {"timeline_id": 1, "start_segment": "000000010000000000000007", "end_segment": "000000010000000000000009",
     "segments_count": 3, "status": "FOUND"},
]
UPLOADING = [
    {"timeline_id": 2, "start_segment": "000000020000000000000001", "end_segment": "000000020000000000000008",
     "segments_count": 8, "status": "FOUND"},
    {"timeline_id": 2, "start_segment": "000000020000000000000009", "end_segment": "000000020000000000000009",
     "segments_count": 1, "status": "MISSING_UPLOADING"},
]


@pytest.mark.parametrize("stdout, status, message", [
    (wal_verify(), "passed",
     "integrity OK: 9 segments found; timeline OK: cluster timeline 1, highest in storage 1"),
    (wal_verify("FAILURE", LOST), "failed",
     "integrity FAILURE: 2 MISSING_LOST 000000010000000000000005..000000010000000000000006; "
     "timeline OK: cluster timeline 1, highest in storage 1"),
    (wal_verify("WARNING", UPLOADING, current=2, highest=2), "warning",
     "integrity WARNING: 1 MISSING_UPLOADING 000000020000000000000009..000000020000000000000009; "
     "timeline OK: cluster timeline 2, highest in storage 2"),
    # the cluster is on timeline 2 but storage already has 3: someone else promoted
    (wal_verify(timeline_status="FAILURE", current=2, highest=3), "failed",
     "integrity OK: 9 segments found; timeline FAILURE: cluster timeline 2, highest in storage 3"),
    # no WAL in storage at all: integrity details are null, timeline cannot tell
    (wal_verify("OK", [], "WARNING", current=1, highest=0), "warning",
     "integrity OK: 0 segments found; timeline WARNING: cluster timeline 1, highest in storage 0"),
    (json.dumps({"integrity": {"status": "OK", "details": None}}), "passed", "integrity OK: 0 segments found"),
    # log lines around the object (tracelog normally writes to stderr)
    ("INFO: 2026/11/26 Current WAL segment: 000000010000000000000009\n" + wal_verify() + "\n", "passed",
     "integrity OK: 9 segments found; timeline OK: cluster timeline 1, highest in storage 1"),
])
def test_archive_check(stdout, status, message):
    check = pgi.archive_check(0, stdout, "")
    assert (check["database"], check["check"], check["status"], check["message"]) == (None, "archive", status, message)


@pytest.mark.parametrize("rc, stdout, stderr, message", [
    (1, "", "ERROR: 2026/11/26 16:20:00.000000 Failed to establish a connection to Postgres cluster\n",
     "wal-g wal-verify exited 1: ERROR: 2026/11/26 16:20:00.000000 Failed to establish a connection to Postgres cluster"),
    (0, "not json", "", "wal-g wal-verify exited 0: wal-g wal-verify did not print its JSON result: 'not json'"),
    (0, json.dumps({"integrity": {"status": "BROKEN"}}), "",
     "wal-g wal-verify exited 0: wal-g wal-verify: check integrity has no known status"),
])
def test_archive_check_without_result_fails(rc, stdout, stderr, message):
    check = pgi.archive_check(rc, stdout, stderr)
    assert check["status"] == "failed" and check["message"].startswith(message)


def test_parse_wal_verify_keeps_the_json():
    data = pgi.parse_wal_verify(wal_verify("FAILURE", LOST))
    assert data["integrity"]["details"][1]["status"] == "MISSING_LOST"
    assert data["timeline"]["details"]["highest_storage_timeline_id"] == 1


# ---------------------------------------------------------------------------
# Assembly

def test_summarize_and_failure_message():
    checks = [
        pgi.make_check("fulexo", "checksums", "passed", "no checksum failures recorded"),
        pgi.amcheck_check("fulexo", 2, AMCHECK_TUPLE_OUT, ""),
        pgi.make_check("postgres", "amcheck", "skipped", "amcheck extension not installed in postgres"),
        pgi.archive_check(0, wal_verify("FAILURE", LOST), ""),
        pgi.archive_check(0, wal_verify("WARNING", UPLOADING, current=2, highest=2), ""),
    ]
    result = pgi.summarize(checks, ["fulexo", "postgres"])
    assert result["summary"] == {"passed": 1, "failed": 2, "skipped": 1, "warning": 1}
    assert result["ok"] is False and result["databases"] == ["fulexo", "postgres"]
    message = pgi.failure_message(checks)
    assert message.startswith("integrity check failed: fulexo: amcheck (3 problems: relation public.orders block 0 "
                              "offset 5 attribute 2: attribute with length 4294967295")
    assert "; cluster: archive (integrity FAILURE: 2 MISSING_LOST" in message
    assert "\n" not in message
    assert "postgres" not in message


def test_nothing_failed():
    checks = [pgi.make_check("fulexo", "checksums", "skipped", "off"),
              pgi.make_check(None, "archive", "warning", "integrity WARNING")]
    assert pgi.failure_message(checks) is None
    assert pgi.summarize(checks, ["fulexo"])["ok"] is True


def test_unknown_status_is_refused():
    with pytest.raises(pgi.IntegrityError):
        pgi.make_check("db", "amcheck", "broken")


def test_connection_env_bounds_statements_only_when_asked():
    assert "PGOPTIONS" not in pgi.connection_env(None, "/s", 5432, "u", "d")
    assert "PGOPTIONS" not in pgi.connection_env(None, "/s", 5432, "u", "d", statement_timeout=0)
    env = pgi.connection_env(None, "/s", 5432, "u", "d", statement_timeout=300)
    assert env["PGOPTIONS"] == "-c statement_timeout=300000"


@pytest.mark.parametrize("names, commit, standbys", [
    ("", "on", 0),
    ("   ", "remote_apply", 0),
    ("ANY 1 (pg2,pg3)", "off", 0),
    ("ANY 1 (pg2,pg3)", "local", 0),
    ("ANY 1 (pg2,pg3)", "on", 1),
    ("pg2", "remote_write", 2),
])
def test_write_does_not_block(names, commit, standbys):
    assert pgi.write_would_block(names, commit, standbys) is None


@pytest.mark.parametrize("names, commit", [
    ("ANY 1 (pg1,pg2)", "on"),
    ("pg2", "remote_apply"),
    ("*", "remote_write"),
])
def test_write_blocks_without_a_synchronous_standby(names, commit):
    reason = pgi.write_would_block(names, commit, 0)
    assert reason.startswith("a write here would wait forever")
    assert names in reason and "synchronous_standby_names to ''" in reason
