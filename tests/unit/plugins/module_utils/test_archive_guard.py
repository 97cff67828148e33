"""The archive guard's decisions, on output recorded from mc and MinIO (the
lab's builds) on a loopback server with a fake WAL-G layout under
fulexo-backups/postgres/fulexo (COMPLIANCE for 1 day by default):

  02:21:41.822  START
                WAL 1/1, 1/2 (and 1/2's .backup label); full A =
                base_000000010000000000000002 (part_1 20 MB, multipart),
                its sentinel; A recorded (manifests/A.json)
  02:22:09.414  T_A
                WAL 1/3, 1/4; delta B = base_..05_D_..02 on A; B recorded;
                WAL 1/5, 1/6.partial, 00000002.history, 2/6, 2/7
  02:22:27.922  T_B
                full C = base_000000020000000000000008 (never recorded);
                WAL 2/8; full D = base_000000020000000000000009, recorded; WAL 2/9
  02:22:39.412  T_D
                an early intrusion: D's pg_control overwritten; WAL 2/A
  02:22:41.594  BEFORE (the time the operator names)
                the attack: A's part_1 overwritten (same size), WAL 2/7
                overwritten, B's sentinel and A's manifest hidden by delete
                markers, a ransom note, C's sentinel overwritten, WAL 2/B
  02:22:45.631  T_ATTACK

guard_ls_attacked.jsonl is `mc ls --versions --recursive --json` of the
prefix then, guard_retention_attacked.jsonl its `mc retention info
--recursive --versions --json`, guard_manifest_*.json the manifests the
module wrote, guard_ls_rewound.jsonl the listing after the module's rewind
to BEFORE.
"""

import json
import os

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _archive_guard as guard
from ansible_collections.fulexo.dr.plugins.module_utils._minio import MinioOutputError, parse_json_lines, parse_versions

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "minio")
P = "postgres/fulexo"
A = "base_000000010000000000000002"
B = "base_000000010000000000000005_D_000000010000000000000002"
C = "base_000000020000000000000008"
D = "base_000000020000000000000009"
START = "2026-12-03T02:21:41.822Z"
T_A = "2026-12-03T02:22:09.414Z"
T_D = "2026-12-03T02:22:39.412Z"
BEFORE = "2026-12-03T02:22:41.594Z"
T_ATTACK = "2026-12-03T02:22:45.631Z"


def fixture(name):
    with open(os.path.join(FIX, name)) as handle:
        return handle.read()


def attacked():
    return parse_versions(fixture("guard_ls_attacked.jsonl"), P + "/")


def rewound():
    return parse_versions(fixture("guard_ls_rewound.jsonl"), P + "/")


def us(text):
    return guard.before_micros(text)


def key(*parts):
    return "/".join((P,) + parts)


def bb(*parts):
    return key("basebackups_005", *parts)


def manifests():
    """{manifest version id: text} as the module wrote them."""
    return {
        "2acbc5d2-5a9a-4cf7-8448-981f88348872": fixture("guard_manifest_%s.json" % A),
        "bf82d803-7427-469c-b762-f5e8ace3c72a": fixture("guard_manifest_%s.json" % B),
        "39f9c271-a082-4f4a-981e-512492f218c0": fixture("guard_manifest_%s.json" % D),
    }


def recorded_hashes():
    """{(key, version id): (sha256, size)} of every version a manifest recorded."""
    hashes = {}
    for text in manifests().values():
        for entry in json.loads(text)["objects"]:
            hashes[(entry["key"], entry["version_id"])] = (entry["sha256"], entry["size"])
    return hashes


def recorded_retention():
    return guard.parse_retention(fixture("guard_retention_attacked.jsonl"), "lab", "fulexo-backups")


class Reads(object):
    """The reads a Verification makes, from the recording, counted."""

    def __init__(self, retention_reader=recorded_retention, hashes=None, texts=None):
        self.hashes = recorded_hashes() if hashes is None else hashes
        self.texts = manifests() if texts is None else texts
        self.retention_reader = retention_reader
        self.hashed, self.retention_calls = [], 0

    def read_manifest(self, version):
        return self.texts[version["version_id"]]

    def retention(self):
        self.retention_calls += 1
        return self.retention_reader()

    def hash_version(self, version):
        self.hashed.append(version["key"])
        return self.hashes.get((version["key"], version["version_id"]), ("0" * 64, version["size"]))


def verification(before=BEFORE, reads=None, now="2026-12-03T03:00:00Z", **kwargs):
    reads = reads or Reads()
    return guard.Verification(attacked(), P, us(before), reads.read_manifest, reads.retention, reads.hash_version,
                              now=us(now) / 1e6, **kwargs), reads


# --- The trusted view ----------------------------------------------------------------------


def test_the_recording_holds_every_version_and_delete_marker():
    versions = attacked()
    assert len(versions) == 44
    assert len([v for v in versions if v["is_delete_marker"]]) == 2
    assert all(v["key"].startswith(P + "/") for v in versions)


def test_trusted_view_keeps_what_stood_before_an_overwrite():
    view = guard.trusted_view(attacked(), us(BEFORE))
    latest = guard.by_key(attacked())
    part = bb(A, "tar_partitions", "part_1.tar.lz4")
    assert latest[part][0]["version_id"] == "e97bd593-bd54-45c8-99e8-4c41ef438ba7"  # the attacker's
    assert view[part]["version_id"] == "cdf9d6f2-2083-4e42-9dc9-a4945a7fc1a7"
    assert view[key("wal_005", "000000020000000000000007.lz4")]["version_id"] == "49a3dee3-f22b-4d81-8b68-16fea1a74866"


def test_trusted_view_sees_through_later_delete_markers():
    view = guard.trusted_view(attacked(), us(BEFORE))
    assert view[bb(B + "_backup_stop_sentinel.json")]["version_id"] == "0713b566-0683-4774-bb40-9057a7aef778"
    assert view[key("manifests", A + ".json")]["version_id"] == "2acbc5d2-5a9a-4cf7-8448-981f88348872"


def test_keys_written_after_before_are_not_in_the_view():
    view = guard.trusted_view(attacked(), us(BEFORE))
    assert key("README_RESTORE_YOUR_DATA.txt") not in view
    assert key("wal_005", "00000002000000000000000B.lz4") not in view
    # 38 keys (six of them with two versions), less the note and WAL 2/B.
    assert len(view) == 36
    assert key("wal_005", "00000002000000000000000A.lz4") in view


def test_a_delete_marker_before_before_removes_the_key():
    # Named after the attack, the markers on B's sentinel and A's manifest are trusted.
    view = guard.trusted_view(attacked(), us(T_ATTACK))
    assert bb(B + "_backup_stop_sentinel.json") not in view
    assert key("manifests", A + ".json") not in view
    assert view[key("README_RESTORE_YOUR_DATA.txt")]["size"] == 700


def test_an_overwrite_before_before_is_trusted():
    control = bb(D, "tar_partitions", "pg_control.tar.lz4")
    assert guard.trusted_view(attacked(), us(BEFORE))[control]["version_id"].startswith("da000022")
    assert guard.trusted_view(attacked(), us(T_D))[control]["version_id"].startswith("8923ed5c")


def test_a_version_written_exactly_at_before_is_not_trusted():
    part = bb(A, "tar_partitions", "part_1.tar.lz4")
    at = guard.trusted_view(attacked(), us("2026-12-03T02:22:43.727Z"))  # the overwrite's lastModified
    after = guard.trusted_view(attacked(), us("2026-12-03T02:22:43.728Z"))
    assert at[part]["version_id"].startswith("cdf9d6f2")
    assert after[part]["version_id"].startswith("e97bd593")


def test_nothing_is_trusted_before_the_first_write():
    assert guard.trusted_view(attacked(), us(START)) == {}
    assert guard.untrusted_count(attacked(), us(START)) == 44


def test_untrusted_versions_are_the_attacks_seven():
    assert guard.untrusted_count(attacked(), us(BEFORE)) == 7
    assert guard.untrusted_count(attacked(), us(T_ATTACK)) == 0


def test_latest_follows_mc_version_ordinal_not_listing_order():
    versions = attacked()
    part = [v for v in versions if v["key"] == bb(A, "tar_partitions", "part_1.tar.lz4")]
    shuffled = list(reversed(part))
    assert guard.by_key(shuffled)[part[0]["key"]][0]["version_id"].startswith("e97bd593")


# --- Candidates, chains, WAL --------------------------------------------------------------


def test_candidates_are_sentinels_newest_first():
    view = guard.trusted_view(attacked(), us(BEFORE))
    assert [b["name"] for b in guard.backups_in_view(view, P)] == [D, C, B, A]


def test_candidates_are_ordered_by_the_trusted_sentinel_version():
    # After the attack: B's sentinel is hidden, C's overwritten sentinel is the newest.
    view = guard.trusted_view(attacked(), us(T_ATTACK))
    assert [b["name"] for b in guard.backups_in_view(view, P)] == [C, D, A]


def test_a_delta_needs_its_base():
    backups = guard.backups_in_view(guard.trusted_view(attacked(), us(BEFORE)), P)
    assert guard.delta_chain(B, backups) == ([B, A], None)
    assert guard.delta_chain(A, backups) == ([A], None)
    without_a = [b for b in backups if b["name"] != A]
    assert guard.delta_chain(B, without_a) == ([B], "000000010000000000000002")


@pytest.mark.parametrize("name,kind", [
    ("000000010000000000000005.lz4", ("segment", "000000010000000000000005")),
    ("00000002000000000000000A.zst", ("segment", "00000002000000000000000A")),
    ("00000002000000000000000A.br", ("segment", "00000002000000000000000A")),
    ("000000010000000000000005", ("segment", "000000010000000000000005")),
    ("00000002.history.lz4", ("history", "00000002")),
    ("00000002.history", ("history", "00000002")),
    ("000000010000000000000002.00000028.backup.lz4", None),
    ("000000010000000000000006.partial.lz4", None),
    ("000000010000000000000005.gz2", None),
    ("00000001000000000000005.lz4", None),
])
def test_wal_names(name, kind):
    assert guard.wal_kind(name) == kind


@pytest.mark.parametrize("segment,needed", [
    ("000000010000000000000005", True),   # the start itself
    ("000000010000000000000004", False),  # before the start
    ("000000020000000000000004", False),  # a later timeline does not make an earlier segment needed
    ("000000020000000000000006", True),   # after a timeline switch
    ("000000000000000100000000", True),   # the log number counts before the segment number
    ("0000000300000000000000FF", True),
])
def test_segments_compare_across_timelines(segment, needed):
    assert guard.segment_needed(segment, "000000010000000000000005") is needed


def test_wal_a_restore_of_b_reads():
    view = guard.trusted_view(attacked(), us(BEFORE))
    keys = [v["key"][len(key("wal_005")) + 1:] for v in guard.wal_objects(view, P, "000000010000000000000005")]
    assert keys == ["000000010000000000000005.lz4", "00000002.history.lz4", "000000020000000000000006.lz4",
                    "000000020000000000000007.lz4", "000000020000000000000008.lz4", "000000020000000000000009.lz4",
                    "00000002000000000000000A.lz4"]


# --- Manifests -----------------------------------------------------------------------------


def test_the_recorded_manifest_parses():
    manifest = guard.parse_manifest(fixture("guard_manifest_%s.json" % B), B, P)
    assert [o["key"][len(bb()) + 1:] for o in manifest["objects"]] == [
        B + "/files_metadata.json", B + "/metadata.json", B + "/tar_partitions/part_1.tar.lz4",
        B + "/tar_partitions/pg_control.tar.lz4", B + "_backup_stop_sentinel.json"]
    assert manifest["objects"][2] == {
        "key": bb(B, "tar_partitions", "part_1.tar.lz4"), "version_id": "1547a078-b012-417c-baf9-6868f369aa45",
        "size": 300000, "sha256": "7c88a827e5b6d5d0123d13ec59de0d1823f2cf4970b4e6cfeeb6ca9b85aa7294"}


def edited(change):
    data = json.loads(fixture("guard_manifest_%s.json" % A))
    change(data)
    return json.dumps(data)


@pytest.mark.parametrize("text,message", [
    ("{not json", "not JSON"),
    ("[]", "no list of objects"),
    (edited(lambda d: d.update(backup=B)), "it names backup"),
    (edited(lambda d: d.update(prefix="postgres/other")), "recorded for prefix 'postgres/other'"),
    (edited(lambda d: d["objects"][0].update(key=bb(B, "metadata.json"))), "is not part of backup " + A),
    (edited(lambda d: d["objects"][0].update(size=True)), "entry 0 has no valid size"),
    (edited(lambda d: d["objects"][1].pop("sha256")), "entry 1 has no valid sha256"),
    (edited(lambda d: d.update(objects=d["objects"][:-1])), "does not list the backup stop sentinel"),
    (edited(lambda d: d.update(objects=d["objects"][-1:])), "no object of the backup besides the sentinel"),
])
def test_manifests_that_are_not_this_backups_are_refused(text, message):
    with pytest.raises(guard.ManifestError, match=message.replace("(", r"\(")):
        guard.parse_manifest(text, A, P)


def test_prefix_slashes_do_not_matter_to_a_manifest():
    assert guard.parse_manifest(edited(lambda d: d.update(prefix="/postgres/fulexo/")), A, P)["backup"] == A


def test_a_built_manifest_reads_back_and_compares_without_its_time():
    objects = [dict(v, sha256="ab" * 32) for v in attacked() if v["key"].startswith(bb(A))
               and not v["version_id"].startswith("e97bd593")]
    manifest = guard.build_manifest(A, "fulexo-backups", P, "2026-12-03T02:21:53.600000Z", objects)
    back = guard.parse_manifest(guard.manifest_text(manifest), A, P)
    assert back == manifest
    assert [o["key"] for o in back["objects"]] == sorted(o["key"] for o in objects)
    later = dict(manifest, recorded_at="2026-12-04T00:00:00Z")
    assert guard.same_objects(manifest, later)
    other = json.loads(guard.manifest_text(manifest))
    other["objects"][0]["sha256"] = "cd" * 32
    assert not guard.same_objects(manifest, other)


def listing_of(prefix):
    return [v for v in attacked() if v["key"].startswith(prefix)]


def test_record_takes_each_latest_version_and_the_sentinel_last():
    objects = guard.record_objects(listing_of(guard.backup_folder(P, A)), listing_of(guard.sentinel_key(P, A)), P, A)
    assert [o["key"] for o in objects] == [
        bb(A, "files_metadata.json"), bb(A, "metadata.json"), bb(A, "tar_partitions", "part_1.tar.lz4"),
        bb(A, "tar_partitions", "pg_control.tar.lz4"), bb(A + "_backup_stop_sentinel.json")]
    # Record runs right after the backup; run now, it would take what is there now.
    assert objects[2]["version_id"].startswith("e97bd593")


def test_record_refuses_a_backup_whose_sentinel_is_hidden():
    with pytest.raises(guard.GuardError, match="has no backup stop sentinel .*it did not finish"):
        guard.record_objects(listing_of(guard.backup_folder(P, B)), listing_of(guard.sentinel_key(P, B)), P, B)


def test_record_reads_only_its_own_sentinel():
    # A's name is the start of no other here, but a listing may hold other keys.
    with pytest.raises(guard.GuardError, match="has no backup stop sentinel"):
        guard.record_objects(listing_of(guard.backup_folder(P, A)), listing_of(guard.sentinel_key(P, B)), P, A)


def test_record_refuses_a_sentinel_without_objects():
    with pytest.raises(guard.GuardError, match="no objects under"):
        guard.record_objects([], listing_of(guard.sentinel_key(P, A)), P, A)


# --- The checks, one by one ------------------------------------------------------------------


def test_manifest_versions_pass_for_b_and_fail_for_d_overwritten_early():
    versions = attacked()
    groups = guard.by_key(versions)
    b = guard.parse_manifest(fixture("guard_manifest_%s.json" % B), B, P)
    d = guard.parse_manifest(fixture("guard_manifest_%s.json" % D), D, P)
    assert guard.manifest_version_problems(b, groups, us(BEFORE)) == []
    assert guard.manifest_version_problems(d, groups, us(BEFORE)) == [
        bb(D, "tar_partitions", "pg_control.tar.lz4") + ": overwritten before then (trusted version "
        "da000022-6503-40d6-b05b-d0b714117f01, recorded 8923ed5c-3bec-469a-8fb5-fd463798647b)"]
    # Named before the early overwrite, D is whole.
    assert guard.manifest_version_problems(d, groups, us(T_D)) == []


def test_manifest_versions_fail_for_a_deleted_key_a_vanished_version_and_a_size():
    versions = attacked()
    groups = guard.by_key(versions)
    b = guard.parse_manifest(fixture("guard_manifest_%s.json" % B), B, P)
    assert guard.manifest_version_problems(b, groups, us(T_ATTACK)) == [
        bb(B + "_backup_stop_sentinel.json") + ": deleted (a delete marker) before then"]
    b["objects"][0]["version_id"] = "00000000-0000-0000-0000-000000000000"
    b["objects"][1]["size"] = 601
    assert guard.manifest_version_problems(b, groups, us(BEFORE)) == [
        bb(B, "files_metadata.json") + ": recorded version 00000000-0000-0000-0000-000000000000 no longer exists",
        bb(B, "metadata.json") + ": 600 bytes, recorded 601"]


def test_retention_info_as_recorded():
    held = recorded_retention()
    assert len(held) == 42  # 44 versions less the 2 delete markers, which have no retention
    part = (bb(A, "tar_partitions", "part_1.tar.lz4"), "cdf9d6f2-2083-4e42-9dc9-a4945a7fc1a7")
    assert held[part]["mode"] == "COMPLIANCE"
    # MinIO dates the retention from the upload's start, before its lastModified (02:21:43.239).
    assert held[part]["until"] == pytest.approx(guard.before_micros("2026-12-04T02:21:43.063Z") / 1e6, abs=1e-4)
    assert (key("manifests", A + ".json"), "32a6c9e5-a70f-4f6a-ae89-cd99d63e2305") not in held


def test_retention_without_a_default_is_no_retention():
    held = guard.parse_retention(fixture("guard_retention_no_default.jsonl"), "lab", "lockednodefault")
    # Recorded before the manifest was written: WAL 1/2 and the backup's five.
    assert len(held) == 6 and all(h == {"mode": "", "until": None} for h in held.values())


def test_retention_in_governance_mode():
    held = guard.parse_retention(fixture("guard_retention_governance.jsonl"), "lab", "govbucket")
    assert list(held.values())[0]["mode"] == "GOVERNANCE"


def test_retention_of_a_bucket_without_object_lock():
    with pytest.raises(guard.BucketNotLocked, match="bucket plainver has no object lock"):
        guard.parse_retention(fixture("guard_retention_not_locked.jsonl"), "lab", "plainver")


def test_retention_of_an_empty_prefix_is_an_error():
    with pytest.raises(MinioOutputError, match="Unable to find any object/version"):
        guard.parse_retention(fixture("guard_retention_empty_prefix.jsonl"), "lab", "fulexo-backups")


def test_retention_of_another_bucket_is_refused():
    with pytest.raises(MinioOutputError, match="unexpected line"):
        guard.parse_retention(fixture("guard_retention_attacked.jsonl"), "lab", "fulexo")


def lock_of(lock_modes=("COMPLIANCE", "GOVERNANCE"), now="2026-12-03T03:00:00Z", held=None):
    view = guard.trusted_view(attacked(), us(BEFORE))
    versions = [view[k] for k in sorted(view) if k.startswith(bb(A))]
    return guard.lock_problems(versions, recorded_retention() if held is None else held, lock_modes, us(now) / 1e6)


def test_lock_passes_in_compliance():
    problems, summary = lock_of()
    assert problems == []
    assert summary == {"versions": 5, "modes": {"COMPLIANCE": 5}, "earliest_retain_until": "2026-12-04T02:21:43.063000Z"}


def test_lock_fails_for_a_mode_not_accepted():
    problems, summary = lock_of(lock_modes=["GOVERNANCE"])
    assert [reason for reason, _v in problems] == ["mode COMPLIANCE"] * 5
    assert "5 of 5 version(s) a restore reads are not locked in GOVERNANCE" in guard.lock_detail(problems, 5, ["GOVERNANCE"])


def test_lock_fails_when_retention_has_ended():
    problems, _summary = lock_of(now="2026-12-04T02:21:43.5Z")
    # Only the three written before 02:21:43.5 have run out by then.
    assert [(reason, v["key"]) for reason, v in problems] == [
        ("retention ended", bb(A, "files_metadata.json")),
        ("retention ended", bb(A, "tar_partitions", "part_1.tar.lz4")),
        ("retention ended", bb(A, "tar_partitions", "pg_control.tar.lz4"))]


def test_lock_fails_without_retention():
    problems, summary = lock_of(held={})
    assert len(problems) == 5 and summary["modes"] == {"none": 5} and summary["earliest_retain_until"] is None
    detail = guard.lock_detail(problems, 5, ["COMPLIANCE", "GOVERNANCE"])
    assert detail == ("5 of 5 version(s) a restore reads are not locked in COMPLIANCE/GOVERNANCE until a time to "
                      "come (no retention: 5), first %s version 1f4a07e1-6391-4aa6-8b6f-7ed253be2fd3"
                      % bb(A, "files_metadata.json"))


def test_checksums():
    entries = guard.parse_manifest(fixture("guard_manifest_%s.json" % A), A, P)["objects"]
    hashes = dict(((e["key"], e["version_id"]), (e["sha256"], e["size"])) for e in entries)
    assert guard.checksum_problems(entries, hashes) == []
    part = entries[2]
    hashes[(part["key"], part["version_id"])] = ("f" * 64, part["size"])
    hashes[(entries[0]["key"], entries[0]["version_id"])] = (entries[0]["sha256"], 10)
    assert guard.checksum_problems(entries, hashes) == [
        entries[0]["key"] + ": read 10 bytes, recorded 4000",
        part["key"] + ": sha256 ffffffffffff..., recorded ada93f31ac7b..."]


# --- Choosing a backup -------------------------------------------------------------------------


def test_the_newest_backup_that_passes_is_the_delta_on_its_base():
    check, reads = verification()
    result = check.run()
    assert result["ok"] and result["backup"] == B
    assert result["chain"] == [B, A]
    assert result["backup_finished_at"] == "2026-12-03T02:22:17.216000Z"
    assert result["rejected"] == [
        {"backup": D, "check": "manifest_versions",
         "detail": "1 of 5 recorded object(s): %s: overwritten before then (trusted version "
                   "da000022-6503-40d6-b05b-d0b714117f01, recorded 8923ed5c-3bec-469a-8fb5-fd463798647b)"
                   % bb(D, "tar_partitions", "pg_control.tar.lz4")},
        {"backup": C, "check": "manifest",
         "detail": "no manifest %s before then (action=record did not run for it, or it was deleted)"
                   % key("manifests", C + ".json")}]
    assert result["objects_checked"] == 10 and result["wal_objects_checked"] == 7
    # 10 recorded objects (two sentinels among them), two manifests, seven WAL files.
    assert result["lock"] == {"versions": 19, "modes": {"COMPLIANCE": 19},
                              "earliest_retain_until": "2026-12-04T02:21:43.063000Z"}
    assert result["bytes_hashed"] == 20005893 + 305893
    assert result["untrusted_versions"] == 7
    assert reads.retention_calls == 1 and len(reads.hashed) == 10


def test_an_asked_backup_is_the_only_one_judged():
    check, reads = verification()
    result = check.run(backup=D)
    assert not result["ok"] and result["backup"] is None
    assert [r["backup"] for r in result["rejected"]] == [D]
    assert reads.retention_calls == 0 and reads.hashed == []


def test_an_asked_backup_that_was_not_there_then():
    check, _reads = verification(before=T_A)
    with pytest.raises(guard.GuardError, match="backup %s has no backup stop sentinel in the bucket before "
                                               "2026-12-03T02:22:09.414000Z; backups there then, newest first: %s$"
                                               % (B, A)):
        check.run(backup=B)


def test_no_backup_at_all():
    check, _reads = verification(before=START)
    with pytest.raises(guard.GuardError) as caught:
        check.run(where="fulexo-backups/postgres/fulexo")
    assert str(caught.value) == (
        "no backup in fulexo-backups/postgres/fulexo before 2026-12-03T02:21:41.822000Z: no WAL-G backup stop "
        "sentinel stood there then (44 version(s) under the prefix, 44 of them written at or after that time)")


def test_a_bad_checksum_in_the_base_rejects_the_delta_too():
    hashes = recorded_hashes()
    part = (bb(A, "tar_partitions", "part_1.tar.lz4"), "cdf9d6f2-2083-4e42-9dc9-a4945a7fc1a7")
    hashes[part] = ("e" * 64, 20000000)
    check, _reads = verification(reads=Reads(hashes=hashes))
    result = check.run()
    assert not result["ok"] and result["lock"] is None and result["objects_checked"] == 0
    assert [(r["backup"], r["check"]) for r in result["rejected"]] == [
        (D, "manifest_versions"), (C, "manifest"), (B, "checksum"), (A, "checksum")]
    assert result["rejected"][3]["detail"] == (
        "1 of 5 recorded object(s): %s: sha256 eeeeeeeeeeee..., recorded ada93f31ac7b..." % part[0])
    # A's objects were hashed once, for B, and not read again for A.
    assert result["bytes_hashed"] == 20005893 + 305893


def test_after_the_attack_the_hidden_base_manifest_fails_the_full_and_the_delta_is_gone():
    check, _reads = verification(before=T_ATTACK, now="2026-12-03T03:00:00Z")
    result = check.run()
    assert [(r["backup"], r["check"]) for r in result["rejected"]] == [
        (C, "manifest"), (D, "manifest_versions"), (A, "manifest")]
    assert not result["ok"]


def test_every_backup_fails_the_lock_in_a_bucket_without_object_lock():
    def not_locked():
        return guard.parse_retention(fixture("guard_retention_not_locked.jsonl"), "lab", "plainver")
    check, _reads = verification(reads=Reads(retention_reader=not_locked))
    result = check.run()
    assert [(r["backup"], r["check"]) for r in result["rejected"]] == [
        (D, "manifest_versions"), (C, "manifest"), (B, "lock"), (A, "lock")]
    assert result["rejected"][2]["detail"].startswith(
        "the bucket has no object lock: 19 of 19 version(s) a restore reads are not locked in "
        "COMPLIANCE/GOVERNANCE until a time to come (no retention: 19), first ")


def test_an_unreadable_manifest_rejects_the_backup():
    texts = manifests()
    texts["bf82d803-7427-469c-b762-f5e8ace3c72a"] = texts["39f9c271-a082-4f4a-981e-512492f218c0"]
    check, _reads = verification(reads=Reads(texts=texts))
    result = check.run()
    assert result["backup"] == A
    assert result["rejected"][2] == {
        "backup": B, "check": "manifest",
        "detail": "manifest %s unreadable: it names backup '%s'" % (key("manifests", B + ".json"), D)}


def test_a_hash_that_cannot_be_read_rejects_the_backup():
    class Failing(Reads):
        def hash_version(self, version):
            raise MinioOutputError("cannot read %s version %s: mc cat: Unable to read" % (version["key"],
                                                                                          version["version_id"]))
    check, _reads = verification(reads=Failing())
    result = check.run(backup=A)
    assert result["rejected"][0]["check"] == "checksum" and "Unable to read" in result["rejected"][0]["detail"]


def test_the_failure_message_names_each_backup_newest_first():
    rejected = [{"backup": "base_%024d" % n, "check": "lock", "detail": "d%d" % n} for n in range(7, 0, -1)]
    message = guard.failure_message("fulexo-backups/postgres/fulexo", us(BEFORE), rejected, limit=3)
    assert message == (
        "no backup in fulexo-backups/postgres/fulexo passes the immutability checks before "
        "2026-12-03T02:22:41.594000Z: base_000000000000000000000007: lock: d7; base_000000000000000000000006: "
        "lock: d6; base_000000000000000000000005: lock: d5; and 4 more")


def test_summaries_count_everything_and_name_three():
    assert guard.summarize_problems(["a", "b", "c", "d", "e"], 9, "things") == "5 of 9 things: a, b, c and 2 more"
    assert guard.summarize_problems(["a"], 1, "things") == "1 of 1 things: a"


# --- Rewind ----------------------------------------------------------------------------------------


def test_the_rewind_plan_of_the_attack():
    compared = []

    def same_content(latest, trusted):
        compared.append(latest["key"])
        return False
    plan = guard.rewind_plan(attacked(), us(BEFORE), same_content)
    assert [(e["key"], e["version_id"][:8], e["latest_is_delete_marker"]) for e in plan["to_copy"]] == [
        (bb(A, "tar_partitions", "part_1.tar.lz4"), "cdf9d6f2", False),
        (bb(B + "_backup_stop_sentinel.json"), "0713b566", True),
        (bb(C + "_backup_stop_sentinel.json"), "a72595e8", False),
        (key("manifests", A + ".json"), "2acbc5d2", True),
        (key("wal_005", "000000020000000000000007.lz4"), "49a3dee3", False)]
    assert [e["key"] for e in plan["to_hide"]] == [
        key("README_RESTORE_YOUR_DATA.txt"), key("wal_005", "00000002000000000000000B.lz4")]
    # Only the multipart object of the same size needed its bytes compared.
    assert compared == [bb(A, "tar_partitions", "part_1.tar.lz4")]


def test_nothing_to_rewind_to_the_present():
    assert guard.rewind_plan(attacked(), us(T_ATTACK)) == {"to_copy": [], "to_hide": []}


def test_an_applied_rewind_is_recognised_by_etag_or_bytes():
    versions = rewound()
    assert len(versions) == 51  # the 44, five copies and two delete markers
    multipart = [bb(A, "tar_partitions", "part_1.tar.lz4"), key("manifests", A + ".json")]
    # Single-part copies keep their ETag; multipart ones need their bytes compared.
    plan = guard.rewind_plan(versions, us(BEFORE))
    assert [e["key"] for e in plan["to_copy"]] == multipart and plan["to_hide"] == []
    assert guard.rewind_plan(versions, us(BEFORE), lambda latest, trusted: True) == {"to_copy": [], "to_hide": []}


def test_a_copy_with_the_wrong_size_or_etag_is_not_a_restore():
    trusted = {"is_delete_marker": False, "size": 93, "etag": "7440333f8a0675e3377357a0ae82ff94"}
    assert guard.restored(dict(trusted), trusted)
    assert not guard.restored(dict(trusted, size=94), trusted, lambda a, b: True)
    assert not guard.restored(dict(trusted, etag="0" * 32), trusted, lambda a, b: True)
    assert not guard.restored(dict(trusted, is_delete_marker=True, etag=""), trusted)


def test_the_rewind_is_checked_against_the_listing_after_it():
    plan = guard.rewind_plan(attacked(), us(BEFORE))
    assert guard.rewind_problems(plan, rewound()) == []
    # Checked against the listing before it, as if no mc cp or mc rm had done anything:
    assert guard.rewind_problems(plan, attacked()) == [
        bb(A, "tar_partitions", "part_1.tar.lz4") + ": latest is still version e97bd593-bd54-45c8-99e8-4c41ef438ba7",
        bb(B + "_backup_stop_sentinel.json") + ": still deleted",
        bb(C + "_backup_stop_sentinel.json") + ": latest is still version 12cc4f15-590f-4817-9ff7-a824170f20d4",
        key("manifests", A + ".json") + ": still deleted",
        key("wal_005", "000000020000000000000007.lz4") + ": latest is still version "
        "f396f482-0f21-4417-9f4c-e6ae8b1779d4",
        key("README_RESTORE_YOUR_DATA.txt") + ": still visible (version ca664fbb-6225-4466-b4c7-7860b4a228d4)",
        key("wal_005", "00000002000000000000000B.lz4") + ": still visible (version "
        "c52ae733-8ebb-4064-9c00-d4a5f148f0d6)"]


def test_a_copy_of_the_wrong_size_or_etag_fails_the_rewind_check():
    plan = guard.rewind_plan(attacked(), us(BEFORE))
    after = rewound()
    wal = key("wal_005", "000000020000000000000007.lz4")
    sentinel = bb(C + "_backup_stop_sentinel.json")
    latest = dict((k, group[0]) for k, group in guard.by_key(after).items())
    latest[wal]["etag"] = "0" * 32
    latest[sentinel]["size"] = 150
    assert guard.rewind_problems(plan, after) == [
        sentinel + ": latest has 150 bytes, the trusted version 92",
        wal + ": latest ETag 00000000000000000000000000000000, the trusted version's a22c36e07f9f4f58637d4ceb541d8b68"]


# --- mc output ---------------------------------------------------------------------------------------


def test_mc_pipe_prints_a_progress_bar_before_its_json():
    stdout = json.loads(fixture("guard_pipe_output.json"))["stdout"]
    with pytest.raises(MinioOutputError, match="did not print JSON"):
        parse_json_lines(stdout, "pipe")
    assert parse_json_lines(guard.strip_progress(stdout), "pipe") == [
        {"status": "success", "target": "lab/govbucket/postgres/fulexo/manifests/x.json", "size": 1485}]


def test_times_are_compared_in_microseconds():
    assert guard.before_micros("2026-12-03T03:22:41.594+01:00") == guard.before_micros(BEFORE)
    assert guard.iso_micros(guard.before_micros(BEFORE)) == "2026-12-03T02:22:41.594000Z"
    with pytest.raises(ValueError, match="no time zone"):
        guard.before_micros("2026-12-03 02:22:41")


# --- Manifests the walg role's backup job writes ---------------------------------------------------
#
# guard_manifest_from_walg_job.json was written by roles/walg/files/walg_job.py's
# record_manifest through wal-g v3.0.8 (st ls, st cat, st put) on the same
# loopback server, for base_000000010000000000000004 under postgres/jobfmt;
# then part_1 was overwritten (02:38:57.526) and the module rewound the prefix
# to 02:38:56.319 (the copy: 02:39:02.584). guard_ls_walg_job_rewound.jsonl
# is the listing after that.

JOB_P = "postgres/jobfmt"
E = "base_000000010000000000000004"
JOB_BEFORE = "2026-12-03T02:38:56.319Z"


def job_versions():
    return parse_versions(fixture("guard_ls_walg_job_rewound.jsonl"), JOB_P + "/")


def job_manifest():
    return guard.parse_manifest(fixture("guard_manifest_from_walg_job.json"), E, JOB_P)


def test_the_backup_jobs_manifest_parses_with_full_keys_and_no_versions():
    manifest = job_manifest()
    assert [(o["key"], o["version_id"], o["size"]) for o in manifest["objects"]] == [
        (JOB_P + "/basebackups_005/%s/files_metadata.json" % E, None, 4000),
        (JOB_P + "/basebackups_005/%s/metadata.json" % E, None, 600),
        (JOB_P + "/basebackups_005/%s/tar_partitions/part_1.tar.lz4" % E, None, 300000),
        (JOB_P + "/basebackups_005/%s/tar_partitions/pg_control.tar.lz4" % E, None, 1200),
        (JOB_P + "/basebackups_005/%s_backup_stop_sentinel.json" % E, None, 93)]


def test_only_the_backup_jobs_manifest_may_name_no_version():
    data = json.loads(fixture("guard_manifest_from_walg_job.json"))
    data["prefix"] = JOB_P
    with pytest.raises(guard.ManifestError, match="entry 0 has no valid version_id"):
        guard.parse_manifest(json.dumps(data), E, JOB_P)


def job_reads(before):
    """The recorded digests, for the versions that stood at JOB_BEFORE."""
    view = guard.trusted_view(job_versions(), us(JOB_BEFORE))
    hashes = dict(((o["key"], view[o["key"]]["version_id"]), (o["sha256"], o["size"]))
                  for o in job_manifest()["objects"])
    locked = dict(((v["key"], v["version_id"]), {"mode": "COMPLIANCE", "until": us("2026-12-04T03:00:00Z") / 1e6})
                  for v in job_versions())
    return Reads(retention_reader=lambda: locked, hashes=hashes,
                 texts={"9cc9bb94-1e1d-48d8-84cc-8ff9bec5843d": fixture("guard_manifest_from_walg_job.json")})


def job_verification(before):
    reads = job_reads(before)
    return guard.Verification(job_versions(), JOB_P, us(before), reads.read_manifest, reads.retention,
                              reads.hash_version, now=us("2026-12-03T03:00:00Z") / 1e6)


def test_a_backup_the_job_recorded_passes_on_its_bytes():
    result = job_verification(JOB_BEFORE).run()
    assert result["ok"] and result["backup"] == E and result["objects_checked"] == 5
    # Five objects, the manifest, and WAL 1/4.
    assert result["lock"]["versions"] == 7 and result["wal_objects_checked"] == 1


def test_an_overwrite_the_jobs_manifest_cannot_name_is_caught_by_the_checksum():
    # Named after the overwrite, the overwritten part_1 is trusted: same size, other bytes.
    result = job_verification("2026-12-03T02:39:00Z").run()
    assert not result["ok"]
    assert result["rejected"] == [{
        "backup": E, "check": "checksum",
        "detail": "1 of 5 recorded object(s): %s/basebackups_005/%s/tar_partitions/part_1.tar.lz4: sha256 "
                  "000000000000..., recorded 9d1398b352a4..." % (JOB_P, E)}]


def test_the_rewound_job_prefix_needs_nothing_more():
    # The copy of a single-part object keeps its ETag: recognised without reading it.
    assert guard.rewind_plan(job_versions(), us(JOB_BEFORE)) == {"to_copy": [], "to_hide": []}


def _version(key, version_id, written, ordinal, delete_marker=False, size=10):
    return {"key": key, "version_id": version_id, "last_modified": written, "ordinal": ordinal,
            "is_delete_marker": delete_marker, "size": size, "etag": "e" + version_id}


def test_the_sentinels_of_rejected_backups_are_hidden_never_copied_back():
    prefix = "postgres/fulexo"
    newer = guard.sentinel_key(prefix, "base_000000010000000000000009")
    older = guard.sentinel_key(prefix, "base_000000010000000000000004")
    gone = guard.sentinel_key(prefix, "base_000000010000000000000007")
    versions = [
        # Rejected, then overwritten by the attack: the plan would copy it back.
        _version(newer, "n2", 300.0, 2), _version(newer, "n1", 100.0, 1),
        # Passed: left alone.
        _version(older, "o1", 50.0, 1),
        # Rejected and already hidden by an earlier run.
        _version(gone, "g2", 300.0, 2, delete_marker=True), _version(gone, "g1", 90.0, 1),
    ]
    plan = guard.rewind_plan(versions, guard.micros(200.0))
    assert [e["key"] for e in plan["to_copy"]] == [gone, newer]
    plan = guard.hide_rejected(plan, versions, prefix,
                               ["base_000000010000000000000009", "base_000000010000000000000007"])
    assert plan["to_copy"] == []
    assert [(e["key"], e["latest_version_id"]) for e in plan["to_hide"]] == [(newer, "n2")]
