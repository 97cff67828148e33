"""walg_archive_guard as a whole: what it asks mc for, what it writes, what it
reports and how it refuses.

mc is replaced by a small in-memory bucket that starts from the recording
described in tests/unit/plugins/module_utils/test_archive_guard.py (the
listing, retention and manifests of fulexo-backups/postgres/fulexo after the
attack) and answers ls, cat, retention info, pipe, cp --version-id and rm
with lines shaped like mc's, so the module's own code runs unchanged. Mc's
streamed sha256 is tested against a fake mc binary at the end.
"""

import calendar
import hashlib
import json
import os
import stat
import sys
import types

import pytest

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.module_utils import _mc
from ansible_collections.fulexo.dr.plugins.module_utils._minio import MinioOutputError
from ansible_collections.fulexo.dr.plugins.modules import walg_archive_guard

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "minio")
P = "postgres/fulexo"
A = "base_000000010000000000000002"
B = "base_000000010000000000000005_D_000000010000000000000002"
BEFORE = "2026-12-03T02:22:41.594Z"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SITE = {"name": "offsite", "url": "http://minio.test:9000", "access_key": "guard", "secret_key": SECRET}


def fixture(name):
    with open(os.path.join(FIX, name)) as handle:
        return handle.read()


class FakeBucket(object):
    """fulexo-backups as mc shows it through the alias "site"."""

    def __init__(self):
        self.versions = {}
        for line in fixture("guard_ls_attacked.jsonl").splitlines():
            entry = json.loads(line)
            entry["key"] = P + "/" + entry["key"]
            self.versions.setdefault(entry["key"], []).append(entry)
        self.retention = {}
        for line in fixture("guard_retention_attacked.jsonl").splitlines():
            entry = json.loads(line)
            self.retention[entry["versionID"]] = (entry["mode"], entry["until"])
        self.texts, self.recorded = {}, {}
        for name in (A, B, "base_000000020000000000000009"):
            text = fixture("guard_manifest_%s.json" % name)
            for entry in json.loads(text)["objects"]:
                self.recorded[entry["version_id"]] = entry["sha256"]
            self.texts[[v["versionId"] for v in self.versions[P + "/manifests/%s.json" % name]
                        if not v.get("isDeleteMarker")][0]] = text
        # Which bytes each version holds: its own, or the version it was copied from.
        self.content = dict((v["versionId"], v["versionId"]) for vs in self.versions.values() for v in vs)
        self.calls, self.clock, self.fail_on = [], 0, None

    # --- helpers -------------------------------------------------------------------

    @staticmethod
    def split(path):
        alias, bucket, key = path.split("/", 2)
        assert (alias, bucket) == ("site", "fulexo-backups")
        return key

    def new_version(self, key, size, etag, delete_marker=False):
        self.clock += 1
        version_id = "00000000-0000-4000-8000-%012d" % self.clock
        entry = {"status": "success", "type": "file", "lastModified": "2026-12-03T02:23:%02d.000Z" % (10 + self.clock),
                 "size": size, "key": key, "etag": etag, "url": "http://minio.test:9000/fulexo-backups/",
                 "versionId": version_id, "versionOrdinal": len(self.versions.get(key, [])) + 1,
                 "storageClass": "STANDARD"}
        if delete_marker:
            entry["isDeleteMarker"] = True
        else:
            self.retention[version_id] = ("COMPLIANCE", "2026-12-04T02:23:%02dZ" % (10 + self.clock))
        self.versions.setdefault(key, []).insert(0, entry)
        return version_id

    def find(self, version_id):
        return [v for vs in self.versions.values() for v in vs if v["versionId"] == version_id][0]

    def sha256(self, path, version_id):
        version = self.find(version_id)
        source = self.content[version_id]
        digest = self.recorded.get(source) or hashlib.sha256(source.encode()).hexdigest()
        return digest, version["size"]

    def latest(self, key):
        return self.versions[key][0]

    # --- mc ----------------------------------------------------------------------------

    def run_command(self, args, environ_update=None, data=None, binary_data=False, **kwargs):
        assert args[:2] == ["/usr/bin/mc", "--json"]
        assert environ_update["MC_HOST_site"] == "http://guard:%s@minio.test:9000" % SECRET.replace("/", "%2F")
        args = args[2:]
        self.calls.append(args)
        # Without binary_data run_command would add a newline to the manifest.
        assert data is None or binary_data
        if self.fail_on and args[0] == self.fail_on:
            return 1, json.dumps({"status": "error", "error": {"message": "Unable to write.", "cause": {
                "message": "Access Denied.", "error": {}}, "type": "fatal"}}) + "\n", ""
        return getattr(self, "mc_" + args[0])(args[1:], data)

    def mc_ls(self, args, data):
        assert args[:2] == ["--versions", "--recursive"]
        prefix = self.split(args[2])
        base = prefix[:prefix.rfind("/") + 1]
        lines = []
        for key in sorted(self.versions):
            if key.startswith(prefix):
                for entry in self.versions[key]:
                    lines.append(json.dumps(dict(entry, key=key[len(base):])))
        return 0, "".join(line + "\n" for line in lines), ""

    def mc_cat(self, args, data):
        assert args[0] == "--version-id"
        if args[1] in self.texts:
            return 0, self.texts[args[1]], ""
        return 1, fixture("guard_cat_no_such_version.json"), ""

    def mc_retention(self, args, data):
        assert args[:3] == ["info", "--recursive", "--versions"]
        prefix = self.split(args[3])
        lines = []
        for key in sorted(self.versions):
            for entry in self.versions[key]:
                if key.startswith(prefix) and not entry.get("isDeleteMarker"):
                    mode, until = self.retention[entry["versionId"]]
                    lines.append(json.dumps({"mode": mode, "until": until, "urlpath": "site/fulexo-backups/" + key,
                                             "versionID": entry["versionId"], "status": "success", "error": None}))
        return 0, "".join(line + "\n" for line in lines), ""

    def mc_pipe(self, args, data):
        key = self.split(args[0])
        version_id = self.new_version(key, len(data), hashlib.md5(data.encode()).hexdigest() + "-1")
        self.texts[version_id] = data
        return 0, "\r 0 B / ? " + json.dumps({"status": "success", "target": args[0], "size": len(data)}) + "\n", ""

    def mc_cp(self, args, data):
        assert args[0] == "--version-id" and args[2] == args[3]
        source = self.find(args[1])
        key = self.split(args[2])
        # As MinIO does: a multipart object's copy gets a new ETag.
        etag = source["etag"] if "-" not in source["etag"] else "f" * 32 + "-1"
        version_id = self.new_version(key, source["size"], etag)
        self.content[version_id] = self.content[source["versionId"]]
        if source["versionId"] in self.texts:
            self.texts[version_id] = self.texts[source["versionId"]]
        return 0, json.dumps({"status": "success", "source": args[2], "target": args[3], "size": source["size"],
                              "totalCount": 1, "totalSize": 0}) + "\n", ""

    def mc_rm(self, args, data):
        key = self.split(args[0])
        version_id = self.new_version(key, 0, "", delete_marker=True)
        return 0, json.dumps({"status": "success", "key": args[0], "deleteMarker": True, "versionID": version_id,
                              "modTime": None, "dryRun": False}) + "\n", ""


@pytest.fixture
def bucket():
    return FakeBucket()


# The module judges object locks against the clock: the recorded locks run
# until 2026-12-04, so "now" is fixed inside the recording's day (else the
# tests fail once that day has passed).
RECORDED_NOW = calendar.timegm((2026, 12, 3, 3, 0, 0, 0, 0, 0))


def run(monkeypatch, capsys, bucket, **args):
    monkeypatch.setattr(walg_archive_guard, "time", types.SimpleNamespace(time=lambda: RECORDED_NOW))
    monkeypatch.setattr(AnsibleModule, "run_command", lambda self, a, **k: bucket.run_command(a, **k))
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, name, required=False, opt_dirs=None: (
        "/usr/bin/" + name))
    monkeypatch.setattr(_mc.Mc, "sha256", lambda self, path, version_id: bucket.sha256(path, version_id))
    base = dict(site=SITE, bucket="fulexo-backups", prefix=P + "/")
    base.update(args)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            walg_archive_guard.main()
    out = capsys.readouterr().out
    assert SECRET not in out
    return json.loads(out)


def writes(bucket):
    return [call for call in bucket.calls if call[0] in ("pipe", "cp", "rm")]


def test_verify_reads_only_and_plans_the_rewind(monkeypatch, capsys, bucket):
    result = run(monkeypatch, capsys, bucket, action="verify", before=BEFORE)
    assert result["changed"] is False and not result.get("failed")
    assert result["ok"] and result["backup"] == B and result["chain"] == [B, A]
    assert result["before"] == "2026-12-03T02:22:41.594000Z"
    assert [r["check"] for r in result["rejected"]] == ["manifest_versions", "manifest"]
    assert (result["objects_checked"], result["wal_objects_checked"], result["untrusted_versions"]) == (10, 7, 7)
    # C's overwritten sentinel is not copied back: C and D failed, so both sentinels are hidden.
    assert result["rewind"]["to_copy"] == 4 and result["rewind"]["to_hide"] == 4
    assert result["rewind"]["applied"] is False
    assert writes(bucket) == []
    # One listing and one retention read for the whole prefix.
    assert bucket.calls[0] == ["ls", "--versions", "--recursive", "site/fulexo-backups/postgres/fulexo/"]
    assert [c for c in bucket.calls if c[0] == "retention"] == [
        ["retention", "info", "--recursive", "--versions", "site/fulexo-backups/postgres/fulexo/"]]


def test_rewind_in_check_mode_changes_nothing(monkeypatch, capsys, bucket):
    result = run(monkeypatch, capsys, bucket, action="verify", before=BEFORE, rewind=True, _ansible_check_mode=True)
    assert result["changed"] is True and result["rewind"]["applied"] is False
    assert writes(bucket) == []


def test_rewind_copies_back_hides_and_is_then_done(monkeypatch, capsys, bucket):
    result = run(monkeypatch, capsys, bucket, action="verify", before=BEFORE, rewind=True, max_listed=1)
    assert result["changed"] is True and result["rewind"]["applied"] is True
    assert len(result["rewind"]["copied"]) == 1 and len(result["rewind"]["hidden"]) == 1
    cp = [c for c in writes(bucket) if c[0] == "cp"]
    rm = [c for c in writes(bucket) if c[0] == "rm"]
    part = "site/fulexo-backups/%s/basebackups_005/%s/tar_partitions/part_1.tar.lz4" % (P, A)
    assert cp[0] == ["cp", "--version-id", "cdf9d6f2-2083-4e42-9dc9-a4945a7fc1a7", part, part]
    assert len(cp) == 4
    assert rm == [["rm", "site/fulexo-backups/%s/README_RESTORE_YOUR_DATA.txt" % P],
                  ["rm", "site/fulexo-backups/%s/wal_005/00000002000000000000000B.lz4" % P],
                  ["rm", "site/fulexo-backups/%s/basebackups_005/%s_backup_stop_sentinel.json" % (P, "base_000000020000000000000008")],
                  ["rm", "site/fulexo-backups/%s/basebackups_005/%s_backup_stop_sentinel.json" % (P, "base_000000020000000000000009")]]
    # WAL-G's LATEST is now the backup that passed.
    assert bucket.latest(P + "/basebackups_005/%s_backup_stop_sentinel.json" % "base_000000020000000000000009").get("isDeleteMarker")
    # What WAL-G reads now is what was there before.
    assert bucket.latest(P + "/basebackups_005/%s_backup_stop_sentinel.json" % B)["size"] == 93
    assert bucket.latest(P + "/README_RESTORE_YOUR_DATA.txt").get("isDeleteMarker")

    again = run(monkeypatch, capsys, bucket, action="verify", before=BEFORE, rewind=True)
    assert again["changed"] is False and again["ok"] and again["backup"] == B
    assert again["rewind"] == {"to_copy": 0, "to_hide": 0, "applied": False, "copied": [], "hidden": []}
    assert len(writes(bucket)) == 8


def test_no_rewind_when_no_backup_passes(monkeypatch, capsys, bucket):
    result = run(monkeypatch, capsys, bucket, action="verify", before=BEFORE, rewind=True, lock_modes=["GOVERNANCE"])
    assert result["failed"] and result["changed"] is False
    assert result["msg"].startswith(
        "no backup in fulexo-backups/postgres/fulexo passes the immutability checks before "
        "2026-12-03T02:22:41.594000Z: base_000000020000000000000009: manifest_versions: 1 of 5 recorded object(s)")
    assert ("%s: lock: 19 of 19 version(s) a restore reads are not locked in GOVERNANCE until a time to come "
            "(mode COMPLIANCE: 19)" % B) in result["msg"]
    assert result["rewind"]["applied"] is False and result["rewind"]["to_copy"] == 5
    assert writes(bucket) == []


def test_a_rewind_that_mc_refuses_stops_and_says_how_far_it_got(monkeypatch, capsys, bucket):
    bucket.fail_on = "rm"
    result = run(monkeypatch, capsys, bucket, action="verify", before=BEFORE, rewind=True)
    assert result["failed"] and result["changed"] is True
    assert result["msg"] == (
        "the rewind of fulexo-backups/postgres/fulexo stopped at postgres/fulexo/README_RESTORE_YOUR_DATA.txt "
        "(4 of 4 copied, 0 of 4 hidden): mc rm: Unable to write. (Access Denied.)")


@pytest.mark.parametrize("before,message", [
    ("2026-12-03 02:22", "before '2026-12-03 02:22' has no time zone: add Z or an offset, e.g. 2026-12-03T02:22Z"),
    ("yesterday", "before 'yesterday' is not a time: not an ISO 8601 time: 'yesterday'"),
])
def test_before_must_be_a_time_with_a_zone(monkeypatch, capsys, bucket, before, message):
    result = run(monkeypatch, capsys, bucket, action="verify", before=before)
    assert result["failed"] and result["msg"] == message and bucket.calls == []


def test_verify_needs_before_and_record_a_backup(monkeypatch, capsys, bucket):
    assert "before" in run(monkeypatch, capsys, bucket, action="verify")["msg"]
    assert "backup" in run(monkeypatch, capsys, bucket, action="record")["msg"]


def test_record_writes_the_manifest_once(monkeypatch, capsys, bucket):
    manifest_key = P + "/manifests/%s.json" % A
    result = run(monkeypatch, capsys, bucket, action="record", backup=A)
    assert result["changed"] is True
    written = bucket.latest(manifest_key)
    assert result["manifest"] == {"key": manifest_key, "version_id": written["versionId"], "objects": 5,
                                  "bytes": 20005893, "written": True}
    manifest = json.loads(bucket.texts[written["versionId"]])
    assert (manifest["backup"], manifest["bucket"], manifest["prefix"]) == (A, "fulexo-backups", P)
    # Recorded now, it takes the latest part_1: the attacker's (record runs right after a backup).
    part = [o for o in manifest["objects"] if o["key"].endswith("part_1.tar.lz4")][0]
    assert part["version_id"] == "e97bd593-bd54-45c8-99e8-4c41ef438ba7"
    assert part["sha256"] == hashlib.sha256(b"e97bd593-bd54-45c8-99e8-4c41ef438ba7").hexdigest()
    assert [c[0] for c in writes(bucket)] == ["pipe"]

    again = run(monkeypatch, capsys, bucket, action="record", backup=A)
    assert again["changed"] is False and again["manifest"]["version_id"] == written["versionId"]
    assert again["manifest"]["written"] is False and [c[0] for c in writes(bucket)] == ["pipe"]


def test_record_in_check_mode_hashes_but_does_not_write(monkeypatch, capsys, bucket):
    result = run(monkeypatch, capsys, bucket, action="record", backup=A, _ansible_check_mode=True)
    assert result["changed"] is True and result["manifest"]["version_id"] is None
    assert result["manifest"]["written"] is False and writes(bucket) == []


def test_record_refuses_a_backup_whose_sentinel_is_hidden(monkeypatch, capsys, bucket):
    result = run(monkeypatch, capsys, bucket, action="record", backup="base_000000010000000000000005_D_"
                 "000000010000000000000002", _ansible_check_mode=True)
    # B's sentinel is hidden by the attacker's delete marker.
    assert result["failed"] and result["msg"] == (
        "cannot record %s in fulexo-backups/postgres/fulexo on offsite (http://minio.test:9000): backup %s has no "
        "backup stop sentinel (postgres/fulexo/basebackups_005/%s_backup_stop_sentinel.json): it did not finish, "
        "or it is not there" % (B, B, B))


def test_record_refuses_a_name_that_is_not_a_backup(monkeypatch, capsys, bucket):
    result = run(monkeypatch, capsys, bucket, action="record", backup="LATEST")
    assert result["failed"] and "'LATEST' is not a WAL-G backup name" in result["msg"] and bucket.calls == []


def test_record_reports_a_refused_write(monkeypatch, capsys, bucket):
    bucket.fail_on = "pipe"
    result = run(monkeypatch, capsys, bucket, action="record", backup=A)
    assert result["failed"] and result["msg"] == (
        "cannot write the manifest postgres/fulexo/manifests/%s.json of %s on offsite (http://minio.test:9000): "
        "mc pipe: Unable to write. (Access Denied.)" % (A, A))


# --- Mc.sha256 through a real child process ---------------------------------------------------


FAKE_MC = """#!%s
import sys
args = sys.argv[1:]
assert args[:4] == ["--json", "cat", "--version-id", args[3]] and args[4] == "site/b/k", args
if args[3] == "good":
    block = bytes(range(256)) * 4096
    for _ in range(3):
        sys.stdout.buffer.write(block)
    sys.exit(0)
sys.stdout.write(open(%r).read())
sys.exit(1)
"""


class StubModule(object):
    def __init__(self, path):
        self.params = {"mc_path": path, "insecure": False, "ca_cert": None}

    def get_bin_path(self, name, required=False):
        return name


@pytest.fixture
def fake_mc(tmp_path):
    path = tmp_path / "mc"
    path.write_text(FAKE_MC % (sys.executable, os.path.join(FIX, "guard_cat_no_such_version.json")))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return _mc.Mc(StubModule(str(path)), str(tmp_path))


def test_sha256_streams_the_version(fake_mc):
    digest, size = fake_mc.sha256("site/b/k", "good")
    assert size == 3 * 256 * 4096
    assert digest == hashlib.sha256(bytes(range(256)) * 4096 * 3).hexdigest()


def test_sha256_reports_mcs_error(fake_mc):
    with pytest.raises(MinioOutputError) as caught:
        fake_mc.sha256("site/b/k", "gone")
    assert str(caught.value) == (
        "cannot read site/b/k version gone: mc cat: Unable to read from "
        "`lab/govbucket/postgres/fulexo/wal_005/000000010000000000000002.lz4`. (The specified version does not exist.)")
