"""The walg role's scheduled job: what it deletes and in which order, what it
tells monitoring, and that a replica does nothing."""

import datetime
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import types

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
JOB = os.path.join(REPO_ROOT, "roles", "walg", "files", "walg_job.py")
POLICY = os.path.join(REPO_ROOT, "plugins", "module_utils", "_walg.py")


@pytest.fixture()
def job(monkeypatch):
    # On a host the role installs the collection's _walg.py as fulexo_walg_policy.
    spec = importlib.util.spec_from_file_location("fulexo_walg_policy", POLICY)
    policy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(policy)
    monkeypatch.setitem(sys.modules, "fulexo_walg_policy", policy)
    loader = importlib.machinery.SourceFileLoader("walg_job", JOB)
    module = types.ModuleType(loader.name)
    loader.exec_module(module)
    return module


def backup_json(name, days_ago, permanent=False, now=None):
    now = now or datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(days=days_ago)
    finish = start + datetime.timedelta(minutes=5)
    return {"backup_name": name, "time": finish.isoformat().replace("+00:00", "Z"),
            "wal_file_name": name.split("_")[1], "start_time": start.isoformat().replace("+00:00", "Z"),
            "finish_time": finish.isoformat().replace("+00:00", "Z"), "hostname": "pg1", "data_dir": "/d",
            "pg_version": 150010, "start_lsn": 1, "finish_lsn": 2, "is_permanent": permanent,
            "system_identifier": 1, "uncompressed_size": 10, "compressed_size": 5, "user_data": None}


class FakeWalg(object):
    """Records wal-g calls; answers backup-list from a list of backups."""

    def __init__(self, backups, fail=()):
        self.backups, self.fail, self.calls = backups, fail, []

    def __call__(self, opts, args, timeout=None):
        self.calls.append(args)
        if args[0] == "backup-list":
            return subprocess.CompletedProcess(args, 0, json.dumps(self.backups), "")
        if args[0] in self.fail:
            return subprocess.CompletedProcess(args, 1, "", "ERROR: 2026/11/26 boom: access denied")
        return subprocess.CompletedProcess(args, 0, "", "")


def opts(tmp_path, **extra):
    values = dict(walg="/usr/local/bin/wal-g", config="/etc/wal-g/walg.json", data_dir="/d",
                  metrics_dir=str(tmp_path), full_days=30, delta_days=7, pitr_days=7, dry_run=False,
                  type="full", permanent=False)
    values.update(extra)
    return types.SimpleNamespace(**values)


def names(n, seg):
    return "base_%024X" % seg if n is None else "base_%024X_D_%024X" % (seg, n)


def test_retention_deletes_old_deltas_then_everything_before_the_oldest_kept_full(job, tmp_path, monkeypatch):
    old_full, new_full = names(None, 1), names(None, 50)
    old_delta = names(1, 2)
    backups = [backup_json(old_full, 40), backup_json(old_delta, 39), backup_json(names(None, 20), 20),
               backup_json(new_full, 1)]
    fake = FakeWalg(backups)
    monkeypatch.setattr(job, "walg", fake)
    assert job.retention(opts(tmp_path), {}) == 0
    deletes = [c for c in fake.calls if c[0] == "delete"]
    assert deletes[0] == ["delete", "target", old_delta, "--confirm"]
    assert deletes[-1] == ["delete", "before", names(None, 20), "--confirm"]
    metrics = (tmp_path / "walg_retention.prom").read_text()
    assert "fulexo_walg_retention_success 1" in metrics
    assert "fulexo_walg_retention_deleted_backups 2" in metrics


def test_an_old_permanent_backup_is_never_the_boundary(job, tmp_path, monkeypatch):
    backups = [backup_json(names(None, 1), 60, permanent=True), backup_json(names(None, 2), 45),
               backup_json(names(None, 30), 10), backup_json(names(None, 40), 1)]
    fake = FakeWalg(backups)
    monkeypatch.setattr(job, "walg", fake)
    assert job.retention(opts(tmp_path), {}) == 0
    assert ["delete", "before", names(None, 30), "--confirm"] in fake.calls


def test_dry_run_deletes_nothing(job, tmp_path, monkeypatch):
    fake = FakeWalg([backup_json(names(None, 1), 40), backup_json(names(None, 9), 1)])
    monkeypatch.setattr(job, "walg", fake)
    assert job.retention(opts(tmp_path, dry_run=True), {}) == 0
    assert [c for c in fake.calls if c[0] == "delete"] == []


def test_failed_delete_fails_the_run_and_says_so(job, tmp_path, monkeypatch, capsys):
    fake = FakeWalg([backup_json(names(None, 1), 40), backup_json(names(2, 3), 39), backup_json(names(None, 9), 1)],
                    fail=("delete",))
    monkeypatch.setattr(job, "walg", fake)
    assert job.retention(opts(tmp_path), {}) == 1
    assert "fulexo_walg_retention_success 0" in (tmp_path / "walg_retention.prom").read_text()
    assert "access denied" in capsys.readouterr().out


def test_failed_backup_keeps_the_last_success_time(job, tmp_path, monkeypatch):
    backups = [backup_json(names(None, 1), 0)]
    monkeypatch.setattr(job, "walg", FakeWalg(backups))
    monkeypatch.setattr(job, "record_manifest", lambda opts, name: (3, 30))
    assert job.backup(opts(tmp_path), {}) == 0
    first = (tmp_path / "walg_backup_full.prom").read_text()
    assert 'fulexo_walg_backup_success{type="full"} 1' in first
    assert 'fulexo_walg_backup_size_bytes{type="full"} 5' in first
    last_success = [line for line in first.splitlines() if line.startswith("fulexo_walg_backup_last_success")][0]

    monkeypatch.setattr(job, "walg", FakeWalg(backups, fail=("backup-push",)))
    assert job.backup(opts(tmp_path), {}) == 1
    second = (tmp_path / "walg_backup_full.prom").read_text()
    assert 'fulexo_walg_backup_success{type="full"} 0' in second
    assert last_success in second.splitlines()


def test_a_replica_does_nothing(job, tmp_path, monkeypatch, capsys):
    config = tmp_path / "walg.json"
    config.write_text("{}")
    monkeypatch.setattr(job, "is_leader", lambda settings: False)
    fake = FakeWalg([])
    monkeypatch.setattr(job, "walg", fake)
    assert job.main(["--config", str(config), "--data-dir", "/d", "--metrics-dir", str(tmp_path),
                     "backup", "--type", "full"]) == 0
    assert fake.calls == []
    assert "only the leader" in capsys.readouterr().out
    assert list(tmp_path.glob("*.prom")) == []


ST_LS = """type size last modified                  name
dir  0    0001-01-01 00:00:00 +0000 UTC  tar_partitions/
obj  5120 2026-12-03 02:11:04 +0000 UTC  tar_partitions/part_1.tar.lz4
obj  312  2026-12-03 02:11:04 +0000 UTC  tar_partitions/pg_control.tar.lz4
obj  901  2026-12-03 02:11:05 +0000 UTC  files_metadata.json
"""


def test_storage_listing_keeps_objects_with_their_sizes(job):
    assert job.parse_storage_listing(ST_LS) == [
        ("tar_partitions/part_1.tar.lz4", 5120), ("tar_partitions/pg_control.tar.lz4", 312),
        ("files_metadata.json", 901)]


class ManifestWalg(FakeWalg):
    """Answers st ls with a listing and keeps the manifest st put uploads."""

    def __init__(self, backups, put_rc=0):
        FakeWalg.__init__(self, backups)
        self.put_rc, self.manifest = put_rc, None

    def __call__(self, opts, args, timeout=None):
        self.calls.append(args)
        if args[:2] == ["st", "ls"]:
            return subprocess.CompletedProcess(args, 0, ST_LS, "")
        if args[:2] == ["st", "put"]:
            with open(args[3]) as handle:
                self.manifest = json.load(handle)
            return subprocess.CompletedProcess(args, self.put_rc, "", "" if self.put_rc == 0 else "ERROR: denied")
        return FakeWalg.__call__(self, opts, args, timeout)


def test_a_backup_records_the_sha256_of_every_object_and_its_sentinel(job, tmp_path, monkeypatch, capsys):
    name = names(None, 1)
    fake = ManifestWalg([backup_json(name, 0)])
    monkeypatch.setattr(job, "walg", fake)
    monkeypatch.setattr(job, "object_sha256", lambda opts, path: ("%064x" % len(path), len(path)))
    assert job.backup(opts(tmp_path), {}) == 0
    assert fake.calls[-1][:3] == ["st", "put", "--no-compress"]
    assert fake.calls[-1][4] == "manifests/%s.json" % name
    keys = [item["key"] for item in fake.manifest["objects"]]
    assert keys == ["basebackups_005/%s/tar_partitions/part_1.tar.lz4" % name,
                    "basebackups_005/%s/tar_partitions/pg_control.tar.lz4" % name,
                    "basebackups_005/%s/files_metadata.json" % name,
                    "basebackups_005/%s_backup_stop_sentinel.json" % name]
    assert fake.manifest["backup"] == name
    assert '"manifest_objects": 4' in capsys.readouterr().out


def test_a_backup_whose_manifest_cannot_be_written_fails(job, tmp_path, monkeypatch, capsys):
    fake = ManifestWalg([backup_json(names(None, 1), 0)], put_rc=1)
    monkeypatch.setattr(job, "walg", fake)
    monkeypatch.setattr(job, "object_sha256", lambda opts, path: ("0" * 64, 1))
    assert job.backup(opts(tmp_path), {}) == 1
    out = capsys.readouterr().out
    assert "manifest was not recorded" in out and "denied" in out


def test_a_backup_whose_listing_is_empty_records_nothing_and_fails(job, tmp_path, monkeypatch, capsys):
    fake = ManifestWalg([backup_json(names(None, 1), 0)])
    fake_ls = ST_LS.splitlines()[0] + "\n"
    monkeypatch.setattr(job, "walg", lambda opts, args, timeout=None: (
        subprocess.CompletedProcess(args, 0, fake_ls, "") if args[:2] == ["st", "ls"] else fake(opts, args, timeout)))
    monkeypatch.setattr(job, "object_sha256", lambda opts, path: ("0" * 64, 1))
    assert job.backup(opts(tmp_path), {}) == 1
    assert fake.manifest is None
    assert "listed no object" in capsys.readouterr().out
