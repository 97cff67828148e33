# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The DR site's position against the primary site, and whether it may be
activated.

Private to the fulexo.dr collection. Pure functions over Patroni's
GET /patroni answers (one member's PostgreSQL position) and the summaries of
GET /cluster (_patroni.summarize_cluster), unit-tested on answers recorded
from Patroni 4.1. The DR site is a Patroni standby cluster: its leader is a
"standby_leader" that follows the primary site by streaming or from the
offsite WAL archive.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fulexo.dr.plugins.module_utils._archive_guard import wal_kind
from ansible_collections.fulexo.dr.plugins.module_utils._walg import MissingTimeZoneError, format_lsn, parse_time

# PostgreSQL's default WAL segment size (initdb --wal-segsize), which the lab and the roles keep.
WAL_SEGMENT_BYTES = 16 * 1024 * 1024

# Patroni's spelling of a writable leader, old and new.
PRIMARY_ROLES = ("primary", "master", "leader")


def parse_timestamp(text):
    """Epoch seconds of a PostgreSQL/ISO timestamp such as Patroni reports
    (`2026-12-06 16:01:02.123456+00:00`); None for null or unreadable text.
    A timestamp without an offset is taken as UTC."""
    if not text or not isinstance(text, str):
        return None
    try:
        try:
            return parse_time(text).timestamp()
        except MissingTimeZoneError:
            return parse_time(text.strip() + "Z").timestamp()
    except ValueError:
        return None


def _lsn(value):
    """Patroni reports positions as integers (bytes); anything else is unknown."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def member_position(status):
    """One member's GET /patroni answer, reduced to what the DR decisions use."""
    xlog = status.get("xlog") or {}
    role = status.get("role", "")
    primary = role in PRIMARY_ROLES
    return {
        "name": (status.get("patroni") or {}).get("name") or status.get("name", ""),
        "scope": (status.get("patroni") or {}).get("scope", ""),
        "role": "primary" if primary else role,
        "state": status.get("state", ""),
        "running": status.get("state") == "running",
        "system_identifier": str(status.get("database_system_identifier") or "") or None,
        "timeline": status.get("timeline"),
        # A primary reports where it writes; a standby where it received and replayed.
        "lsn": _lsn(xlog.get("location")) if primary else _lsn(xlog.get("replayed_location")),
        "received_lsn": None if primary else _lsn(xlog.get("received_location")),
        "replayed_lsn": None if primary else _lsn(xlog.get("replayed_location")),
        "replayed_at": None if primary else parse_timestamp(xlog.get("replayed_timestamp")),
        "replay_paused": bool(xlog.get("paused", False)),
        # "streaming" while connected to its source; absent when it reads the archive.
        "replication_state": status.get("replication_state"),
    }


def site_lag(standby, primary, now):
    """How far the DR site's standby leader is behind.

    lag_bytes: the primary's write position minus what the standby replayed,
    known only while the primary answers. lag_seconds: 0 when nothing is left
    to replay, else the time since the last transaction the standby replayed
    (an upper bound when the primary is idle); None when the standby has
    replayed no transaction since it started.
    """
    replayed = standby.get("replayed_lsn") if standby else None
    primary_lsn = primary.get("lsn") if primary else None
    lag_bytes = None
    receive_lag_bytes = None
    if replayed is not None and primary_lsn is not None:
        lag_bytes = max(0, primary_lsn - replayed)
        if standby.get("received_lsn") is not None:
            receive_lag_bytes = max(0, primary_lsn - standby["received_lsn"])
    if lag_bytes == 0:
        lag_seconds = 0.0
    elif standby and standby.get("replayed_at") is not None:
        lag_seconds = round(max(0.0, now - standby["replayed_at"]), 1)
    else:
        lag_seconds = None
    return {
        "lag_bytes": lag_bytes,
        "receive_lag_bytes": receive_lag_bytes,
        "lag_seconds": lag_seconds,
        "basis": "primary site's write position" if primary_lsn is not None else "last replayed transaction",
    }


def source_of_wal(standby):
    """Where the standby leader gets WAL from now: streaming, archive or none."""
    if not standby or not standby.get("running"):
        return "none"
    if standby.get("replication_state") == "streaming":
        return "streaming"
    return "archive" if standby.get("replayed_lsn") is not None else "none"


def primary_site_state(cluster, leader_status):
    """'writable' when the primary site's leader runs as a primary; 'down'
    when none of it answered (cluster is None); 'no leader' otherwise."""
    if cluster is None:
        return "down"
    if leader_status and leader_status["role"] == "primary" and leader_status["running"]:
        return "writable"
    return "no leader"


def _format_bytes(value):
    if value is None:
        return "unknown"
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size:
            return "%d bytes (%.1f %s)" % (value, float(value) / size, unit)
    return "%d bytes" % value


def describe_lag(lag):
    seconds = "unknown" if lag["lag_seconds"] is None else "%.1f s" % lag["lag_seconds"]
    return "%s and %s behind (by the %s)" % (_format_bytes(lag["lag_bytes"]), seconds, lag["basis"])


def activation_verdict(dr_cluster, standby, primary_state, primary_status, lag, max_lag_bytes,
                       max_lag_seconds, force=False, archive=None):
    """Whether the DR site may be promoted now.

    Returns {"action": "activate"|"noop"|"refuse", "reason": str,
    "forced": bool}. force overrides only what an operator may knowingly
    accept (a primary site that still answers, which the playbook then
    fences, lag beyond the limits, and archived WAL not replayed yet when
    archive, archive_catch_up's answer, is given); it never promotes a DR site that has
    no running standby leader, holds another database, or never received WAL.
    """
    def refuse(reason):
        return {"action": "refuse", "reason": reason, "forced": False}

    leader = dr_cluster.get("leader") if dr_cluster else None
    members = ", ".join("%s (%s, %s)" % (m["name"], m["role"], m["state"] or "unknown")
                        for m in (dr_cluster or {}).get("members", [])) or "none"
    if standby and standby["role"] == "primary" and standby["running"]:
        return {"action": "noop", "reason": "the DR site already runs as a primary (%s)" % standby["name"],
                "forced": False}
    if not leader or not standby or standby["role"] != "standby_leader" or not standby["running"]:
        return refuse("the DR site has no running standby leader (members: %s); nothing to promote" % members)
    ours = standby.get("system_identifier")
    theirs = primary_status.get("system_identifier") if primary_status else None
    if ours and theirs and ours != theirs:
        return refuse("the DR site holds another database (system identifier %s, the primary site's is %s): "
                      "it is not a standby of this cluster" % (ours, theirs))
    replayed_nothing = standby.get("received_lsn") is None and standby.get("replayed_at") is None
    if standby.get("replayed_lsn") is None or replayed_nothing:
        return refuse("the DR site's standby leader %s never received WAL from the primary site or the archive "
                      "(nothing replayed since it started); promoting it would lose everything since its base backup"
                      % standby["name"])
    reasons = []
    if primary_state == "writable":
        reasons.append("the primary site is healthy (%s is a writable primary): activating the DR site would "
                       "make two primaries; use a switchover, or force after deciding to fence it"
                       % primary_status["name"])
    too_far = []
    if lag["lag_bytes"] is not None and lag["lag_bytes"] > max_lag_bytes:
        too_far.append("%s > %s allowed" % (_format_bytes(lag["lag_bytes"]), _format_bytes(max_lag_bytes)))
    if lag["lag_seconds"] is None or lag["lag_seconds"] > max_lag_seconds:
        too_far.append("%s > %d s allowed" % ("unknown seconds" if lag["lag_seconds"] is None
                                              else "%.1f s" % lag["lag_seconds"], max_lag_seconds))
    if too_far:
        reasons.append("the DR site is too far behind: %s (%s)" % ("; ".join(too_far), describe_lag(lag)))
    if archive is not None and not archive["caught_up"]:
        reasons.append("the DR site has not replayed everything the offsite archive holds: %s" % archive["reason"])
    if reasons and not force:
        return refuse("; ".join(reasons))
    reason = "promote %s, %s" % (standby["name"], describe_lag(lag))
    if reasons:
        reason += "; forced past: " + "; ".join(reasons)
    return {"action": "activate", "reason": reason, "forced": bool(reasons)}


def segment_start(segment, segment_bytes=WAL_SEGMENT_BYTES):
    """(timeline, first LSN) of a 24-hex WAL segment name."""
    segments_per_log = 0x100000000 // segment_bytes
    timeline, log, number = int(segment[:8], 16), int(segment[8:16], 16), int(segment[16:24], 16)
    return timeline, (log * segments_per_log + number) * segment_bytes


def archive_catch_up(archived_names, standby, segment_bytes=WAL_SEGMENT_BYTES):
    """Has the standby replayed into the newest segment the archive holds?

    With the primary site gone the offsite archive is all there is: the DR
    site must not be promoted before it has read the newest archived
    segment, or what the archive still holds is lost. archived_names are the
    file names of WAL-G's wal_005 folder (compressed names accepted;
    .history and .partial files ignored). Returns newest_segment, its
    timeline and end LSN, bytes_behind (at most: the newest segment's end
    minus the replayed position) and caught_up; newest_segment is None when
    the archive holds no segment.
    """
    segments = sorted(kind[1] for kind in (wal_kind(name) for name in archived_names)
                      if kind and kind[0] == "segment")
    replayed = standby.get("replayed_lsn") if standby else None
    if not segments:
        return {"newest_segment": None, "newest_timeline": None, "archive_end_lsn": None,
                "replayed_lsn": format_lsn(replayed), "bytes_behind": None, "caught_up": False,
                "reason": "the archive holds no WAL segment"}
    # The furthest position wins, whatever its timeline: recovery follows the
    # timeline switches the archive's history files describe.
    newest = max(segments, key=lambda name: (segment_start(name, segment_bytes)[1], name[:8]))
    timeline, start = segment_start(newest, segment_bytes)
    end = start + segment_bytes
    if replayed is None:
        behind, caught_up, reason = None, False, "the standby reports no replayed position"
    else:
        behind = max(0, end - replayed)
        caught_up = replayed >= start
        reason = ("replayed into the newest archived segment %s" % newest if caught_up else
                  "%d bytes of archived WAL not replayed yet (up to segment %s)" % (behind, newest))
    return {"newest_segment": newest, "newest_timeline": timeline, "archive_end_lsn": format_lsn(end),
            "replayed_lsn": format_lsn(replayed), "bytes_behind": behind, "caught_up": caught_up,
            "reason": reason}


# What dr_failback.yml does next, by the leaders' roles "DR site/primary site".
FAILBACK_PHASES = {
    "primary/down": ("rebuild", "rebuild the primary site as a standby of the DR site, then switch back"),
    "primary/standby_leader": ("switch", "switch back once the primary site has caught up"),
    "standby_leader/standby_leader": ("promote", "promote the primary site once it has replayed all the DR site wrote"),
    "standby_leader/primary": ("done", "nothing to switch (the DR site follows the primary site); names and "
                                       "configuration checked"),
}


def _leader_role(status):
    """The role of a site's leader from a dr_site_status result: 'down' when
    no member answered (a fenced site), 'no leader' when none leads."""
    if not isinstance(status, dict) or "standby" not in status:
        return "down"
    standby = status.get("standby")
    if not standby:
        return "no leader"
    role = standby.get("role") or "no leader"
    return "primary" if role in PRIMARY_ROLES else role


def failback_phase(dr_status, old_status):
    """Where dr_failback.yml goes on from, given dr_site_status read on the
    DR site and on the old primary site: phase (rebuild, switch, promote,
    done or refuse), both roles, what comes next, and for a refusal one line
    that says why and what to do."""
    roles = "%s/%s" % (_leader_role(dr_status), _leader_role(old_status))
    phase, next_step = FAILBACK_PHASES.get(roles, ("refuse", "refuse"))
    reason = None
    if phase == "refuse":
        dr_role, old_role = roles.split("/")
        if roles == "primary/primary":
            reason = ("both sites take writes: stop the one that must not (dr_activate.yml fences the primary "
                      "site) before anything else")
        elif dr_role in ("down", "no leader"):
            reason = ("the DR site is %s (%s): fail-back starts from an activated DR site"
                      % (dr_role, (dr_status or {}).get("msg") or "no leader"))
        else:
            reason = ("the DR site is %s and the primary site %s: fail-back starts from an activated DR site "
                      "whose old primary site is fenced (Patroni stopped) or follows it" % (dr_role, old_role))
    return {"phase": phase, "roles": roles, "dr_role": roles.split("/")[0], "old_role": roles.split("/")[1],
            "next": next_step, "reason": reason}


def _ack_window(times, after=None, before=None):
    """The acknowledgement times strictly after AFTER and before BEFORE (either may be None)."""
    return [at for at in times if (after is None or at > after) and (before is None or at < before)]


def outage_figures(summary, primary_address, dr_address, activation_started):
    """What a client writing through the service name saw of a DR site
    activation and the fail-back after it, from the write probe's summary
    (dr_write_probe.py --resolve: ack_times, acks_by_address, lost_times).

    rto_seconds: from the start of the activation to the first write the DR
    site acknowledged through the name; unavailable_seconds: the clients'
    gap around the activation (last write acknowledged before it to the
    first on the DR site); failback_unavailable_seconds: the gap around the
    fail-back (last write on the DR site to the next one acknowledged);
    acknowledged (before, on the DR site, after), lost (None when the probe
    did not verify) and problems: one line each for what did not happen
    (a verdict must be able to say FAIL)."""
    if not isinstance(summary, dict) or "ack_times" not in summary:
        raise ValueError("the write probe left no summary with acknowledgement times: %r" % (summary,))
    by_address = summary.get("acks_by_address")
    if by_address is None:
        raise ValueError("the write probe did not follow a DNS name (--resolve): it cannot tell the sites apart")
    times = sorted(summary["ack_times"])
    started = float(activation_started)
    on_dr = by_address.get(dr_address)
    on_primary = by_address.get(primary_address)
    lost = summary.get("lost_times")
    out = {
        "rto_seconds": None, "unavailable_seconds": None, "failback_unavailable_seconds": None,
        "acknowledged": {"before": len(_ack_window(times, before=started)),
                         "dr_site": on_dr["count"] if on_dr else 0, "after": 0},
        "lost": None if lost is None else len(lost),
        "lost_span_seconds": summary.get("lost_span_seconds"),
        "problems": [],
    }
    if not out["acknowledged"]["before"]:
        out["problems"].append("no write was acknowledged through the name before the activation")
    if not on_dr:
        out["problems"].append("no write was acknowledged by the DR site (%s) through the name" % dr_address)
        return out
    # Times are rounded to the millisecond: a neighbour of the DR site's first/last write is at least that far.
    first_dr, last_dr = on_dr["first_at"], on_dr["last_at"]
    before = _ack_window(times, before=first_dr - 0.0005)
    out["rto_seconds"] = round(max(0.0, first_dr - started), 3)
    if before:
        out["unavailable_seconds"] = round(first_dr - before[-1], 3)
    after = _ack_window(times, after=last_dr + 0.0005)
    out["acknowledged"]["after"] = len(after)
    if not after or not on_primary or on_primary["last_at"] <= last_dr:
        out["problems"].append("no write was acknowledged by the primary site (%s) after the fail-back"
                               % primary_address)
    else:
        out["failback_unavailable_seconds"] = round(after[0] - last_dr, 3)
    if lost is None:
        out["problems"].append("the probe did not check its acknowledged writes (--verify)")
    elif lost:
        out["problems"].append("%d acknowledged writes are missing after the fail-back" % len(lost))
    return out
