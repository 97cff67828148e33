"""WAL-G output parsing, PITR window, restore planning and retention.

The fixture walg/walg_backup_list_detail.json is built to follow the wal-g
v3.0.8 structs (postgres.BackupDetail = internal.BackupTime +
ExtendedMetadataDto, LSNs as numbers, RFC 3339 times) so it can hold shapes a
lab seldom makes (permanent backups, delta chains, two timelines).
walg/backup_list_detail_v3.0.8_recorded.json is the real binary's output in
the walg molecule scenario (3 fulls and a delta), and is parsed as well.
"""

import copy
import datetime
import json
import os

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _walg

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "walg")
NOW = datetime.datetime(2026, 11, 26, 16, 30, tzinfo=datetime.timezone.utc)
UTC = datetime.timezone.utc

FULL_OLD = "base_000000010000000100000028"
PERMANENT = "base_00000001000000010000009A"
FULL_19 = "base_0000000100000002000000C1"
DELTA_22 = "base_000000010000000300000012_D_0000000100000002000000C1"
DELTA_24 = "base_000000010000000300000057_D_0000000100000002000000C1"
FULL_26 = "base_00000002000000030000009C"
DELTA_26 = "base_0000000200000003000000B3_D_00000002000000030000009C"


def raw_list():
    with open(os.path.join(FIX, "walg_backup_list_detail.json")) as handle:
        return handle.read()


@pytest.fixture
def backups():
    return _walg.parse_backup_list(raw_list())


def at(text):
    return _walg.parse_time(text)


# --- synthetic backup lists, in wal-g's own output shape ----------------------------

def stamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry(segment, finish, base=None, permanent=False, duration=300):
    """One backup-list --detail --json item; segment: an int that becomes the
    WAL file name on timeline 1, finish: datetime."""
    wal = "00000001%016X" % segment
    name = "base_" + wal + ("_D_00000001%016X" % base if base is not None else "")
    start = finish - datetime.timedelta(seconds=duration)
    return {
        "backup_name": name, "time": stamp(finish), "wal_file_name": wal, "storage_name": "default",
        "start_time": stamp(start), "finish_time": stamp(finish), "date_fmt": "%Y-%m-%dT%H:%M:%S.%fZ",
        "hostname": "pg1", "data_dir": "/var/lib/postgresql/15/fulexo", "pg_version": 150010,
        "start_lsn": segment << 24 | 0x28, "finish_lsn": (segment + 1) << 24 | 0x60, "is_permanent": permanent,
        "system_identifier": 7441938215602215733, "uncompressed_size": 10, "compressed_size": 5,
    }


def listing(*entries):
    return _walg.parse_backup_list(json.dumps(list(entries)) + "\n")


def days_ago(days, seconds=0):
    return NOW - datetime.timedelta(days=days, seconds=seconds)


# --- parsing ---------------------------------------------------------------------------


def test_recorded_output_of_the_real_binary():
    with open(os.path.join(FIX, "backup_list_detail_v3.0.8_recorded.json")) as handle:
        recorded = _walg.parse_backup_list(handle.read())
    assert [b["is_full"] for b in recorded] == [True, True, True, False]
    delta = recorded[-1]
    assert delta["name"] == "base_000000010000000000000011_D_00000001000000000000000E"
    assert delta["delta_base"] == "base_00000001000000000000000E"
    assert delta["start_lsn"] == "0/11000028"
    assert recorded[0]["finish_time"] == "2026-11-26T16:27:50.242466Z"
    assert recorded[0]["compressed_size"] == 5831926
    window = _walg.pitr_window(recorded)
    assert window["earliest"] == recorded[0]["finish_time"]
    plan = _walg.plan_restore("latest", recorded, at("2026-11-26T17:00:00Z"))
    assert plan["backup_name"] == delta["name"]


def test_fixture_parses_oldest_first_with_kinds(backups):
    assert [b["name"] for b in backups] == [FULL_OLD, PERMANENT, FULL_19, DELTA_22, DELTA_24, FULL_26, DELTA_26]
    assert [b["is_delta"] for b in backups] == [False, False, False, True, True, False, True]
    assert all(b["is_full"] != b["is_delta"] for b in backups)
    assert [b["name"] for b in backups if b["is_permanent"]] == [PERMANENT]
    assert all(b["restorable"] for b in backups)


def test_fixture_fields(backups):
    newest = backups[-1]
    assert newest["start_time"] == "2026-11-26T14:00:00.500000Z"
    assert newest["finish_time"] == "2026-11-26T14:00:48.700000Z"
    assert newest["modified_time"] == "2026-11-26T14:00:49.000000Z"
    assert newest["duration_seconds"] == 48.2
    assert (newest["start_lsn"], newest["finish_lsn"]) == ("3/B3000028", "3/B30006F0")
    assert newest["wal_file_name"] == "0000000200000003000000B3" and newest["timeline"] == 2
    assert newest["delta_base_wal_file"] == "00000002000000030000009C"
    assert newest["delta_base"] == FULL_26 and newest["delta_full"] == FULL_26
    assert (newest["compressed_size"], newest["uncompressed_size"]) == (24117902, 2121269248)
    assert newest["pg_version"] == 150010 and newest["hostname"] == "mol-pg2"
    assert newest["system_identifier"] == 7441938215602215733
    assert newest["user_data"] is None
    assert backups[1]["user_data"] == {"reason": "before the 15.10 minor upgrade", "ticket": "OPS-1423"}
    full = backups[0]
    assert full["delta_base"] is None and full["delta_base_wal_file"] is None and full["timeline"] == 1


def test_nanoseconds_are_truncated_to_microseconds(backups):
    assert backups[5]["finish_time"] == "2026-11-26T02:05:02.990341Z"


def test_deltas_of_the_same_full(backups):
    assert backups[3]["delta_base"] == FULL_19 and backups[4]["delta_base"] == FULL_19
    assert _walg.delta_chain(backups[4], backups) == [FULL_19]
    assert _walg.delta_chain(backups[0], backups) == []


def test_entries_are_sorted_by_start_time_whatever_the_order():
    data = json.loads(raw_list())
    parsed = _walg.parse_backup_list(json.dumps(list(reversed(data))))
    assert [b["name"] for b in parsed][0] == FULL_OLD and parsed[-1]["name"] == DELTA_26


def test_log_lines_around_the_json_are_skipped():
    text = "INFO: 2026/11/26 16:30:00.000001 List backups from storages: [default]\n" + raw_list()
    assert len(_walg.parse_backup_list(text)) == 7


@pytest.mark.parametrize("stdout,stderr", [
    ("[]\n", "INFO: 2026/11/26 16:30:00.000001 List backups from storages: [default]\n"),
    ("null\n", ""),
    ("", "INFO: 2026/11/26 16:30:00.000001 No backups found\n"),
])
def test_empty_storage_is_an_empty_list(stdout, stderr):
    assert _walg.parse_backup_list(stdout, stderr) == []


def test_nothing_printed_without_the_no_backups_line_is_an_error():
    with pytest.raises(_walg.WalgOutputError, match="printed nothing"):
        _walg.parse_backup_list("", "INFO: 2026/11/26 16:30:00.000001 List backups from storages: [default]")


def test_not_json_is_an_error_with_what_was_printed():
    with pytest.raises(_walg.WalgOutputError, match="did not print JSON.*backup_name modified"):
        _walg.parse_backup_list("backup_name modified wal_file_name storage_name\n")


def test_object_instead_of_list_is_an_error():
    with pytest.raises(_walg.WalgOutputError, match="expected a JSON list"):
        _walg.parse_backup_list('{"backup_name": "base_000000010000000000000002"}')


def test_missing_metadata_falls_back_to_the_sentinel_time():
    item = entry(2, days_ago(1))
    item.update(start_time="0001-01-01T00:00:00Z", finish_time="0001-01-01T00:00:00Z", start_lsn=0, finish_lsn=0)
    parsed = listing(item)[0]
    assert parsed["start_time"] == parsed["finish_time"] == parsed["modified_time"]
    assert parsed["start_lsn"] is None and parsed["duration_seconds"] == 0.0


def test_delta_of_a_delta_links_to_its_full():
    parsed = listing(entry(0x10, days_ago(3)), entry(0x20, days_ago(2), base=0x10), entry(0x30, days_ago(1), base=0x20))
    assert parsed[2]["delta_base"] == parsed[1]["name"]
    assert parsed[2]["delta_full"] == parsed[0]["name"]
    assert _walg.delta_chain(parsed[2], parsed) == [parsed[1]["name"], parsed[0]["name"]]


def test_delta_without_its_base_is_not_restorable():
    parsed = listing(entry(0x10, days_ago(3)), entry(0x30, days_ago(1), base=0x20))
    assert parsed[1]["delta_base"] is None and parsed[1]["delta_full"] is None
    assert parsed[1]["delta_base_wal_file"] == "000000010000000000000020"
    assert not parsed[1]["restorable"]


# --- times and LSNs --------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("2026-11-26T16:20:31.123456Z", datetime.datetime(2026, 11, 26, 16, 20, 31, 123456, UTC)),
    ("2026-11-26T16:20:31.123456789Z", datetime.datetime(2026, 11, 26, 16, 20, 31, 123456, UTC)),
    ("2026-11-26T16:20:31Z", datetime.datetime(2026, 11, 26, 16, 20, 31, tzinfo=UTC)),
    ("2026-11-26 17:20:31+01:00", datetime.datetime(2026, 11, 26, 16, 20, 31, tzinfo=UTC)),
    ("2026-11-26T11:20:31-0500", datetime.datetime(2026, 11, 26, 16, 20, 31, tzinfo=UTC)),
    ("2026-11-26 16:20:31.5+00", datetime.datetime(2026, 11, 26, 16, 20, 31, 500000, UTC)),
    ("2026-11-26T16:20+00:00", datetime.datetime(2026, 11, 26, 16, 20, tzinfo=UTC)),
])
def test_parse_time(text, expected):
    assert _walg.parse_time(text) == expected


def test_parse_time_refuses_no_zone_impossible_dates_and_garbage():
    with pytest.raises(_walg.MissingTimeZoneError):
        _walg.parse_time("2026-11-26T16:20:31")
    with pytest.raises(ValueError, match="day is out of range"):
        _walg.parse_time("2026-02-30T10:00:00Z")
    with pytest.raises(ValueError, match="impossible offset"):
        _walg.parse_time("2026-11-26T10:00:00+25:00")
    with pytest.raises(ValueError, match="not an ISO 8601"):
        _walg.parse_time("yesterday")


def test_iso_is_utc_with_z():
    assert _walg.iso(datetime.datetime(2026, 11, 26, 17, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))) \
        == "2026-11-26T16:00:00.000000Z"
    assert _walg.iso(None) is None


def test_lsn_round_trip():
    assert _walg.parse_lsn("3/B374D848") == 0x3B374D848
    assert _walg.format_lsn(0x3B374D848) == "3/B374D848"
    assert _walg.format_lsn("0/0000abcd") == "0/ABCD"
    with pytest.raises(ValueError):
        _walg.parse_lsn("3/B374D8481")


# --- wal-g errors ------------------------------------------------------------------------


def test_error_line_joins_the_aws_continuation_lines():
    stderr = (
        "INFO: 2026/11/26 16:30:00.000001 List backups from storages: [default]\n"
        "ERROR: 2026/11/26 16:30:00.412871 Get backups from folder: AccessDenied: Access Denied\n"
        "\tstatus code: 403, request id: 187B3F1C2A, host id: dd9025bab4ad464b\n")
    assert _walg.walg_error_line(stderr, 1) == (
        "Get backups from folder: AccessDenied: Access Denied status code: 403, request id: 187B3F1C2A, "
        "host id: dd9025bab4ad464b")


def test_error_line_is_the_last_error_and_never_the_devel_settings_dump():
    stderr = (
        "--- COMPILED ENVIRONMENT VARS ---\nAWS_SECRET_ACCESS_KEY=hunter2\n"
        "ERROR: 2026/11/26 16:30:00.1 first\n"
        "ERROR: 2026/11/26 16:30:01.2 Get backups from folder: RequestError: send request failed\n"
        "caused by: Get \"https://minio-primary:9000/fulexo-backups\": dial tcp 10.0.0.5:9000: connect: "
        "connection refused\n")
    line = _walg.walg_error_line(stderr, 1)
    assert line.startswith("Get backups from folder: RequestError: send request failed caused by: Get")
    assert line.endswith("connection refused")
    assert "hunter2" not in line and "first" not in line


def test_error_line_without_error_prefix_and_without_output():
    assert _walg.walg_error_line("open /etc/wal-g/walg.json: permission denied\n", 1) == \
        "open /etc/wal-g/walg.json: permission denied"
    assert _walg.walg_error_line("", 2) == "exit code 2"
    assert _walg.walg_error_line("panic: runtime error: index out of range\n\ngoroutine 1 [running]:\nmain.main()\n") \
        == "panic: runtime error: index out of range"
    assert len(_walg.walg_error_line("ERROR: " + "x" * 1000)) == 400


def test_wal_verify_json():
    out = ('{"integrity":{"status":"OK","details":[{"timeline_id":2,"start_segment":"00000002000000030000009C",'
           '"end_segment":"0000000200000003000000C4","segments_count":41,"status":"FOUND"}]},'
           '"timeline":{"status":"WARNING","details":{"current_timeline_id":2,"highest_storage_timeline_id":3}}}')
    checks = _walg.parse_wal_verify(out)
    assert checks["integrity"]["ok"] and checks["integrity"]["details"][0]["segments_count"] == 41
    assert checks["timeline"] == {"status": "WARNING", "ok": False,
                                  "details": {"current_timeline_id": 2, "highest_storage_timeline_id": 3}}


# --- archiver, window, RPO ---------------------------------------------------------------


class FakeCursor(object):
    def __init__(self, row):
        self.row, self.sql = row, None

    def execute(self, sql):
        self.sql = sql

    def fetchone(self):
        return self.row


def archiver_row(in_recovery=False, last=NOW - datetime.timedelta(seconds=47.6), failed=None, timeout="60"):
    return (in_recovery, 1204, "0000000200000003000000C4", last, 0 if failed is None else 3,
            None if failed is None else "0000000200000003000000C5", failed,
            datetime.datetime(2026, 10, 1, 8, tzinfo=UTC), "on", timeout)


def test_archiver_on_a_primary():
    cursor = FakeCursor(archiver_row())
    archiver = _walg.read_archiver(cursor, NOW)
    assert "pg_stat_archiver" in cursor.sql and "archive_timeout" in cursor.sql
    assert archiver["available"] and archiver["checked"] and not archiver["in_recovery"]
    assert archiver["last_archived_time"] == "2026-11-26T16:29:12.400000Z"
    assert archiver["last_archived_age_seconds"] == 47.6
    assert archiver["archive_timeout_seconds"] == 60 and archiver["archive_mode"] == "on"
    assert archiver["failing"] is False and archiver["stats_reset"] == "2026-10-01T08:00:00.000000Z"


def test_archiver_failing_since_its_last_success():
    failed = NOW - datetime.timedelta(seconds=5)
    archiver = _walg.read_archiver(FakeCursor(archiver_row(failed=failed)), NOW)
    assert archiver["failing"] is True and archiver["failed_count"] == 3
    recovered = _walg.read_archiver(
        FakeCursor(archiver_row(failed=NOW - datetime.timedelta(hours=1))), NOW)
    assert recovered["failing"] is False


def test_archiver_that_never_archived():
    archiver = _walg.read_archiver(FakeCursor(archiver_row(last=None)), NOW)
    assert archiver["last_archived_time"] is None and archiver["failing"] is False
    assert _walg.rpo_seconds(archiver, NOW) is None


def test_archiver_in_recovery_is_reported_not_judged(backups):
    archiver = _walg.read_archiver(FakeCursor(archiver_row(in_recovery=True)), NOW)
    assert archiver["in_recovery"] is True and archiver["failing"] is None
    summary = _walg.summarize(backups, NOW, archiver)
    assert summary["rpo_seconds"] is None
    assert summary["pitr_window"]["latest_source"] == "backup"


def test_summary_without_archiver(backups):
    summary = _walg.summarize(backups, NOW)
    assert (summary["count"], summary["full_count"], summary["delta_count"]) == (7, 4, 3)
    assert summary["last_backup"]["name"] == DELTA_26
    assert summary["last_backup_age_seconds"] == 8951.3
    assert summary["pitr_window"] == {"earliest": "2026-10-24T02:03:41.100212Z",
                                      "latest": "2026-11-26T14:00:48.700000Z", "latest_source": "backup"}
    assert summary["rpo_seconds"] is None
    assert summary["archiver"]["checked"] is False


def test_summary_with_archiver_extends_the_window_and_gives_the_rpo(backups):
    archiver = _walg.read_archiver(FakeCursor(archiver_row()), NOW)
    summary = _walg.summarize(backups, NOW, archiver)
    assert summary["pitr_window"]["latest"] == "2026-11-26T16:29:12.400000Z"
    assert summary["pitr_window"]["latest_source"] == "archiver"
    assert summary["rpo_seconds"] == 47.6


def test_archiver_older_than_the_newest_backup_does_not_shrink_the_window(backups):
    archiver = _walg.read_archiver(FakeCursor(archiver_row(last=at("2026-11-26T10:00:00Z"))), NOW)
    window = _walg.pitr_window(backups, archiver)
    assert window["latest"] == "2026-11-26T14:00:48.700000Z" and window["latest_source"] == "backup"


def test_unavailable_archiver_gives_no_rpo(backups):
    archiver = _walg.empty_archiver(checked=True, error="connection refused")
    assert _walg.summarize(backups, NOW, archiver)["rpo_seconds"] is None


def test_empty_summary():
    summary = _walg.summarize([], NOW)
    assert summary["count"] == 0 and summary["last_backup"] is None
    assert summary["last_backup_age_seconds"] is None
    assert summary["pitr_window"] == {"earliest": None, "latest": None, "latest_source": None}


def test_window_starts_at_the_oldest_restorable_backup():
    parsed = listing(entry(0x08, days_ago(5), base=0x04), entry(0x10, days_ago(3)))
    assert _walg.pitr_window(parsed)["earliest"] == _walg.iso(days_ago(3))


# --- restore planning --------------------------------------------------------------------


def test_latest_is_the_newest_backup_without_a_target(backups):
    plan = _walg.plan_restore("LATEST", backups, NOW)
    assert plan["kind"] == "latest" and plan["backup_name"] == DELTA_26
    assert plan["recovery_target"] == {"recovery_target_action": "promote", "recovery_target_timeline": "latest"}


def test_time_uses_the_newest_backup_finished_before_it(backups):
    plan = _walg.plan_restore("2026-11-25T12:00:00+00:00", backups, NOW)
    assert plan["kind"] == "time" and plan["backup_name"] == DELTA_24
    assert plan["target"] == "2026-11-25T12:00:00.000000Z"
    assert plan["recovery_target"] == {"recovery_target_time": "2026-11-25 12:00:00+00:00",
                                       "recovery_target_action": "promote", "recovery_target_timeline": "latest"}


def test_time_between_start_and_finish_of_a_backup_uses_the_one_before(backups):
    # DELTA_26 ran 14:00:00.5 - 14:00:48.7: it cannot restore to 14:00:30.
    plan = _walg.plan_restore("2026-11-26 15:00:30+01:00", backups, NOW)
    assert plan["backup_name"] == FULL_26


def test_time_exactly_at_a_finish_uses_that_backup(backups):
    assert _walg.plan_restore("2026-11-26T14:00:48.7Z", backups, NOW)["backup_name"] == DELTA_26
    assert _walg.plan_restore("2026-10-24T02:03:41.100212Z", backups, NOW)["backup_name"] == FULL_OLD


def test_time_after_the_newest_backup_within_the_archive(backups):
    plan = _walg.plan_restore("2026-11-26T16:00:00Z", backups, NOW, latest_recoverable="2026-11-26T16:29:12Z")
    assert plan["backup_name"] == DELTA_26


def test_backup_name_restores_to_its_end(backups):
    plan = _walg.plan_restore(DELTA_22, backups, NOW)
    assert plan["kind"] == "backup" and plan["backup_name"] == DELTA_22
    assert plan["recovery_target"]["recovery_target"] == "immediate"


def test_lsn_uses_the_newest_backup_ending_before_it(backups):
    plan = _walg.plan_restore("3/a0000000", backups, NOW)
    assert plan["kind"] == "lsn" and plan["backup_name"] == FULL_26 and plan["target"] == "3/A0000000"
    assert plan["recovery_target"]["recovery_target_lsn"] == "3/A0000000"
    assert _walg.plan_restore("3/9E0003C8", backups, NOW)["backup_name"] == FULL_26


@pytest.mark.parametrize("target,message", [
    ("2026-11-26T16:31:00Z", r"^restore target time 2026-11-26T16:31:00.000000Z is in the future \(now "
                             r"2026-11-26T16:30:00.000000Z\)$"),
    ("2026-10-24T02:03:00Z", r"^restore target time 2026-10-24T02:03:00.000000Z is before the PITR window, which "
                             r"starts at 2026-10-24T02:03:41.100212Z \(end of the oldest backup " + FULL_OLD + r"\)$"),
    ("2026-11-26T14:03:00", r"^restore target time '2026-11-26T14:03:00' has no time zone: add Z or an offset, "
                            r"e.g. 2026-11-26T14:03:00\+00:00$"),
    ("2026-11-26 14:03:00", r"has no time zone.*e.g. 2026-11-26T14:03:00\+00:00$"),
    ("2026-02-30T10:00:00Z", r"^restore target time '2026-02-30T10:00:00Z' is not a valid time: day is out of range "
                             r"for month$"),
    ("2026-11-26T25:00:00Z", r"is not a valid time: hour must be in 0..23$"),
    ("2026-11-26", r"is not a valid time: not ISO 8601$"),
    ("base_0000000200000003000000B4", r"^backup base_0000000200000003000000B4 is not in storage; nearest: "
                                      + DELTA_26 + ", " + FULL_26 + ", " + DELTA_24 + "$"),
    ("3/XYZ", r"^restore target '3/XYZ' is not a valid LSN: expected two hex numbers of up to 8 digits, "
              r"like 3/B374D848$"),
    ("1/2A000137", r"^restore target LSN 1/2A000137 is before the end of the oldest backup " + FULL_OLD
                   + r" \(finish LSN 1/2A000138\)$"),
    ("yesterday", r"^restore target 'yesterday' is not one of: latest"),
    ("  ", r"^restore target is empty"),
])
def test_refusals_are_one_line(backups, target, message):
    with pytest.raises(_walg.RestoreTargetError, match=message) as info:
        _walg.plan_restore(target, backups, NOW)
    assert "\n" not in str(info.value)


def test_time_after_the_last_archived_wal_is_refused(backups):
    with pytest.raises(_walg.RestoreTargetError, match=r"after the last archived WAL \(2026-11-26T16:20:00.000000Z\)"
                       r".*use latest$"):
        _walg.plan_restore("2026-11-26T16:25:00Z", backups, NOW, latest_recoverable="2026-11-26T16:20:00Z")


def test_empty_archive_refuses_every_target():
    for target in ("latest", "2026-11-26T14:03:00Z", FULL_26, "3/0"):
        with pytest.raises(_walg.RestoreTargetError, match="^no backups in storage: there is nothing to restore"):
            _walg.plan_restore(target, [], NOW)


def test_delta_without_its_base_is_refused_and_skipped():
    parsed = listing(entry(0x10, days_ago(3)), entry(0x30, days_ago(1), base=0x20))
    with pytest.raises(_walg.RestoreTargetError, match="is a delta whose base 000000010000000000000020 is not"):
        _walg.plan_restore(parsed[1]["name"], parsed, NOW)
    assert _walg.plan_restore("latest", parsed, NOW)["backup_name"] == parsed[0]["name"]
    only_broken = listing(entry(0x30, days_ago(1), base=0x20))
    with pytest.raises(_walg.RestoreTargetError, match="no restorable backup"):
        _walg.plan_restore("latest", only_broken, NOW)


def test_nearest_names_by_spelling_for_other_names():
    assert _walg.nearest_names("base_latest", ["base_000000010000000000000002", "other"], 1) == \
        ["base_000000010000000000000002"]


def test_syntax_is_checked_without_backups():
    assert _walg.parse_restore_target(" latest ") == ("latest", None)
    assert _walg.parse_restore_target("0/16B3748") == ("lsn", 0x16B3748)
    kind, value = _walg.parse_restore_target("2026-11-26 14:03:00Z")
    assert kind == "time" and value == datetime.datetime(2026, 11, 26, 14, 3, tzinfo=UTC)


# --- retention ---------------------------------------------------------------------------


def test_retention_on_the_fixture(backups):
    plan = _walg.retention_plan(backups, NOW)
    assert plan["delete"] == [FULL_OLD]
    assert plan["keep"] == [PERMANENT, FULL_19, DELTA_22, DELTA_24, FULL_26, DELTA_26]
    assert plan["reasons"][PERMANENT] == "permanent"
    assert plan["reasons"][FULL_26] == "newest full"
    assert plan["reasons"][FULL_19] == "oldest recoverable point for the 7-day PITR window"
    assert plan["reasons"][FULL_OLD] == "full finished 33.6 days ago, older than 30 days"
    assert set(plan["reasons"]) == set(b["name"] for b in backups)


def test_retention_later_drops_the_old_deltas_and_their_full(backups):
    later = NOW + datetime.timedelta(days=6)
    plan = _walg.retention_plan(backups, later, full_days=10)
    # Six days on, the newest backup that finished before later - 7 days is DELTA_24: it anchors the
    # window and holds its full, which the 10-day rule alone would delete.
    assert plan["reasons"][DELTA_24].startswith("oldest recoverable point")
    assert plan["reasons"][FULL_19] == "base of kept delta %s" % DELTA_24
    assert DELTA_22 in plan["delete"] and FULL_OLD in plan["delete"]
    assert PERMANENT in plan["keep"]


@pytest.mark.parametrize("extra_seconds,deleted", [(0, False), (1, True)])
def test_delta_age_boundary(extra_seconds, deleted):
    parsed = listing(entry(0x10, days_ago(20)), entry(0x20, days_ago(7, extra_seconds), base=0x10),
                     entry(0x40, days_ago(1)))
    # pitr_days=0: the newest backup anchors the window, so the delta is judged by its age alone.
    plan = _walg.retention_plan(parsed, NOW, full_days=30, delta_days=7, pitr_days=0)
    assert (parsed[1]["name"] in plan["delete"]) is deleted


def test_the_delta_just_past_the_window_is_its_anchor():
    parsed = listing(entry(0x10, days_ago(20)), entry(0x20, days_ago(7, 1), base=0x10), entry(0x40, days_ago(1)))
    plan = _walg.retention_plan(parsed, NOW, full_days=30, delta_days=7, pitr_days=7)
    assert plan["delete"] == []
    assert plan["reasons"][parsed[1]["name"]] == "oldest recoverable point for the 7-day PITR window"


@pytest.mark.parametrize("extra_seconds,deleted", [(0, False), (1, True)])
def test_full_age_boundary(extra_seconds, deleted):
    parsed = listing(entry(0x10, days_ago(30, extra_seconds)), entry(0x20, days_ago(10)), entry(0x30, days_ago(1)))
    plan = _walg.retention_plan(parsed, NOW, full_days=30, delta_days=7, pitr_days=7)
    assert (parsed[0]["name"] in plan["delete"]) is deleted
    assert parsed[1]["name"] in plan["keep"] and parsed[2]["name"] in plan["keep"]


def test_permanent_backups_are_never_deleted():
    parsed = listing(entry(0x10, days_ago(400), permanent=True), entry(0x18, days_ago(300), base=0x10, permanent=True),
                     entry(0x20, days_ago(100)), entry(0x30, days_ago(1)))
    plan = _walg.retention_plan(parsed, NOW, full_days=30, delta_days=7, pitr_days=0)
    assert plan["delete"] == [parsed[2]["name"]]
    assert plan["reasons"][parsed[0]["name"]] == "permanent"


def test_the_only_full_is_kept_however_old():
    parsed = listing(entry(0x10, days_ago(90)))
    plan = _walg.retention_plan(parsed, NOW)
    assert plan == {"delete": [], "keep": [parsed[0]["name"]], "reasons": {parsed[0]["name"]: "newest full"}}


def test_newest_full_is_kept_even_when_older_than_full_days():
    parsed = listing(entry(0x10, days_ago(60)), entry(0x20, days_ago(45)), entry(0x28, days_ago(40), base=0x20))
    plan = _walg.retention_plan(parsed, NOW, full_days=30, delta_days=7, pitr_days=7)
    assert plan["reasons"][parsed[1]["name"]] == "newest full"
    # The delta is the newest backup before now - 7 days: it anchors the window.
    assert plan["keep"] == [parsed[1]["name"], parsed[2]["name"]]
    assert plan["delete"] == [parsed[0]["name"]]


def test_a_kept_delta_keeps_its_whole_chain():
    parsed = listing(entry(0x10, days_ago(40)), entry(0x20, days_ago(35), base=0x10),
                     entry(0x30, days_ago(3), base=0x20), entry(0x40, days_ago(1)))
    full, middle, young, newest = [b["name"] for b in parsed]
    plan = _walg.retention_plan(parsed, NOW, full_days=30, delta_days=7, pitr_days=0)
    assert plan["delete"] == []
    assert plan["reasons"][young] == "delta within 7 days"
    assert plan["reasons"][middle] == plan["reasons"][full] == "base of kept delta %s" % young
    assert plan["reasons"][newest] == "newest full"


def test_a_deleted_delta_does_not_hold_its_chain():
    parsed = listing(entry(0x10, days_ago(40)), entry(0x20, days_ago(35), base=0x10), entry(0x40, days_ago(1)))
    plan = _walg.retention_plan(parsed, NOW, full_days=30, delta_days=7, pitr_days=0)
    assert plan["delete"] == [parsed[0]["name"], parsed[1]["name"]]


def test_old_deltas_go_while_their_full_stays_for_newer_ones():
    parsed = listing(entry(0x10, days_ago(12)), entry(0x20, days_ago(11), base=0x10),
                     entry(0x30, days_ago(9), base=0x10), entry(0x40, days_ago(2), base=0x10))
    plan = _walg.retention_plan(parsed, NOW, full_days=30, delta_days=7, pitr_days=7)
    # 0x30 (9 days) is the newest backup before now - 7 days: the window's anchor.
    assert plan["delete"] == [parsed[1]["name"]]
    assert plan["reasons"][parsed[2]["name"]].startswith("oldest recoverable point")


def test_pitr_window_keeps_an_old_backup_that_age_rules_would_delete():
    parsed = listing(entry(0x10, days_ago(40)), entry(0x20, days_ago(3)))
    plan = _walg.retention_plan(parsed, NOW, full_days=30, delta_days=7, pitr_days=35)
    assert plan["delete"] == []
    assert plan["reasons"][parsed[0]["name"]] == "oldest recoverable point for the 35-day PITR window"


def test_archive_younger_than_the_window_keeps_its_oldest_backup():
    parsed = listing(entry(0x10, days_ago(5)), entry(0x18, days_ago(4), base=0x10), entry(0x20, days_ago(3)),
                     entry(0x28, days_ago(2), base=0x20))
    plan = _walg.retention_plan(parsed, NOW, full_days=1, delta_days=1, pitr_days=7)
    assert parsed[0]["name"] in plan["keep"]
    assert plan["reasons"][parsed[0]["name"]].startswith("oldest recoverable point; the archive does not reach")
    assert plan["delete"] == [parsed[1]["name"], parsed[3]["name"]]


def test_zero_days_deletes_all_but_what_must_stay():
    parsed = listing(entry(0x10, days_ago(2)), entry(0x18, days_ago(1), base=0x10), entry(0x20, days_ago(0.5)))
    plan = _walg.retention_plan(parsed, NOW, full_days=0, delta_days=0, pitr_days=0)
    assert plan["keep"] == [parsed[2]["name"]]
    assert plan["delete"] == [parsed[0]["name"], parsed[1]["name"]]


def test_retention_of_nothing():
    assert _walg.retention_plan([], NOW) == {"delete": [], "keep": [], "reasons": {}}


def test_retention_refuses_negative_days(backups):
    with pytest.raises(ValueError, match="delta_days must be 0 or more"):
        _walg.retention_plan(backups, NOW, delta_days=-1)


def test_retention_does_not_modify_its_input(backups):
    before = copy.deepcopy(backups)
    _walg.retention_plan(backups, NOW.isoformat())
    assert backups == before
