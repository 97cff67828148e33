# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Triage of a corruption incident (the plan's section 4, scenario 1) from
what fulexo.dr.pg_integrity_check found on each member of a Patroni cluster.

Two kinds, repaired differently:
- physical: a member's own files are bad (checksum failures, amcheck
  problems, or constraint violations the leader does not have). Replication
  ships WAL, not pages, so the other members are not touched; the member is
  rebuilt from a healthy leader.
- logical: the leader's rows break a constraint. The leader's data is what
  every replica replays, so no member is better; rows are put back from a
  copy restored to the last good point in time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

PHYSICAL_CHECKS = ("checksums", "amcheck")
LOGICAL_CHECKS = ("constraints",)
# Replica states Patroni reports for a member that follows the leader.
FOLLOWING_STATES = ("streaming", "running")


class TriageInputError(ValueError):
    """Input the triage cannot judge (a malformed result)."""


def failed_checks(result):
    """The failed checks of one pg_integrity_check result, as
    (database, check, message) tuples."""
    out = []
    for check in result.get("checks") or []:
        if not isinstance(check, dict) or "check" not in check:
            raise TriageInputError("a check without a name: %r" % (check,))
        if check.get("status") == "failed":
            out.append((check.get("database"), check["check"], check.get("message", "")))
    return out


def describe(failure):
    database, check, message = failure
    return "%s%s: %s" % ((database + ": ") if database else "", check, message)


def _tables_of(result):
    """Tables a logical repair must compare, per database: the tables of the
    violated constraints, and for a foreign key the table it references
    (where the rows went missing)."""
    tables = {}
    for check in result.get("checks") or []:
        if check.get("status") != "failed" or check.get("check") not in LOGICAL_CHECKS:
            continue
        database = check.get("database")
        for violation in (check.get("details") or {}).get("violations") or []:
            names = tables.setdefault(database, [])
            for name in (violation.get("references"), violation.get("table")):
                if name and name not in names:
                    names.append(name)
    return tables


def _not_run(result):
    """Why a member's checks did not run, or ''."""
    if result is None:
        return "it did not answer"
    if result.get("skipped"):
        return "its checks were skipped"
    if result.get("failed") and not result.get("checks"):
        return result.get("msg") or "its checks failed to run"
    return ""


def triage(leader, members, results):
    """Judge a cluster from its members' integrity results.

    leader: the leader's name (None when there is none).
    members: Patroni's members ({name, role, state, lag}), from
    fulexo.dr.patroni_cluster_info.
    results: name -> the pg_integrity_check result of that member (None
    when the member could not be checked).

    Returns a dict: clean, physical (members to rebuild), logical (failures
    on the leader that every replica replays), leader_corrupted, candidate
    (the healthy replica to lead when the leader is corrupted), tables (per
    database, what a logical repair compares), findings (per member), and
    refusal ('' or the one line why nothing may be changed).
    """
    if not isinstance(results, dict):
        raise TriageInputError("results must map member names to pg_integrity_check results")
    names = [m.get("name") for m in members or []]
    if leader is not None and leader not in names:
        raise TriageInputError("the leader %s is not among the members %s" % (leader, ", ".join(map(str, names))))

    findings = {}
    not_run = {}
    for name in names:
        reason = _not_run(results.get(name))
        if reason:
            not_run[name] = reason
            continue
        findings[name] = failed_checks(results[name])

    out = {"clean": False, "physical": [], "logical": [], "leader_corrupted": False, "candidate": None,
           "tables": {}, "not_checked": not_run,
           "findings": dict((name, [describe(f) for f in fs]) for name, fs in findings.items()),
           "refusal": ""}

    if leader is None:
        out["refusal"] = "the cluster has no leader: nothing to rebuild from (restore it from the archive)"
        return out
    if not_run:
        out["refusal"] = ("the checks did not run on %s; nothing was changed (start the member, or take it out"
                          " of the cluster, and run again)"
                          % "; ".join("%s (%s)" % (n, r) for n, r in sorted(not_run.items())))
        return out

    leader_logical = [f for f in findings[leader] if f[1] in LOGICAL_CHECKS]
    logical_keys = set((f[0], f[1]) for f in leader_logical)
    for name in names:
        # A replica's constraint violations that the leader shares are the
        # leader's rows, replayed; any other failure is the member's own.
        local = [f for f in findings[name]
                 if f[1] not in LOGICAL_CHECKS or (name != leader and (f[0], f[1]) not in logical_keys)]
        if local:
            out["physical"].append(name)
    out["logical"] = [describe(f) for f in leader_logical]
    out["tables"] = _tables_of(results[leader])
    out["leader_corrupted"] = leader in out["physical"]
    out["clean"] = not out["physical"] and not out["logical"]

    healthy = [m for m in members if m.get("name") != leader and m.get("name") not in out["physical"]
               and m.get("state") in FOLLOWING_STATES]
    if out["leader_corrupted"]:
        if not healthy:
            out["refusal"] = ("the leader %s is corrupted (%s) and no replica passed the checks and follows it:"
                              " restore the cluster from the archive (fulexo.dr.restore,"
                              " restore_destination=in_place)"
                              % (leader, "; ".join(out["findings"][leader])))
            return out
        out["candidate"] = sorted(healthy, key=lambda m: (m.get("lag") is None, m.get("lag") or 0, m["name"]))[0]["name"]
    return out
