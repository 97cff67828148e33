"""mc JSON parsing and the cross-site comparison, on output recorded from mc
and MinIO (the pinned lab builds) on three sites: in sync, with the secondary
stopped, and right after it returned."""

import json
import os

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _minio

FIX = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "minio")


def fixture(name):
    with open(os.path.join(FIX, name)) as handle:
        return handle.read()


def versions(name, prefix=""):
    return _minio.parse_versions(fixture(name), prefix)


def ts(text):
    return _minio.parse_timestamp(text)


def test_versions_of_the_recorded_primary():
    parsed = versions("ls_versions_primary.jsonl")
    assert [(v["key"], v["is_delete_marker"]) for v in parsed] == [
        ("config/c1.tgz", True), ("config/c1.tgz", False),
        ("postgres/base_0001.tar", False), ("postgres/base_0001.tar", False)]
    assert parsed[2]["version_id"] == "3f21684d-bf9e-4b2b-8d05-0cbd246cf9c6"
    assert parsed[0]["last_modified"] == pytest.approx(ts("2026-11-26T10:24:01.71Z"))


def test_keys_under_a_prefix_are_made_full():
    # mc prints "wal_0001" for prefix postgres/wa: relative to postgres/.
    parsed = versions("ls_versions_primary_prefix_postgres_wa.jsonl", "postgres/wa")
    assert sorted(v["key"] for v in parsed) == ["postgres/wal_0001", "postgres/wal_0002", "postgres/wal_0003"]


@pytest.mark.parametrize("text,expected", [
    ("2026-11-26T10:24:01Z", 1795688641.0),
    ("2026-11-26T10:24:01.5Z", 1795688641.5),
    ("2026-11-26T10:24:01.642000000Z", 1795688641.642),
])
def test_timestamps_with_any_fraction(text, expected):
    assert _minio.parse_timestamp(text) == pytest.approx(expected)


def test_bad_timestamp_raises():
    with pytest.raises(_minio.MinioOutputError, match="not an mc UTC timestamp"):
        _minio.parse_timestamp("26/11/2026")


def test_unreachable_site_raises_with_mc_cause():
    with pytest.raises(_minio.MinioOutputError, match="Unable to list folder.*connection refused"):
        versions("ls_versions_secondary_unreachable.jsonl")


def test_not_json_raises_with_what_was_printed():
    with pytest.raises(_minio.MinioOutputError, match="did not print JSON.*mc: <ERROR>"):
        _minio.parse_versions("mc: <ERROR> Unable to list folder")


@pytest.mark.parametrize("name,status", [
    ("stat_completed.json", "COMPLETED"),
    ("stat_during_outage.json", "FAILED"),
    ("stat_completed_after_catchup.json", "COMPLETED"),
])
def test_replication_status_from_stat(name, status):
    assert _minio.parse_replication_status(fixture(name)) == status


def test_mc_host_url_encodes_credentials():
    assert (_minio.mc_host_url("https://minio1:9000/", "user@x", "p/w:1%")
            == "https://user%40x:p%2Fw%3A1%25@minio1:9000")
    with pytest.raises(ValueError, match="needs a scheme"):
        _minio.mc_host_url("minio1:9000", "a", "b")


def synced_targets():
    return [
        {"name": "secondary", "delete_markers": True, "versions": versions("ls_versions_secondary.jsonl")},
        {"name": "offsite", "delete_markers": False, "versions": versions("ls_versions_offsite.jsonl")},
    ]


def test_in_sync_with_delete_marker_kept_off_the_offsite():
    source = versions("ls_versions_primary.jsonl")
    result = _minio.compare_sites(source, synced_targets(), now=ts("2026-11-26T10:30:00Z"))
    assert result["in_sync"] and result["ok"]
    secondary, offsite = result["targets"]
    assert (secondary["expected"], secondary["present"]) == (4, 4)
    # The offsite copy never gets the delete marker, by design; not missing.
    assert (offsite["expected"], offsite["present"], offsite["missing_count"]) == (3, 3, 0)
    assert result["oldest_unreplicated_age"] is None


def test_a_delete_marker_missing_where_expected_is_reported():
    source = versions("ls_versions_primary.jsonl")
    targets = synced_targets()
    targets[1]["delete_markers"] = True
    result = _minio.compare_sites(source, targets, now=ts("2026-11-26T10:30:00Z"))
    offsite = result["targets"][1]
    assert offsite["missing_count"] == 1 and offsite["missing"][0]["is_delete_marker"]
    assert not result["ok"]


def outage():
    source = versions("ls_versions_primary_outage.jsonl")
    targets = [
        {"name": "secondary", "delete_markers": True, "versions": None,
         "error": "Unable to list folder. (connection refused)"},
        {"name": "offsite", "delete_markers": False, "versions": versions("ls_versions_offsite_outage.jsonl")},
    ]
    return source, targets


def test_outage_backlog_comes_from_the_source_statuses():
    source, targets = outage()
    candidates = _minio.status_lookup_candidates(source, targets, limit=50)
    # Unreachable target: every non-delete-marker version is a candidate, newest first.
    assert [v["key"] for v in candidates[:3]] == ["postgres/wal_0003", "postgres/wal_0002", "postgres/wal_0001"]
    statuses = dict(((v["key"], v["version_id"]), "COMPLETED") for v in candidates)
    for v in candidates[:3]:
        statuses[(v["key"], v["version_id"])] = _minio.parse_replication_status(fixture("stat_during_outage.json"))
    now = ts("2026-11-26T10:24:10Z")
    result = _minio.compare_sites(source, targets, now=now, grace=60, statuses=statuses)
    secondary, offsite = result["targets"]
    assert result["unreachable_targets"] == ["secondary"]
    assert not secondary["reachable"] and not secondary["within_tolerance"]
    assert secondary["backlog_count"] == 3 and secondary["failed_count"] == 3
    assert secondary["oldest_missing_age"] == pytest.approx(now - ts("2026-11-26T10:24:07.494Z"), abs=0.01)
    # The offsite site kept receiving during the secondary's outage.
    assert offsite["missing_count"] == 0 and offsite["within_tolerance"]
    assert not result["ok"] and not result["in_sync"]
    assert result["missing_total"] == 0 and result["failed_total"] == 3


def test_returned_site_lists_what_it_missed_until_caught_up():
    source = versions("ls_versions_primary_outage.jsonl")
    targets = [{"name": "secondary", "delete_markers": True,
                "versions": versions("ls_versions_secondary_returned.jsonl")}]
    candidates = _minio.status_lookup_candidates(source, targets, limit=50)
    assert sorted(v["key"] for v in candidates) == ["postgres/wal_0001", "postgres/wal_0002", "postgres/wal_0003"]
    # Just back: younger than the grace, still in flight.
    early = _minio.compare_sites(source, targets, now=ts("2026-11-26T10:24:40Z"), grace=60)
    assert early["targets"][0]["missing_count"] == 3
    assert early["targets"][0]["pending_count"] == 3 and early["ok"]
    assert early["oldest_unreplicated_age"] == pytest.approx(40 - 7.494, abs=0.01)
    # Later, and the source says they failed: overdue, beyond a zero tolerance.
    statuses = dict(((v["key"], v["version_id"]), "FAILED") for v in candidates)
    late = _minio.compare_sites(source, targets, now=ts("2026-11-26T10:30:00Z"), grace=60, statuses=statuses)
    view = late["targets"][0]
    assert (view["failed_count"], view["overdue_count"]) == (3, 3)
    assert not view["within_tolerance"] and not late["ok"]
    assert _minio.compare_sites(source, targets, now=ts("2026-11-26T10:30:00Z"), grace=60,
                                statuses=statuses, max_missing=3)["ok"]


def test_copy_gone_although_the_source_replicated_it_is_missing():
    source = versions("ls_versions_primary.jsonl")
    target = versions("ls_versions_secondary.jsonl")[:-1]
    gone = target and versions("ls_versions_secondary.jsonl")[-1]
    statuses = {(gone["key"], gone["version_id"]): "COMPLETED"}
    result = _minio.compare_sites(source, [{"name": "secondary", "delete_markers": True, "versions": target}],
                                  now=ts("2026-11-26T11:00:00Z"), statuses=statuses)
    view = result["targets"][0]
    assert [(m["key"], m["state"]) for m in view["missing"]] == [("postgres/base_0001.tar", "missing")]


def test_versions_only_on_the_target_are_extra_not_missing():
    source = versions("ls_versions_primary.jsonl")[1:]
    result = _minio.compare_sites(source, [{"name": "secondary", "delete_markers": True,
                                            "versions": versions("ls_versions_secondary.jsonl")}],
                                  now=ts("2026-11-26T10:30:00Z"))
    assert result["targets"][0]["extra_count"] == 1 and result["in_sync"]


def test_listed_missing_versions_are_capped_counts_are_not():
    source = versions("ls_versions_primary_outage.jsonl")
    result = _minio.compare_sites(source, [{"name": "s", "delete_markers": True, "versions": []}],
                                  now=ts("2026-11-26T10:30:00Z"), max_listed=2)
    view = result["targets"][0]
    assert view["missing_count"] == 7 and len(view["missing"]) == 2
    assert view["missing"][0]["age"] >= view["missing"][1]["age"]


def _unb64(part):
    import base64
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_the_metrics_token_is_an_hs512_jwt_signed_by_the_users_own_secret():
    import hashlib
    import hmac
    token = _minio.metrics_token("prometheus-reader", "s3cret-key", 4102444800)
    header, claims, signature = token.split(".")
    assert json.loads(_unb64(header)) == {"alg": "HS512", "typ": "JWT"}
    assert json.loads(_unb64(claims)) == {"exp": 4102444800, "iss": "prometheus", "sub": "prometheus-reader"}
    expected = hmac.new(b"s3cret-key", ("%s.%s" % (header, claims)).encode(), hashlib.sha512).digest()
    assert _unb64(signature) == expected
    # Same credentials, same token (idempotent converge); another secret, another token.
    assert _minio.metrics_token("prometheus-reader", "s3cret-key", 4102444800) == token
    assert _minio.metrics_token("prometheus-reader", "rotated", 4102444800) != token


def test_the_metrics_token_needs_both_keys():
    with pytest.raises(ValueError):
        _minio.metrics_token("prometheus-reader", "", 4102444800)
