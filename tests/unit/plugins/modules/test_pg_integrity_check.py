"""pg_integrity_check as a whole, with the database and the binaries replaced.

connect() returns a fake session that answers the module's catalog queries
by the SQL constants of _pg_integrity; run_command() answers for pg_amcheck
and wal-g. Everything between (which checks run, in what transaction, how
results are assembled, when the task fails) runs unchanged.
"""

import json

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.module_utils import _pg_integrity as pgi
from ansible_collections.fulexo.dr.plugins.modules import pg_integrity_check

AMCHECK_CORRUPT = (
    'heap table "fulexo.public.orders", block 0, offset 3, attribute 2:\n'
    "    attribute with length 4294967295 ends at offset 159 beyond total tuple length 53\n"
    'btree index "fulexo.public.orders_pkey":\n'
    '    ERROR:  item order invariant violated for index "orders_pkey"\n'
)
WAL_VERIFY_OK = json.dumps({
    "integrity": {"status": "OK", "details": [{"timeline_id": 1, "start_segment": "000000010000000000000001",
                                               "end_segment": "000000010000000000000004", "segments_count": 4,
                                               "status": "FOUND"}]},
    "timeline": {"status": "OK", "details": {"current_timeline_id": 1, "highest_storage_timeline_id": 1}},
})

FK_ROW = ("orders_customer_id_fkey", "public", "orders", "r", "public", "customers", "r", ["customer_id"], ["id"],
          "FOREIGN KEY (customer_id) REFERENCES customers(id)")
CHECK_ROW = ("orders_amount_check", "public", "orders", "r", "(amount >= (0)::numeric)",
             "CHECK ((amount >= (0)::numeric))")


class FakeError(Exception):
    pass


class FakeCluster(object):
    """What the server answers, and every statement the module sent."""

    def __init__(self, checksums="on", amcheck=("fulexo", "postgres"), fk_violations=0, failing_sql=None,
                 counts=None, unreachable=(), sync_commit=("", "on", 0)):
        self.checksums = checksums
        self.sync_commit = sync_commit
        self.amcheck = set(amcheck)
        self.fk_violations = fk_violations
        self.failing_sql = failing_sql
        self.counts = counts or {}
        self.unreachable = set(unreachable)
        self.statements = []
        self.commands = []
        self.stats = {None: (0, None, None), "fulexo": (0, None, None), "postgres": (0, None, None)}

    def connect(self, params, dbname):
        if dbname in self.unreachable:
            raise pg_integrity_check.PgConnectError(
                "cannot connect to PostgreSQL at %s as %s: connection refused"
                % (pgi.describe_target(params["login_host"], params["login_unix_socket"], params["port"]),
                   params["login_user"]))
        return FakeSession(self, dbname)

    def run_command(self, args, environ_update=None, **kwargs):
        self.commands.append((list(args), dict(environ_update or {})))
        if args[0].endswith("pg_amcheck"):
            database = environ_update["PGDATABASE"]
            if "--install-missing" in args:
                self.amcheck.add(database)
            if database == "fulexo" and getattr(self, "corrupt", False):
                return 2, AMCHECK_CORRUPT, ""
            return 0, "", ""
        if args[0].endswith("wal-g"):
            return 0, WAL_VERIFY_OK, "INFO: Current WAL segment: 000000010000000000000004\n"
        raise AssertionError("unexpected command %r" % (args,))


class FakeSession(object):
    def __init__(self, cluster, dbname):
        self.cluster = cluster
        self.dbname = dbname

    def query(self, sql, params=None):
        c = self.cluster
        c.statements.append((self.dbname, sql))
        if c.failing_sql and c.failing_sql in sql:
            raise FakeError("canceling statement due to statement timeout")
        if sql == pgi.DATA_CHECKSUMS_SQL:
            return [(c.checksums,)]
        if sql == pgi.DATABASES_SQL:
            return [("fulexo",), ("postgres",)]
        if sql == pgi.CHECKSUM_STATS_SQL:
            return [(name,) + row for name, row in c.stats.items()]
        if sql == pgi.AMCHECK_EXTENSION_SQL:
            return [("1.3" if self.dbname in c.amcheck else None, True)]
        if sql == pgi.SYNC_COMMIT_SQL:
            return [c.sync_commit]
        if sql == pgi.FOREIGN_KEYS_SQL:
            return [FK_ROW] if self.dbname == "fulexo" else []
        if sql == pgi.CHECK_CONSTRAINTS_SQL:
            return [CHECK_ROW] if self.dbname == "fulexo" else []
        if sql == pgi.TABLE_EXISTS_SQL:
            return [("r",)] if params in (("public", "orders"),) else []
        if sql.startswith("SELECT count(*) FROM (SELECT 1 FROM ONLY \"public\".\"orders\" AS c"):
            return [(c.fk_violations,)]
        if sql.startswith("SELECT count(*) FROM (SELECT 1 FROM ONLY"):
            return [(0,)]
        if sql.startswith("SELECT count(*) FROM "):
            return [(c.counts.get(sql, 500),)]
        if sql.split()[0] in ("BEGIN", "SET", "SAVEPOINT", "RELEASE", "ROLLBACK"):
            return []
        raise AssertionError("unexpected SQL %r" % sql)

    def close(self):
        pass


def run(monkeypatch, capsys, cluster, **args):
    monkeypatch.setattr(pg_integrity_check, "driver", object())
    monkeypatch.setattr(pg_integrity_check, "connect", cluster.connect)
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, *a, **k: cluster.run_command(*a, **k))
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, arg, *a, **k: arg)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            pg_integrity_check.main()
    return json.loads(capsys.readouterr().out)


def statuses(result):
    return [(c["database"], c["check"], c["status"]) for c in result["checks"]]


def test_healthy_cluster_passes_without_change(monkeypatch, capsys):
    cluster = FakeCluster()
    result = run(monkeypatch, capsys, cluster)
    assert result["changed"] is False and not result.get("failed")
    assert result["ok"] is True and result["databases"] == ["fulexo", "postgres"]
    assert statuses(result) == [
        ("fulexo", "checksums", "passed"), ("fulexo", "amcheck", "passed"), ("fulexo", "constraints", "passed"),
        ("postgres", "checksums", "passed"), ("postgres", "amcheck", "passed"), ("postgres", "constraints", "passed"),
    ]
    assert result["summary"] == {"passed": 6, "failed": 0, "skipped": 0, "warning": 0}
    assert result["checks"][2]["details"]["checked"] == 2


def test_corruption_fails_the_task_with_one_line_and_full_results(monkeypatch, capsys):
    cluster = FakeCluster()
    cluster.corrupt = True
    cluster.stats["fulexo"] = (2, None, None)
    result = run(monkeypatch, capsys, cluster)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == (
        "integrity check failed: fulexo: checksums (2 checksum failures, last at None); "
        "fulexo: amcheck (2 problems: relation public.orders block 0 offset 3 attribute 2: attribute with length "
        "4294967295 ends at offset 159 beyond total tuple length 53; relation public.orders_pkey: ERROR: item order "
        'invariant violated for index "orders_pkey")')
    assert result["ok"] is False and result["summary"]["failed"] == 2
    assert len(result["checks"]) == 6
    amcheck = result["checks"][1]
    assert amcheck["details"]["rc"] == 2 and amcheck["details"]["problems"][0]["block"] == 0


def test_fail_on_error_false_reports_without_failing(monkeypatch, capsys):
    cluster = FakeCluster(fk_violations=3)
    result = run(monkeypatch, capsys, cluster, fail_on_error=False)
    assert not result.get("failed") and result["changed"] is False
    assert result["ok"] is False
    assert result["msg"].startswith("integrity check failed: fulexo: constraints (1 of 2 constraints violated")
    assert ("fulexo", "constraints", "failed") in statuses(result)
    violated = [c for c in result["checks"] if c["check"] == "constraints"][0]["details"]["violations"]
    # A repair needs the table the referenced rows went missing from.
    assert [(v["table"], v["references"], v["violations"]) for v in violated] == [
        ("public.orders", "public.customers", 3)]


def test_check_mode_runs_every_check(monkeypatch, capsys):
    cluster = FakeCluster()
    cluster.corrupt = True
    result = run(monkeypatch, capsys, cluster, _ansible_check_mode=True)
    assert result["failed"] is True and result["changed"] is False
    assert ("fulexo", "amcheck", "failed") in statuses(result)


def test_constraints_run_read_only_with_timeout_and_savepoints(monkeypatch, capsys):
    cluster = FakeCluster()
    run(monkeypatch, capsys, cluster, databases=["fulexo"], statement_timeout=30, checks=["constraints"])
    sent = [sql for db, sql in cluster.statements if db == "fulexo"]
    assert sent[0] == "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
    assert sent[1] == "SET LOCAL statement_timeout = 30000"
    assert sent[-1] == "ROLLBACK"
    assert sent.count("SAVEPOINT pg_integrity_check") == 4  # two catalog lists, two constraints
    assert not any(s.split()[0] in ("INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP") for s in sent)
    assert cluster.commands == []


def test_a_failing_constraint_query_is_rolled_back_and_reported(monkeypatch, capsys):
    cluster = FakeCluster(failing_sql='WHERE NOT ((amount >= (0)::numeric))')
    result = run(monkeypatch, capsys, cluster, databases=["fulexo"], checks=["constraints"])
    assert result["failed"] is True
    check = result["checks"][0]
    assert check["status"] == "failed"
    assert check["details"]["errors"][0]["error"] == "canceling statement due to statement timeout"
    sent = [sql for db, sql in cluster.statements]
    assert "ROLLBACK TO SAVEPOINT pg_integrity_check" in sent


def test_missing_amcheck_is_skipped_with_reason(monkeypatch, capsys):
    cluster = FakeCluster(amcheck=["fulexo"])
    result = run(monkeypatch, capsys, cluster)
    assert not result.get("failed")
    skipped = [c for c in result["checks"] if c["status"] == "skipped"]
    assert [(c["database"], c["check"], c["message"]) for c in skipped] == [
        ("postgres", "amcheck", "amcheck extension not installed in postgres")]
    assert [cmd[1]["PGDATABASE"] for cmd in cluster.commands] == ["fulexo"]


def test_install_amcheck_installs_and_reports_changed(monkeypatch, capsys):
    cluster = FakeCluster(amcheck=["fulexo"])
    result = run(monkeypatch, capsys, cluster, install_amcheck=True)
    assert result["changed"] is True and result["amcheck_installed_in"] == ["postgres"]
    args = dict((env["PGDATABASE"], argv) for argv, env in cluster.commands)
    assert "--install-missing" in args["postgres"] and "--install-missing" not in args["fulexo"]
    assert ("postgres", "amcheck", "passed") in statuses(result)


def test_install_amcheck_refused_where_the_write_would_wait_forever(monkeypatch, capsys):
    # A restored copy that kept its cluster's quorum setting: CREATE EXTENSION
    # would wait for a standby that never connects.
    cluster = FakeCluster(amcheck=["fulexo"], sync_commit=("ANY 1 (pg2,pg3)", "on", 0))
    result = run(monkeypatch, capsys, cluster, install_amcheck=True)
    assert result["changed"] is False and result["amcheck_installed_in"] == []
    assert not any("--install-missing" in argv for argv, env in cluster.commands)
    refused = [c for c in result["checks"] if c["database"] == "postgres" and c["check"] == "amcheck"][0]
    assert refused["status"] == "failed" and "wait forever" in refused["message"]
    assert "ANY 1 (pg2,pg3)" in refused["message"]
    assert result["ok"] is False


def test_pg_amcheck_statements_are_bounded(monkeypatch, capsys):
    cluster = FakeCluster()
    run(monkeypatch, capsys, cluster, statement_timeout=42)
    amcheck_envs = [env for argv, env in cluster.commands if argv[0].endswith("pg_amcheck")]
    assert amcheck_envs and all(env["PGOPTIONS"] == "-c statement_timeout=42000" for env in amcheck_envs)


def test_install_amcheck_in_check_mode_installs_nothing(monkeypatch, capsys):
    cluster = FakeCluster(amcheck=["fulexo"])
    result = run(monkeypatch, capsys, cluster, install_amcheck=True, _ansible_check_mode=True)
    assert result["changed"] is False and result["amcheck_installed_in"] == []
    assert not any("--install-missing" in argv for argv, env in cluster.commands)
    assert ("postgres", "amcheck", "skipped") in statuses(result)


def test_checksums_off_is_skipped_not_passed(monkeypatch, capsys):
    cluster = FakeCluster(checksums="off")
    result = run(monkeypatch, capsys, cluster, checks=["checksums"])
    assert statuses(result) == [("fulexo", "checksums", "skipped"), ("postgres", "checksums", "skipped")]
    assert result["ok"] is True


def test_shared_catalog_checksum_failures_are_reported(monkeypatch, capsys):
    cluster = FakeCluster()
    cluster.stats[None] = (1, None, None)
    result = run(monkeypatch, capsys, cluster, checks=["checksums"])
    assert statuses(result)[0] == (None, "checksums", "failed")
    assert result["msg"].startswith("integrity check failed: cluster: checksums (1 checksum failure")


def test_pg_amcheck_gets_connection_in_env_and_no_password_in_argv(monkeypatch, capsys):
    cluster = FakeCluster()
    run(monkeypatch, capsys, cluster, databases=["fulexo"], checks=["amcheck"], login_password="s3cret",
        login_unix_socket="/run/pg", port=5433, login_user="dr_check")
    argv, env = cluster.commands[0]
    assert argv == ["/usr/lib/postgresql/15/bin/pg_amcheck", "--no-password", "--heapallindexed"]
    assert not any("s3cret" in a for a in argv)
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGDATABASE"], env["PGPASSWORD"]) == (
        "/run/pg", "5433", "dr_check", "fulexo", "s3cret")


def test_no_password_no_pgpassword(monkeypatch, capsys):
    cluster = FakeCluster()
    run(monkeypatch, capsys, cluster, databases=["fulexo"], checks=["amcheck"])
    assert "PGPASSWORD" not in cluster.commands[0][1]


def test_baseline_and_unchecked_database(monkeypatch, capsys):
    cluster = FakeCluster()
    result = run(monkeypatch, capsys, cluster, checks=["baseline"], fail_on_error=False, baseline={
        "fulexo": {"public.orders": {"min_rows": 100, "max_rows": 1000}, "public.gone": {}},
        "restored": {"public.t": {"min_rows": 1}},
    })
    assert [(c["database"], c["status"], c["message"]) for c in result["checks"]] == [
        ("fulexo", "failed", "public.gone does not exist"),
        ("fulexo", "passed", "public.orders has 500 rows"),
        ("restored", "failed", "public.t: database restored was not checked (missing, not connectable, "
                               "or not in databases)"),
    ]


def test_archive_check_runs_once_with_wal_verify(monkeypatch, capsys):
    cluster = FakeCluster()
    result = run(monkeypatch, capsys, cluster, checks=["checksums"], walg_verify=True,
                 walg_config="/etc/wal-g/walg.json")
    assert statuses(result)[-1] == (None, "archive", "passed")
    walg = [argv for argv, env in cluster.commands if argv[0].endswith("wal-g")]
    assert walg == [["/usr/local/bin/wal-g", "--config", "/etc/wal-g/walg.json", "wal-verify", "integrity",
                     "timeline", "--json"]]


def test_unreachable_database_is_a_failed_check(monkeypatch, capsys):
    cluster = FakeCluster(unreachable=["fulexo"])
    result = run(monkeypatch, capsys, cluster, fail_on_error=False)
    assert statuses(result)[0] == ("fulexo", "connect", "failed")
    assert not [c for c in result["checks"] if c["database"] == "fulexo" and c["check"] != "connect"]
    assert ("postgres", "amcheck", "passed") in statuses(result)


def test_connection_failure_names_where_and_who(monkeypatch, capsys):
    cluster = FakeCluster(unreachable=["postgres"])
    result = run(monkeypatch, capsys, cluster, login_user="dr_check")
    assert result["failed"] is True
    assert result["msg"] == ("cannot connect to PostgreSQL at unix socket /var/run/postgresql/.s.PGSQL.5432 "
                             "as dr_check: connection refused")


@pytest.mark.parametrize("args, fragment", [
    ({"max_violations_reported": 0}, "max_violations_reported must be at least 1"),
    ({"baseline": {"fulexo": {"public.t": {"min_rows": 3, "max_rows": 1}}}}, "baseline: baseline[fulexo][public.t]"),
])
def test_bad_options_fail_before_connecting(monkeypatch, capsys, args, fragment):
    cluster = FakeCluster()
    result = run(monkeypatch, capsys, cluster, **args)
    assert result["failed"] is True and fragment in result["msg"]
    assert cluster.statements == []


def test_real_connect_error_message(monkeypatch):
    class Driver(object):
        @staticmethod
        def connect(**kwargs):
            assert kwargs["password"] == "pw" and kwargs["host"] == "10.0.0.5"
            raise FakeError('connection to server at "10.0.0.5", port 5432 failed:\n\tConnection refused')

    monkeypatch.setattr(pg_integrity_check, "driver", Driver)
    params = dict(login_host="10.0.0.5", login_unix_socket="/var/run/postgresql", port=5432, login_user="postgres",
                  login_password="pw", connect_timeout=5)
    with pytest.raises(pg_integrity_check.PgConnectError) as exc:
        pg_integrity_check.connect(params, "postgres")
    assert str(exc.value) == ('cannot connect to PostgreSQL at 10.0.0.5:5432 as postgres: connection to server at '
                              '"10.0.0.5", port 5432 failed: Connection refused')
