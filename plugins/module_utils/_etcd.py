# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing of etcdctl (v3 API) JSON output and the cluster summary built from it.

Private to the fulexo.dr collection. Pure functions: no AnsibleModule here, so
the logic is unit-tested on output recorded from the real tool.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


class EtcdOutputError(ValueError):
    """etcdctl printed something that is not the JSON it was asked for."""


def member_id_hex(member_id):
    """etcdctl prints member IDs as decimal uint64 in JSON and as hex elsewhere."""
    return format(int(member_id), "x")


def _load(text, what):
    try:
        return json.loads(text)
    except ValueError as exc:
        snippet = (text or "").strip()[:200]
        raise EtcdOutputError("etcdctl %s did not print JSON (%s): %r" % (what, exc, snippet))


def parse_member_list(text):
    """Members from `etcdctl member list -w json`.

    A member that was added but has not started yet has no name and no
    client URLs; it is kept, with started=False, because it counts towards
    the quorum size.
    """
    data = _load(text, "member list")
    if not isinstance(data, dict) or "members" not in data:
        raise EtcdOutputError("etcdctl member list: no 'members' in its output")
    header = data.get("header", {})
    members = []
    for raw in data["members"]:
        members.append({
            "id": member_id_hex(raw["ID"]),
            "name": raw.get("name", ""),
            "peer_urls": list(raw.get("peerURLs", [])),
            "client_urls": list(raw.get("clientURLs", [])),
            "is_learner": bool(raw.get("isLearner", False)),
            "started": bool(raw.get("name")) and bool(raw.get("clientURLs")),
        })
    cluster_id = header.get("cluster_id")
    return {
        "cluster_id": member_id_hex(cluster_id) if cluster_id is not None else None,
        "members": members,
    }


def parse_endpoint_status(text):
    """Statuses from `etcdctl endpoint status -w json`, keyed by endpoint."""
    data = _load(text, "endpoint status")
    if not isinstance(data, list):
        raise EtcdOutputError("etcdctl endpoint status: expected a JSON list")
    result = {}
    for entry in data:
        status = entry.get("Status", {})
        header = status.get("header", {})
        result[entry.get("Endpoint", "")] = {
            "member_id": member_id_hex(header["member_id"]) if "member_id" in header else None,
            "leader_id": member_id_hex(status["leader"]) if status.get("leader") else None,
            "version": status.get("version"),
            "db_size": status.get("dbSize"),
            "raft_term": status.get("raftTerm"),
            "raft_index": status.get("raftIndex"),
            "raft_applied_index": status.get("raftAppliedIndex"),
            "revision": header.get("revision"),
            "errors": list(status.get("errors", [])),
        }
    return result


def parse_endpoint_health(text):
    """Health from `etcdctl endpoint health -w json`, keyed by endpoint."""
    data = _load(text, "endpoint health")
    if not isinstance(data, list):
        raise EtcdOutputError("etcdctl endpoint health: expected a JSON list")
    return dict(
        (entry.get("endpoint", ""), {"health": bool(entry.get("health")), "error": entry.get("error") or ""})
        for entry in data
    )


def quorum_size(member_count):
    return member_count // 2 + 1


def summarize(member_list, statuses, healths, errors=None):
    """Join member list, per-endpoint status and health into one cluster view.

    statuses/healths are keyed by client URL; errors maps a client URL to
    the reason it could not be asked. A voting member counts as healthy when
    one of its client URLs reported healthy.
    """
    errors = errors or {}
    members = []
    # Leaders as reported, keyed by the reporter's raft term: a member that
    # has not yet heard of a new term still names the old leader.
    leader_ids = {}
    for member in member_list["members"]:
        view = dict(member, healthy=False, is_leader=False, version=None, db_size=None,
                    raft_term=None, raft_index=None, error="")
        for url in member["client_urls"]:
            health = healths.get(url)
            status = statuses.get(url)
            if status:
                view.update(version=status["version"], db_size=status["db_size"],
                            raft_term=status["raft_term"], raft_index=status["raft_index"])
                leader_ids.setdefault(status["raft_term"] or 0, set()).add(status["leader_id"])
            if health and health["health"]:
                view["healthy"] = True
                view["error"] = ""
                break
            view["error"] = (health or {}).get("error") or errors.get(url, "") or view["error"]
        if not member["started"]:
            view["error"] = "member added but never started"
        members.append(view)

    # The newest term decides: its members agree on one leader unless the
    # cluster is split or mid-election (a candidate reports none); neither
    # is hidden behind a guess.
    leader = None
    newest = leader_ids[max(leader_ids)] if leader_ids else set()
    if len(newest) == 1 and None not in newest:
        leader_id = newest.pop()
        for view in members:
            if view["id"] == leader_id:
                view["is_leader"] = True
                leader = view["name"] or view["id"]

    voters = [m for m in members if not m["is_learner"]]
    healthy_voters = [m for m in voters if m["healthy"]]
    quorum = quorum_size(len(voters))
    return {
        "cluster_id": member_list["cluster_id"],
        "members": members,
        "member_count": len(voters),
        "healthy_count": len(healthy_voters),
        "quorum_size": quorum,
        "has_quorum": len(healthy_voters) >= quorum and leader is not None,
        "failure_tolerance": max(len(healthy_voters) - quorum, 0),
        "leader": leader,
        "healthy": len(healthy_voters) == len(voters) and leader is not None,
    }


def election_pending(summary):
    """Enough members are healthy but they name no single leader: an
    election that is likely to settle within a few election timeouts."""
    return summary["healthy_count"] >= summary["quorum_size"] and summary["leader"] is None
