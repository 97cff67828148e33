"""The DR site's lag and the activation verdict (module_utils/_dr_site.py)."""

import calendar
import copy
import json
import os

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _dr_site
from ansible_collections.fulexo.dr.plugins.module_utils._patroni import summarize_cluster

NOW = 1796572900.0  # 2026-12-06 16:01:40 UTC
SYSID = "7445012345678901234"

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "dr_site")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return json.load(handle)


# GET /patroni of the primary site's leader and of the DR site's standby leader.
PRIMARY = fixture("patroni_primary.json")
STANDBY_LEADER = fixture("patroni_standby_leader.json")
DR_CLUSTER = summarize_cluster({"scope": "fulexo", "members": [
    {"name": "dr-pg1", "role": "standby_leader", "state": "streaming", "api_url": "http://dr1:8008/patroni",
     "timeline": 4},
    {"name": "dr-pg2", "role": "replica", "state": "streaming", "api_url": "http://dr2:8008/patroni",
     "timeline": 4, "lag": 0}]})


def standby(**xlog):
    status = copy.deepcopy(STANDBY_LEADER)
    status["xlog"].update(xlog)
    return status


def verdict(standby_status=STANDBY_LEADER, primary_status=PRIMARY, primary_state="writable", force=False,
            max_bytes=1 << 30, max_seconds=900, cluster=None):
    cluster = cluster or DR_CLUSTER
    position = _dr_site.member_position(standby_status) if standby_status else None
    primary = _dr_site.member_position(primary_status) if primary_status else None
    lag = _dr_site.site_lag(position, primary if primary_state == "writable" else None, NOW)
    return _dr_site.activation_verdict(cluster, position, primary_state, primary, lag, max_bytes, max_seconds, force)


@pytest.mark.parametrize("text, expected", [
    ("2026-12-06 16:01:32.500000+00:00", 1796572892.5),
    ("2026-12-06T17:01:32+01:00", 1796572892.0),
    ("2026-12-06 11:01:32.5-05", 1796572892.5),
    ("2026-12-06T16:01:32Z", 1796572892.0),
    ("2026-12-06 16:01:32", 1796572892.0),
    (None, None), ("", None), ("yesterday", None), (12, None),
])
def test_timestamps_as_patroni_and_postgresql_print_them(text, expected):
    assert _dr_site.parse_timestamp(text) == expected


def test_positions_of_a_primary_and_a_standby_leader():
    primary = _dr_site.member_position(PRIMARY)
    assert (primary["role"], primary["lsn"], primary["received_lsn"], primary["name"]) == ("primary", 84017152, None, "pg1")
    # Patroni < 3 spelled a writable leader "master".
    assert _dr_site.member_position(dict(PRIMARY, role="master"))["role"] == "primary"
    follower = _dr_site.member_position(STANDBY_LEADER)
    assert follower["role"] == "standby_leader" and follower["running"]
    assert (follower["received_lsn"], follower["replayed_lsn"], follower["replayed_at"]) == \
        (84017152, 84017152, 1796572892.5)
    assert follower["system_identifier"] == SYSID


def test_lag_in_bytes_against_the_primary_and_seconds_since_the_last_replayed_transaction():
    follower = _dr_site.member_position(standby(replayed_location=84017152 - 3 * 1048576,
                                                received_location=84017152 - 1048576))
    lag = _dr_site.site_lag(follower, _dr_site.member_position(PRIMARY), NOW)
    assert lag["lag_bytes"] == 3 * 1048576 and lag["receive_lag_bytes"] == 1048576
    assert lag["lag_seconds"] == 7.5 and lag["basis"] == "primary site's write position"
    # Nothing left to replay: no lag, however old the last transaction.
    caught_up = _dr_site.site_lag(_dr_site.member_position(standby(replayed_timestamp="2026-12-06 10:00:00+00")),
                                  _dr_site.member_position(PRIMARY), NOW)
    assert (caught_up["lag_bytes"], caught_up["lag_seconds"]) == (0, 0.0)
    # The primary gone: bytes unknown, seconds since the last replayed transaction.
    gone = _dr_site.site_lag(follower, None, NOW)
    assert gone["lag_bytes"] is None and gone["lag_seconds"] == 7.5 and gone["basis"] == "last replayed transaction"


def test_where_the_standby_gets_wal():
    assert _dr_site.source_of_wal(_dr_site.member_position(STANDBY_LEADER)) == "streaming"
    from_archive = dict(STANDBY_LEADER, replication_state=None)
    assert _dr_site.source_of_wal(_dr_site.member_position(from_archive)) == "archive"
    assert _dr_site.source_of_wal(_dr_site.member_position(dict(STANDBY_LEADER, state="stopped"))) == "none"
    assert _dr_site.source_of_wal(None) == "none"


def test_the_primary_site_state():
    assert _dr_site.primary_site_state(None, None) == "down"
    writable = _dr_site.member_position(PRIMARY)
    assert _dr_site.primary_site_state({"members": []}, writable) == "writable"
    assert _dr_site.primary_site_state({"members": []}, dict(writable, running=False)) == "no leader"
    assert _dr_site.primary_site_state({"members": []}, None) == "no leader"


def test_a_healthy_primary_site_is_refused_unless_forced():
    refused = verdict()
    assert refused["action"] == "refuse"
    assert "primary site is healthy (pg1 is a writable primary)" in refused["reason"]
    forced = verdict(force=True)
    assert forced["action"] == "activate" and forced["forced"]
    assert "forced past: the primary site is healthy" in forced["reason"]


def test_the_primary_site_down_and_the_dr_site_close_behind_is_activated():
    activated = verdict(primary_status=None, primary_state="down")
    assert activated == {"action": "activate", "forced": False,
                         "reason": "promote dr-pg1, unknown and 7.5 s behind (by the last replayed transaction)"}


def test_too_far_behind_says_how_far_in_bytes_and_seconds():
    far = standby(replayed_location=84017152 - 300 * 1048576, replayed_timestamp="2026-12-06 15:31:40+00:00")
    refused = verdict(far, primary_state="no leader", primary_status=dict(PRIMARY, state="stopped"))
    assert refused["action"] == "refuse"
    assert "too far behind: 1800.0 s > 900 s allowed" in refused["reason"]
    refused = verdict(far, max_bytes=100 * 1048576, force=False, primary_state="writable")
    assert "314572800 bytes (300.0 MiB) > 104857600 bytes (100.0 MiB) allowed" in refused["reason"]
    assert "1800.0 s > 900 s allowed" in refused["reason"]
    assert verdict(far, max_bytes=100 * 1048576, force=True)["action"] == "activate"


def test_a_dr_site_that_replayed_nothing_is_too_far_behind_by_unknown_seconds():
    silent = standby(replayed_timestamp=None)
    refused = verdict(silent, primary_status=None, primary_state="down")
    assert refused["action"] == "refuse" and "unknown seconds > 900 s allowed" in refused["reason"]


@pytest.mark.parametrize("force", [False, True])
def test_what_force_never_overrides(force):
    never_received = standby(received_location=None, replayed_timestamp=None)
    refused = verdict(never_received, primary_status=None, primary_state="down", force=force)
    assert refused["action"] == "refuse" and "never received WAL" in refused["reason"]

    other_database = dict(STANDBY_LEADER, database_system_identifier="7000000000000000001")
    refused = verdict(other_database, force=force)
    assert refused["action"] == "refuse" and "holds another database (system identifier 7000000000000000001" in \
        refused["reason"]

    stopped = dict(STANDBY_LEADER, state="stopped")
    refused = verdict(stopped, primary_status=None, primary_state="down", force=force)
    assert refused["action"] == "refuse" and "no running standby leader" in refused["reason"]
    assert "dr-pg1 (standby_leader, streaming), dr-pg2 (replica, streaming)" in refused["reason"]

    no_leader = summarize_cluster({"scope": "fulexo", "members": [
        {"name": "dr-pg1", "role": "replica", "state": "starting"}]})
    refused = verdict(None, primary_status=None, primary_state="down", force=force, cluster=no_leader)
    assert refused["action"] == "refuse" and "members: dr-pg1 (replica, starting)" in refused["reason"]


def test_an_already_activated_dr_site_is_left_alone():
    activated = dict(PRIMARY, patroni={"scope": "fulexo", "name": "dr-pg1"})
    assert verdict(activated, primary_status=None, primary_state="down")["action"] == "noop"


def test_answers_recorded_from_the_labs_patroni_4_1_5_read_as_expected():
    # GET /patroni of the lab's leader and of a streaming replica, same moment
    # (2026-12-06, during a drill). A standby leader answers as a replica does,
    # with role "standby_leader".
    primary = _dr_site.member_position(fixture("recorded_lab_primary.json"))
    replica = _dr_site.member_position(fixture("recorded_lab_replica.json"))
    assert (primary["role"], primary["name"], primary["lsn"], primary["timeline"]) == ("primary", "pg1", 587202560, 8)
    assert (replica["role"], replica["name"], replica["replication_state"]) == ("replica", "pg2", "streaming")
    assert replica["received_lsn"] == replica["replayed_lsn"] == 587202560
    assert replica["replayed_at"] == pytest.approx(calendar.timegm((2026, 12, 6, 16, 24, 49, 0, 0, 0)) + 0.74858)
    assert primary["system_identifier"] == replica["system_identifier"] == "7716222069664420112"
    lag = _dr_site.site_lag(replica, primary, replica["replayed_at"] + 600)
    assert (lag["lag_bytes"], lag["receive_lag_bytes"], lag["lag_seconds"]) == (0, 0, 0.0)


# The recorded replica replayed up to 0/23000000: the first byte of segment 0x23.
RECORDED_REPLICA = "recorded_lab_replica.json"


def replica():
    return _dr_site.member_position(fixture(RECORDED_REPLICA))


def test_segment_positions_for_16_and_64_mib_segments():
    assert _dr_site.segment_start("000000080000000000000023") == (8, 0x23000000)
    assert _dr_site.segment_start("0000000A00000001000000FF") == (10, 0x1FF000000)
    assert _dr_site.segment_start("00000001000000010000003F", 64 << 20) == (1, (64 + 63) * (64 << 20))


def test_replayed_into_the_newest_archived_segment_is_caught_up():
    names = ["000000080000000000000022.lz4", "000000080000000000000023.lz4", "00000008.history.lz4",
             "000000070000000000000021.00000028.backup.lz4", "000000080000000000000024.partial"]
    state = _dr_site.archive_catch_up(names, replica())
    assert state["caught_up"] and state["newest_segment"] == "000000080000000000000023"
    assert (state["newest_timeline"], state["archive_end_lsn"], state["replayed_lsn"]) == (8, "0/24000000", "0/23000000")
    assert state["bytes_behind"] == 16 << 20
    assert state["reason"] == "replayed into the newest archived segment 000000080000000000000023"


def test_archived_wal_not_replayed_yet_is_counted_whatever_its_timeline():
    # The primary failed over to timeline 9 and archived two more segments before the site was lost.
    names = ["000000080000000000000023", "000000090000000000000023", "000000090000000000000024", "00000009.history"]
    state = _dr_site.archive_catch_up(names, replica())
    assert not state["caught_up"]
    assert (state["newest_segment"], state["newest_timeline"], state["bytes_behind"]) == \
        ("000000090000000000000024", 9, 32 << 20)
    assert state["reason"] == "33554432 bytes of archived WAL not replayed yet (up to segment 000000090000000000000024)"


def test_an_empty_archive_or_a_standby_without_position_is_not_caught_up():
    empty = _dr_site.archive_catch_up(["00000008.history"], replica())
    assert not empty["caught_up"] and empty["reason"] == "the archive holds no WAL segment"
    blind = _dr_site.archive_catch_up(["000000080000000000000023"], None)
    assert not blind["caught_up"] and blind["reason"] == "the standby reports no replayed position"


def test_archived_wal_not_replayed_refuses_activation_unless_forced():
    archive = {"caught_up": False, "reason": "33554432 bytes of archived WAL not replayed yet (up to segment X)"}
    position = _dr_site.member_position(STANDBY_LEADER)
    lag = _dr_site.site_lag(position, None, NOW)
    refused = _dr_site.activation_verdict(DR_CLUSTER, position, "down", None, lag, 1 << 30, 900, False, archive)
    assert refused["action"] == "refuse"
    assert refused["reason"] == ("the DR site has not replayed everything the offsite archive holds: "
                                 "33554432 bytes of archived WAL not replayed yet (up to segment X)")
    forced = _dr_site.activation_verdict(DR_CLUSTER, position, "down", None, lag, 1 << 30, 900, True, archive)
    assert forced["action"] == "activate" and forced["forced"]
    caught_up = dict(archive, caught_up=True)
    assert _dr_site.activation_verdict(DR_CLUSTER, position, "down", None, lag, 1 << 30, 900, False,
                                       caught_up)["action"] == "activate"


def test_a_real_standby_cluster_recorded_from_playbooks_dr_site_yml():
    # A second, smaller lab (pg1-3, lb1, dr-pg1) after dr_site.yml: dr-pg1 is
    # the standby leader of fulexo-dr, streaming through lb1's read-write port;
    # its /patroni was read just before the primary's.
    dr_cluster = summarize_cluster(fixture("recorded_devlab_dr_cluster.json"))
    assert (dr_cluster["leader"], dr_cluster["leader_running"], dr_cluster["healthy"]) == ("dr-pg1", True, True)
    follower = _dr_site.member_position(fixture("recorded_devlab_standby_leader.json"))
    primary = _dr_site.member_position(fixture("recorded_devlab_primary.json"))
    assert (follower["role"], follower["replication_state"], follower["scope"]) == \
        ("standby_leader", "streaming", "fulexo-dr")
    assert _dr_site.source_of_wal(follower) == "streaming"
    lag = _dr_site.site_lag(follower, primary, follower["replayed_at"] + 5)
    assert lag["lag_bytes"] == 100663392 - 100663296
    verdict = _dr_site.activation_verdict(dr_cluster, follower, "writable", primary, lag, 1 << 30, 900)
    assert verdict["action"] == "refuse" and "the primary site is healthy (pg1 is a writable primary)" in \
        verdict["reason"]
    # The other lab's primary holds another database: refused even when forced.
    other = _dr_site.member_position(fixture("recorded_lab_primary.json"))
    refused = _dr_site.activation_verdict(dr_cluster, follower, "writable", other, lag, 1 << 30, 900, force=True)
    assert refused["action"] == "refuse" and "holds another database (system identifier 7716234685355204879, " \
        "the primary site's is 7716222069664420112)" in refused["reason"]


# dr_failback.yml's next step, from dr_site_status read on both sites.
def _status(role):
    """dr_site_status's result for a site whose leader has ROLE (None: no
    leader), or a failed read (role 'down': no member answered)."""
    if role == "down":
        return {"failed": True, "msg": "no member of the DR site answered GET /cluster"}
    return {"scope": "x", "standby": None if role is None else {"name": "m1", "role": role}}


@pytest.mark.parametrize("dr_role, old_role, phase", [
    ("primary", "down", "rebuild"),
    ("primary", "standby_leader", "switch"),
    ("standby_leader", "standby_leader", "promote"),
    ("standby_leader", "primary", "done"),
    ("master", "down", "rebuild"),  # Patroni's old spelling of a writable leader
])
def test_failback_goes_on_from_where_the_sites_stand(dr_role, old_role, phase):
    decision = _dr_site.failback_phase(_status(dr_role), _status(old_role))
    assert decision["phase"] == phase and decision["reason"] is None


def test_failback_refuses_two_writable_sites():
    decision = _dr_site.failback_phase(_status("primary"), _status("primary"))
    assert decision["phase"] == "refuse" and decision["roles"] == "primary/primary"
    assert "both sites take writes" in decision["reason"]


@pytest.mark.parametrize("dr_role", ["down", None])
def test_failback_refuses_a_dr_site_that_does_not_lead(dr_role):
    decision = _dr_site.failback_phase(_status(dr_role), _status("down"))
    assert decision["phase"] == "refuse"
    assert decision["dr_role"] == ("down" if dr_role == "down" else "no leader")
    assert "starts from an activated DR site" in decision["reason"]


def test_failback_refuses_an_old_site_that_runs_without_a_leader():
    decision = _dr_site.failback_phase(_status("primary"), _status(None))
    assert decision["phase"] == "refuse" and decision["old_role"] == "no leader"
    assert "fenced (Patroni stopped) or follows it" in decision["reason"]


def test_failback_refuses_a_dr_site_that_follows_a_site_without_a_writable_leader():
    decision = _dr_site.failback_phase(_status("standby_leader"), _status("down"))
    assert decision["phase"] == "refuse" and decision["roles"] == "standby_leader/down"


# --- The drill's data-centre outage, as a client of the service name saw it ---

PRIMARY_LB, DR_LB = "10.213.64.10", "10.213.64.20"


def probe_summary(before, on_dr, after, lost=()):
    """A probe summary: acknowledgements (epoch seconds) through the primary site, the DR_LB site, the primary site."""
    by_address = {}
    for address, times in ((PRIMARY_LB, before + after), (DR_LB, on_dr)):
        if times:
            by_address[address] = {"count": len(times), "first_at": min(times), "last_at": max(times)}
    return {"ack_times": sorted(before + on_dr + after), "acks_by_address": by_address,
            "lost_times": list(lost), "lost_span_seconds": (max(lost) - min(lost)) if lost else 0.0}


def test_outage_figures_measure_the_activation_and_the_fail_back():
    summary = probe_summary([100.0, 100.5, 101.0], [131.5, 132.0, 150.0], [156.2, 157.0])
    figures = _dr_site.outage_figures(summary, PRIMARY_LB, DR_LB, 101.2)
    assert figures["rto_seconds"] == 30.3
    assert figures["unavailable_seconds"] == 30.5
    assert figures["failback_unavailable_seconds"] == 6.2
    assert figures["acknowledged"] == {"before": 3, "dr_site": 3, "after": 2}
    assert figures["lost"] == 0
    assert figures["problems"] == []


def test_outage_figures_fail_a_dr_site_that_never_acknowledged():
    figures = _dr_site.outage_figures(probe_summary([100.0], [], [160.0]), PRIMARY_LB, DR_LB, 101.0)
    assert figures["rto_seconds"] is None
    assert figures["problems"] == ["no write was acknowledged by the DR site (%s) through the name" % DR_LB]


def test_outage_figures_fail_a_fail_back_the_clients_never_saw():
    figures = _dr_site.outage_figures(probe_summary([100.0], [130.0, 131.0], []), PRIMARY_LB, DR_LB, 101.0)
    assert figures["failback_unavailable_seconds"] is None
    assert figures["problems"] == ["no write was acknowledged by the primary site (%s) after the fail-back" % PRIMARY_LB]


def test_outage_figures_count_lost_and_unverified_writes():
    lost = _dr_site.outage_figures(probe_summary([100.0], [130.0], [150.0], lost=[100.0]), PRIMARY_LB, DR_LB, 101.0)
    assert lost["lost"] == 1 and lost["problems"] == ["1 acknowledged writes are missing after the fail-back"]
    unverified = probe_summary([100.0], [130.0], [150.0])
    unverified["lost_times"] = None
    figures = _dr_site.outage_figures(unverified, PRIMARY_LB, DR_LB, 101.0)
    assert figures["lost"] is None
    assert figures["problems"] == ["the probe did not check its acknowledged writes (--verify)"]


def test_outage_figures_need_a_probe_that_followed_the_name():
    with pytest.raises(ValueError, match="--resolve"):
        _dr_site.outage_figures({"ack_times": [1.0], "acks_by_address": None}, PRIMARY_LB, DR_LB, 0.0)
    with pytest.raises(ValueError, match="no summary"):
        _dr_site.outage_figures(None, PRIMARY_LB, DR_LB, 0.0)
