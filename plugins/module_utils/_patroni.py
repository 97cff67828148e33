# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Patroni REST API client and the decisions built on its answers.

Private to the fulexo.dr collection. The client uses ansible's open_url (no
extra dependency) and raises typed errors; the rest are pure functions over
the JSON of GET /cluster, unit-tested on answers recorded from Patroni 4.1.
No AnsibleModule here: modules translate errors into fail_json once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.urls import open_url

# Member roles as /cluster reports them. "master" is Patroni < 3 spelling.
LEADER_ROLES = ("leader", "master", "standby_leader")
SYNC_ROLES = ("sync_standby", "quorum_standby")
# States in which a replica is usable as a failover candidate.
HEALTHY_REPLICA_STATES = ("streaming",)
# A standby cluster's leader follows another site: it reports how it gets
# WAL, as replicas do, and leads its own cluster all the same.
STANDBY_LEADER_STATES = ("running", "streaming", "in archive recovery")


def patroni_argument_spec():
    """Connection options shared by every patroni_* module."""
    return dict(
        urls=dict(type="list", elements="str", default=["http://127.0.0.1:8008"]),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        ca_cert=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path", no_log=False),
        validate_certs=dict(type="bool", default=True),
        timeout=dict(type="int", default=5),
    )


class PatroniError(Exception):
    """A request failed: carries what was asked and what came back."""

    def __init__(self, method, url, status=None, body="", reason=""):
        self.method, self.url, self.status, self.body, self.reason = method, url, status, body, reason
        detail = ("HTTP %s: %s" % (status, (body or reason).strip()[:300])) if status else reason
        super(PatroniError, self).__init__("%s %s failed: %s" % (method, url, detail))


class PatroniUnavailable(Exception):
    """No URL answered; `tried` lists each URL with its reason."""

    def __init__(self, path, tried):
        self.tried = tried
        super(PatroniUnavailable, self).__init__(
            "no Patroni member answered GET %s; tried %s" % (path, "; ".join("%s: %s" % t for t in tried)))


class PatroniClient(object):
    def __init__(self, urls, username=None, password=None, ca_cert=None, client_cert=None, client_key=None,
                 validate_certs=True, timeout=5, opener=None):
        self.urls = [u.rstrip("/") for u in urls]
        self.username, self.password = username, password
        self.ca_cert, self.client_cert, self.client_key = ca_cert, client_cert, client_key
        self.validate_certs, self.timeout = validate_certs, timeout
        # Injected in unit tests; open_url otherwise.
        self._open = opener or open_url

    @classmethod
    def from_params(cls, params):
        return cls(params["urls"], params.get("username"), params.get("password"), params.get("ca_cert"),
                   params.get("client_cert"), params.get("client_key"), params.get("validate_certs", True),
                   params.get("timeout", 5))

    def request(self, method, url, body=None, timeout=None):
        """Returns (status, decoded body). Patroni answers most writes with
        plain text, reads with JSON; both are returned as they came."""
        data = json.dumps(body) if body is not None else None
        headers = {"Content-Type": "application/json"} if body is not None else {}
        kwargs = dict(method=method, data=data, headers=headers, timeout=timeout or self.timeout,
                      validate_certs=self.validate_certs, ca_path=self.ca_cert,
                      client_cert=self.client_cert, client_key=self.client_key,
                      force_basic_auth=bool(self.username), url_username=self.username,
                      url_password=self.password)
        try:
            response = self._open(url, **kwargs)
            status, raw = response.getcode(), response.read()
        except HTTPError as exc:
            # Health endpoints answer 503 with a JSON body on purpose; the
            # caller decides what a status means.
            status, raw = exc.code, exc.read() if hasattr(exc, "read") else b""
        except (URLError, OSError, ValueError) as exc:
            raise PatroniError(method, url, reason=str(getattr(exc, "reason", exc)))
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else (raw or "")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def get_any(self, path):
        """GET path from the first URL that answers 200 with JSON; returns (url, data)."""
        tried = []
        for base in self.urls:
            url = base + path
            try:
                status, data = self.request("GET", url)
            except PatroniError as exc:
                tried.append((base, exc.reason or str(exc)))
                continue
            if status == 401:
                tried.append((base, "HTTP 401: wrong or missing REST API credentials"))
            elif status != 200 or not isinstance(data, dict):
                tried.append((base, "HTTP %s: %s" % (status, str(data).strip()[:200])))
            else:
                return base, data
        raise PatroniUnavailable(path, tried)

    def cluster(self):
        base, data = self.get_any("/cluster")
        return base, summarize_cluster(data)

    def post(self, base, path, body):
        """POST to one member; raises on a transport error, returns (status, body)."""
        return self.request("POST", base + path, body=body, timeout=max(self.timeout, 60))


def _lag(value):
    """Patroni reports lag in bytes, or a string ("unknown") when it cannot tell."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _role(raw):
    role = raw.get("role", "")
    return "leader" if role == "master" else role


def summarize_cluster(data):
    """One view of GET /cluster: members, leader, timeline, lag, sync standbys."""
    members = []
    for raw in data.get("members", []):
        role = _role(raw)
        lag = _lag(raw.get("lag")) if role not in LEADER_ROLES else 0
        members.append({
            "name": raw.get("name", ""),
            "role": role,
            "state": raw.get("state", ""),
            "host": raw.get("host", ""),
            "port": raw.get("port"),
            "api_url": raw.get("api_url", ""),
            "timeline": raw.get("timeline"),
            "lag": lag,
            "receive_lag": _lag(raw.get("receive_lag")),
            "replay_lag": _lag(raw.get("replay_lag")),
            "pending_restart": bool(raw.get("pending_restart", False)),
            "tags": raw.get("tags", {}),
            "is_leader": role in LEADER_ROLES,
            "is_sync": role in SYNC_ROLES,
        })
    leaders = [m for m in members if m["is_leader"]]
    leader = leaders[0] if len(leaders) == 1 else None
    replicas = [m for m in members if not m["is_leader"]]
    streaming = [m for m in replicas if m["state"] in HEALTHY_REPLICA_STATES]
    known_lags = [m["lag"] for m in replicas if m["lag"] is not None]
    leader_up = bool(leader) and (leader["state"] in STANDBY_LEADER_STATES if leader["role"] == "standby_leader"
                                  else leader["state"] == "running")
    return {
        "scope": data.get("scope", ""),
        "members": members,
        "leader": leader["name"] if leader else None,
        "leader_running": leader_up,
        "timeline": leader["timeline"] if leader else None,
        "sync_standbys": [m["name"] for m in members if m["is_sync"]],
        "sync_standby": next((m["name"] for m in members if m["is_sync"]), None),
        "replicas": [m["name"] for m in replicas],
        "streaming_replicas": [m["name"] for m in streaming],
        "max_lag": max(known_lags) if known_lags else None,
        "paused": bool(data.get("pause", False)),
        "scheduled_switchover": data.get("scheduled_switchover"),
        "pending_restart": [m["name"] for m in members if m["pending_restart"]],
        "healthy": leader_up and len(streaming) == len(replicas),
    }


def member(summary, name):
    return next((m for m in summary["members"] if m["name"] == name), None)


def candidate_problem(summary, name, max_lag):
    """Why `name` cannot take over, or None when it can."""
    found = member(summary, name)
    if found is None:
        return "candidate %s is not a member of cluster %s (members: %s)" % (
            name, summary["scope"], ", ".join(m["name"] for m in summary["members"]) or "none")
    if found["is_leader"]:
        return None
    if found["state"] not in HEALTHY_REPLICA_STATES:
        return "candidate %s is not a healthy replica (state %s)" % (name, found["state"] or "unknown")
    if found["tags"].get("nofailover"):
        return "candidate %s is tagged nofailover" % name
    if found["lag"] is None:
        return "candidate %s reports no replication lag (unknown); refusing to promote it blind" % name
    if found["lag"] > max_lag:
        return "candidate %s lags %d bytes behind, beyond the %d-byte threshold" % (name, found["lag"], max_lag)
    return None


def best_candidate(summary, max_lag, exclude=()):
    """The healthy replica with the least lag within max_lag (sync standbys first)."""
    usable = [m for m in summary["members"]
              if not m["is_leader"] and m["name"] not in exclude
              and candidate_problem(summary, m["name"], max_lag) is None]
    usable.sort(key=lambda m: (not m["is_sync"], m["lag"], m["name"]))
    return usable[0]["name"] if usable else None


def plan_switchover(summary, candidate, max_lag):
    """("noop"|"switchover", candidate, reason) or raises ValueError(reason) to refuse."""
    if candidate and summary["leader"] == candidate and summary["leader_running"]:
        return "noop", candidate, "%s already leads cluster %s" % (candidate, summary["scope"])
    if not summary["leader_running"]:
        raise ValueError("cluster %s has no running leader (%s); a switchover needs one, use failover"
                         % (summary["scope"], summary["leader"] or "none"))
    if summary["paused"]:
        raise ValueError("cluster %s is paused (maintenance mode); resume it first" % summary["scope"])
    if candidate:
        problem = candidate_problem(summary, candidate, max_lag)
        if problem:
            raise ValueError(problem)
        return "switchover", candidate, "switch over from %s to %s" % (summary["leader"], candidate)
    picked = best_candidate(summary, max_lag)
    if picked is None:
        raise ValueError("no healthy replica of cluster %s within %d bytes of lag to switch over to"
                         % (summary["scope"], max_lag))
    return "switchover", picked, "switch over from %s to %s (least lag)" % (summary["leader"], picked)


def synchronous_enabled(config):
    """Whether /config puts the cluster in synchronous or quorum commit mode."""
    mode = (config or {}).get("synchronous_mode", False)
    if isinstance(mode, str):
        return mode.strip().lower() in ("on", "true", "yes", "quorum")
    return bool(mode)


def switchover_blocker(summary, candidate, synchronous):
    """Why Patroni would refuse a switchover to `candidate` now, or None.

    In synchronous (and quorum) mode the leader hands over only to a member of
    its synchronous set, which a replica joins one leader loop after it
    streams again (after a restart, say): until then Patroni answers 503.
    """
    if not synchronous or candidate == summary["leader"] or candidate in summary["sync_standbys"]:
        return None
    return ("candidate %s is not a synchronous standby (synchronous now: %s), and Patroni hands over only to one"
            % (candidate, ", ".join(summary["sync_standbys"]) or "none"))


def plan_failover(summary, candidate, failed_leader, max_lag, force):
    """("noop"|"failover", candidate, reason) or raises ValueError(reason) to refuse.

    The desired state is "a healthy leader that is not failed_leader"; when
    Patroni already failed over by itself that holds and nothing is done.
    """
    leader_ok = summary["leader_running"]
    if leader_ok and candidate and summary["leader"] == candidate:
        return "noop", candidate, "%s already leads cluster %s" % (candidate, summary["scope"])
    if leader_ok and not force:
        if failed_leader and summary["leader"] != failed_leader and not candidate:
            return "noop", summary["leader"], "%s already took over from %s" % (summary["leader"], failed_leader)
        raise ValueError("cluster %s has a healthy leader (%s); use the switchover playbook, or force=true"
                         % (summary["scope"], summary["leader"]))
    exclude = [summary["leader"]] if leader_ok else []
    if failed_leader:
        exclude.append(failed_leader)
    if candidate:
        if candidate in exclude:
            raise ValueError("candidate %s is the leader being replaced" % candidate)
        problem = candidate_problem(summary, candidate, max_lag)
        if problem:
            raise ValueError(problem)
        return "failover", candidate, "fail over to %s" % candidate
    picked = best_candidate(summary, max_lag, exclude)
    if picked is None:
        raise ValueError("no healthy replica of cluster %s within %d bytes of lag to fail over to"
                         % (summary["scope"], max_lag))
    return "failover", picked, "fail over to %s (least lag)" % picked


def config_changes(current, desired):
    """The part of `desired` that differs from `current` (a JSON merge patch).

    Nested dicts are compared key by key, so keys the caller does not manage
    are left alone. Values compare as strings where Patroni may have stored a
    number as text (postgresql.parameters)."""
    patch = {}
    for key, want in desired.items():
        have = current.get(key) if isinstance(current, dict) else None
        if isinstance(want, dict):
            sub = config_changes(have if isinstance(have, dict) else {}, want)
            if sub:
                patch[key] = sub
        elif not _same(have, want):
            patch[key] = want
    return patch


def _same(have, want):
    if have == want and type(have) is type(want):
        return True
    if isinstance(want, bool) or isinstance(have, bool):
        return str(have).lower() in ("on", "true") and str(want).lower() in ("on", "true") or \
            str(have).lower() in ("off", "false") and str(want).lower() in ("off", "false")
    return have is not None and str(have) == str(want)


# A hot standby refuses to run with a lower value of these than its primary:
# raise them on the replicas first, lower them on the leader first.
STANDBY_MINIMUM_PARAMETERS = ("max_connections", "max_prepared_transactions", "max_locks_per_transaction",
                              "max_wal_senders", "max_worker_processes")


def lowers_standby_minimum(current, patch):
    """Whether `patch` lowers a parameter a standby needs at least as high as its primary."""
    have = (current.get("postgresql") or {}).get("parameters") or {}
    want = (patch.get("postgresql") or {}).get("parameters") or {}
    for name in STANDBY_MINIMUM_PARAMETERS:
        try:
            if name in want and name in have and int(want[name]) < int(have[name]):
                return True
        except (TypeError, ValueError):
            continue
    return False


def restart_order(summary, leader_first=False):
    """Members with a pending restart: replicas first and the leader last, or
    the leader first when a standby minimum is being lowered."""
    pending = [m for m in summary["members"] if m["pending_restart"]]
    return sorted(pending, key=lambda m: (m["is_leader"] != leader_first, m["name"]))


def wait_for(check, timeout, interval=0.5, clock=time.monotonic, sleep=time.sleep):
    """Call check() until it returns a true value or timeout seconds pass.

    Returns (value or None, seconds waited). Patroni errors count as "not
    yet": a member may be restarting or demoting while we ask."""
    start = clock()
    while True:
        try:
            value = check()
            if value:
                return value, clock() - start
        except (PatroniError, PatroniUnavailable):
            pass
        if clock() - start >= timeout:
            return None, clock() - start
        sleep(interval)
