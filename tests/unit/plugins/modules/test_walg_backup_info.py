"""walg_backup_info as a whole: what it runs, what it reports, how it refuses.

wal-g is replaced by canned output (the fixture follows the wal-g v3.0.8
structs; it is not yet a recording from the real binary) and psycopg2 by a
fake driver, so the module's own logic runs unchanged. It never reports
changed.
"""

import datetime
import json
import os

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.modules import walg_backup_info

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "walg", "walg_backup_list_detail.json")
NOW = datetime.datetime(2026, 11, 26, 16, 30, tzinfo=datetime.timezone.utc)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NEWEST = "base_0000000200000003000000B3_D_00000002000000030000009C"


class FakeWalG(object):
    def __init__(self, rc=0, out=None, err="INFO: 2026/11/26 16:30:00.000001 List backups from storages: [default]\n"):
        if out is None:
            with open(FIX) as handle:
                out = handle.read()
        self.rc, self.out, self.err = rc, out, err
        self.calls = []

    def run_command(self, args, **kwargs):
        self.calls.append(args)
        return self.rc, self.out, self.err


class FakePsycopg2(object):
    class Error(Exception):
        pass

    def __init__(self, row=None, fail=None):
        self.row, self.fail, self.connects = row, fail, []

    def connect(self, **kwargs):
        self.connects.append(kwargs)
        if self.fail:
            raise self.Error(self.fail)
        return FakeConnection(self.row)


class FakeConnection(object):
    def __init__(self, row):
        self.row, self.autocommit, self.closed = row, False, False

    def cursor(self):
        return FakeCursor(self.row)

    def close(self):
        self.closed = True


class FakeCursor(object):
    def __init__(self, row):
        self.row = row

    def execute(self, sql):
        assert sql.startswith("SELECT") and "pg_stat_archiver" in sql

    def fetchone(self):
        return self.row

    def close(self):
        pass


def primary_row(last=NOW - datetime.timedelta(seconds=47.6), in_recovery=False):
    return (in_recovery, 1204, "0000000200000003000000C4", last, 0, None, None,
            datetime.datetime(2026, 10, 1, 8, tzinfo=datetime.timezone.utc), "on", "60")


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "walg.json"
    path.write_text(json.dumps({"AWS_SECRET_ACCESS_KEY": SECRET, "WALG_S3_PREFIX": "s3://fulexo-backups/pg"}))
    return str(path)


def run(monkeypatch, capsys, walg, config, db=None, **args):
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, a, **k: walg.run_command(a, **k))
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: (
        name if name.startswith("/") else "/usr/bin/" + name))
    monkeypatch.setattr(walg_backup_info, "psycopg2", db)
    monkeypatch.setattr(walg_backup_info, "PSYCOPG2_IMPORT_ERROR", None if db else "ImportError: psycopg2")
    monkeypatch.setattr(walg_backup_info, "utcnow", lambda: NOW)
    base = dict(config=config)
    base.update(args)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            walg_backup_info.main()
    return json.loads(capsys.readouterr().out)


def test_reports_backups_window_and_rpo(monkeypatch, capsys, config):
    walg, db = FakeWalG(), FakePsycopg2(primary_row())
    result = run(monkeypatch, capsys, walg, config, db)
    assert result["changed"] is False and not result.get("failed")
    assert walg.calls == [["/usr/bin/timeout", "--kill-after=10", "120", "/usr/local/bin/wal-g",
                           "--config", config, "backup-list", "--detail", "--json"]]
    assert (result["count"], result["full_count"], result["delta_count"]) == (7, 4, 3)
    assert result["backups"][0]["name"] == "base_000000010000000100000028"
    assert result["last_backup"]["name"] == NEWEST
    assert result["last_backup_age_seconds"] == 8951.3
    assert result["pitr_window"] == {"earliest": "2026-10-24T02:03:41.100212Z",
                                     "latest": "2026-11-26T16:29:12.400000Z", "latest_source": "archiver"}
    assert result["rpo_seconds"] == 47.6
    assert result["archiver"]["archive_timeout_seconds"] == 60 and result["archiver"]["failing"] is False
    assert "restore_plan" not in result
    assert db.connects == [{"host": "/var/run/postgresql", "port": 5432, "user": "postgres", "dbname": "postgres",
                            "connect_timeout": 120, "application_name": "fulexo.dr.walg_backup_info"}]


def test_check_mode_reports_the_same(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(), config, FakePsycopg2(primary_row()), _ansible_check_mode=True,
                 restore_target="latest")
    assert result["changed"] is False and result["count"] == 7
    assert result["restore_plan"]["backup_name"] == NEWEST


def test_without_archiver_psycopg2_is_not_needed(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(), config, None, archiver=False,
                 walg_path="/opt/wal-g/wal-g", timeout=30)
    assert result["changed"] is False
    assert result["archiver"]["checked"] is False and result["rpo_seconds"] is None
    assert result["pitr_window"]["latest"] == "2026-11-26T14:00:48.700000Z"


def test_missing_psycopg2_fails_when_the_archiver_is_asked_for(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(), config, None)
    assert result["failed"] and "psycopg2" in result["msg"] and "archiver=false" in result["msg"]


def test_database_down_is_reported_not_failed(monkeypatch, capsys, config):
    db = FakePsycopg2(fail='connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: '
                           'No such file or directory\n\tIs the server running locally?')
    result = run(monkeypatch, capsys, FakeWalG(), config, db)
    assert not result.get("failed") and result["changed"] is False
    assert result["archiver"]["available"] is False and result["archiver"]["checked"] is True
    assert result["archiver"]["error"] == (
        '/var/run/postgresql:5432 as postgres: connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" '
        'failed: No such file or directory')
    assert result["rpo_seconds"] is None and result["pitr_window"]["latest_source"] == "backup"


def test_replica_is_flagged_in_recovery(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(), config, FakePsycopg2(primary_row(in_recovery=True)))
    assert result["archiver"]["in_recovery"] is True and result["archiver"]["failing"] is None
    assert result["rpo_seconds"] is None


def test_empty_storage(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(out="[]\n"), config, FakePsycopg2(primary_row()))
    assert result["changed"] is False and not result.get("failed")
    assert result["backups"] == [] and result["count"] == 0 and result["last_backup"] is None
    assert result["pitr_window"]["earliest"] is None


def test_walg_error_is_one_line_without_the_config(monkeypatch, capsys, config):
    walg = FakeWalG(rc=1, out="", err=(
        "INFO: 2026/11/26 16:30:00.000001 List backups from storages: [default]\n"
        "ERROR: 2026/11/26 16:30:00.412871 Get backups from folder: InvalidAccessKeyId: The Access Key Id you "
        "provided does not exist in our records.\n\tstatus code: 403, request id: 187B3F1C2A, host id: dd90\n"))
    result = run(monkeypatch, capsys, walg, config, FakePsycopg2(primary_row()))
    assert result["failed"] and result["changed"] is False
    assert result["msg"] == (
        "/usr/local/bin/wal-g --config %s backup-list --detail --json failed (exit 1): Get backups from folder: "
        "InvalidAccessKeyId: The Access Key Id you provided does not exist in our records. status code: 403, "
        "request id: 187B3F1C2A, host id: dd90" % config)
    assert SECRET not in json.dumps(result)


def test_walg_timeout(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(rc=124, out="", err=""), config, None, archiver=False, timeout=5)
    assert result["failed"] and result["msg"].endswith("backup-list --detail --json: no answer within 5 s")


def test_walg_output_that_is_not_json(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(out="name modified\n"), config, None, archiver=False)
    assert result["failed"] and "did not print JSON" in result["msg"]


def test_missing_config_fails_before_walg_runs(monkeypatch, capsys, tmp_path):
    walg = FakeWalG()
    result = run(monkeypatch, capsys, walg, str(tmp_path / "nope.json"), None, archiver=False)
    assert result["failed"] and "nope.json does not exist" in result["msg"]
    assert walg.calls == []


def test_restore_plan_for_a_time(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(), config, FakePsycopg2(primary_row()),
                 restore_target="2026-11-26 14:03:00Z")
    assert result["changed"] is False
    assert result["restore_plan"] == {
        "kind": "time", "target": "2026-11-26T14:03:00.000000Z", "backup_name": NEWEST,
        "backup_finish_time": "2026-11-26T14:00:48.700000Z",
        "recovery_target": {"recovery_target_time": "2026-11-26 14:03:00+00:00", "recovery_target_action": "promote",
                            "recovery_target_timeline": "latest"}}


def test_time_after_the_last_archived_wal_is_refused_when_the_archiver_is_known(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(), config, FakePsycopg2(primary_row()),
                 restore_target="2026-11-26T16:29:30Z")
    assert result["failed"] and "after the last archived WAL (2026-11-26T16:29:12.400000Z)" in result["msg"]
    # Without the archiver the archive may reach it: left to PostgreSQL.
    result = run(monkeypatch, capsys, FakeWalG(), config, None, archiver=False,
                 restore_target="2026-11-26T16:29:30Z")
    assert result["restore_plan"]["backup_name"] == NEWEST


@pytest.mark.parametrize("target,message", [
    ("2026-11-26T17:00:00Z", "is in the future"),
    ("2026-10-01T00:00:00Z", "is before the PITR window, which starts at 2026-10-24T02:03:41.100212Z"),
    ("base_0000000200000003000000B4", "is not in storage; nearest: " + NEWEST),
    ("1/00000001", "is before the end of the oldest backup"),
])
def test_restore_refusals_fail_with_the_line(monkeypatch, capsys, config, target, message):
    result = run(monkeypatch, capsys, FakeWalG(), config, FakePsycopg2(primary_row()), restore_target=target)
    assert result["failed"] and result["changed"] is False
    assert message in result["msg"] and "\n" not in result["msg"]


@pytest.mark.parametrize("target,message", [
    ("2026-11-26T14:03:00", "has no time zone"),
    ("2026-02-30T10:00:00Z", "day is out of range for month"),
    ("0/XYZ", "is not a valid LSN"),
])
def test_malformed_targets_fail_before_walg_runs(monkeypatch, capsys, config, target, message):
    walg, db = FakeWalG(), FakePsycopg2(primary_row())
    result = run(monkeypatch, capsys, walg, config, db, restore_target=target)
    assert result["failed"] and message in result["msg"]
    assert walg.calls == [] and db.connects == []


def test_empty_archive_refuses_a_restore(monkeypatch, capsys, config):
    result = run(monkeypatch, capsys, FakeWalG(out="", err="INFO: 2026/11/26 16:30:00.1 No backups found\n"),
                 config, None, archiver=False, restore_target="latest")
    assert result["failed"] and result["msg"] == "no backups in storage: there is nothing to restore from"
