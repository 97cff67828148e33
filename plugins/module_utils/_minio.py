# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing of mc JSON-lines output and the cross-site replication comparison.

Private to the fulexo.dr collection. Pure functions: no AnsibleModule here, so
the logic is unit-tested on output recorded from the real tool.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import calendar
import hashlib
import hmac
import json
import re

try:
    from urllib.parse import quote
except ImportError:  # pragma: no cover - Python 2
    from urllib import quote


class MinioOutputError(ValueError):
    """mc printed something that is not the JSON it was asked for, or an error."""


_TS = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$")


def parse_timestamp(text):
    """Seconds since the epoch from mc's RFC 3339 UTC times (0 to 9 fraction digits)."""
    match = _TS.match(text or "")
    if not match:
        raise MinioOutputError("not an mc UTC timestamp: %r" % (text,))
    parts = [int(p) for p in match.groups()[:6]]
    fraction = match.group(7) or "0"
    return calendar.timegm(tuple(parts) + (0, 0, 0)) + int(fraction) / float(10 ** len(fraction))


def mc_host_url(url, access_key, secret_key):
    """The MC_HOST_<alias> value: credentials inside the URL, percent-encoded."""
    scheme, sep, rest = url.partition("://")
    if not sep or not rest:
        raise ValueError("endpoint URL needs a scheme, e.g. http://host:9000: %r" % (url,))
    return "%s://%s:%s@%s" % (scheme, quote(access_key, safe=""), quote(secret_key, safe=""), rest.rstrip("/"))


def parse_json_lines(text, what):
    """The objects of mc's --json output, one per line.

    An error line (status=error) raises with mc's message and its cause,
    which name the operation and the server's reply.
    """
    entries = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            raise MinioOutputError("mc %s did not print JSON (%s): %r" % (what, exc, line[:200]))
        if entry.get("status") == "error":
            raise MinioOutputError("mc %s: %s" % (what, error_message(entry)))
        entries.append(entry)
    return entries


def error_message(entry):
    error = entry.get("error") or {}
    cause = (error.get("cause") or {}).get("message") or ""
    message = error.get("message") or "unknown error"
    return "%s (%s)" % (message, cause) if cause else message


def key_base(prefix):
    """mc prints keys relative to the prefix's last '/' (its "folder")."""
    return prefix[:prefix.rfind("/") + 1]


def parse_versions(text, prefix=""):
    """Object versions from `mc ls --versions --recursive --json` of prefix, with full keys."""
    base = key_base(prefix)
    versions = []
    for entry in parse_json_lines(text, "ls --versions"):
        if entry.get("type") == "folder":
            continue
        versions.append({
            "key": base + entry["key"],
            "version_id": entry.get("versionId") or "null",
            "last_modified": parse_timestamp(entry["lastModified"]),
            "size": entry.get("size", 0),
            "etag": entry.get("etag", ""),
            "is_delete_marker": bool(entry.get("isDeleteMarker", False)),
            # mc numbers a key's versions from 1 (oldest); the highest is the latest.
            "ordinal": entry.get("versionOrdinal"),
        })
    return versions


def parse_replication_status(text):
    """The source-side replication status of one version from `mc stat --json`.

    MinIO aggregates the targets: FAILED or PENDING when any target is, REPLICA
    on a target's copy, empty when the bucket does not replicate.
    """
    entries = parse_json_lines(text, "stat")
    if not entries:
        raise MinioOutputError("mc stat printed nothing")
    return entries[0].get("replicationStatus") or ""


def _missing_entry(version, now, status, grace):
    age = max(now - version["last_modified"], 0.0)
    if status == "FAILED":
        state = "failed"
    elif status == "PENDING" or age < grace:
        state = "pending"
    else:
        # The source believes it replicated (or cannot say), the copy is gone.
        state = "missing"
    return {
        "key": version["key"],
        "version_id": version["version_id"],
        "is_delete_marker": version["is_delete_marker"],
        "age": round(age, 3),
        "source_status": status,
        "state": state,
    }


def compare_sites(source_versions, targets, now, grace=60, max_missing=0, statuses=None, max_listed=50):
    """Compare the source's versions with each target's.

    source_versions: parse_versions() of the source.
    targets: list of dicts with name, delete_markers (whether delete markers
      are expected to replicate there), and either versions (parse_versions()
      of the target) or error (why it could not be listed: unreachable).
    statuses: {(key, version_id): source replication status} for versions the
      caller looked up; unknown ones are judged by age alone.
    A target is within tolerance while at most max_missing of its missing
    versions are older than grace seconds; younger ones are in flight.
    """
    statuses = statuses or {}
    result_targets = []
    oldest = None
    for target in targets:
        expected = [v for v in source_versions if target.get("delete_markers") or not v["is_delete_marker"]]
        view = {
            "name": target["name"],
            "reachable": target.get("versions") is not None,
            "error": target.get("error") or "",
            "expected": len(expected),
            "present": None,
            "missing_count": None,
            "pending_count": None,
            "failed_count": None,
            "overdue_count": None,
            "extra_count": None,
            "oldest_missing_age": None,
            "missing": [],
        }
        if view["reachable"]:
            present = set((v["key"], v["version_id"]) for v in target["versions"])
            missing = [_missing_entry(v, now, statuses.get((v["key"], v["version_id"]), ""), grace)
                       for v in expected if (v["key"], v["version_id"]) not in present]
            missing.sort(key=lambda m: -m["age"])
            overdue = [m for m in missing if m["state"] != "pending"]
            view.update(
                present=len(expected) - len(missing),
                missing_count=len(missing),
                pending_count=len([m for m in missing if m["state"] == "pending"]),
                failed_count=len([m for m in missing if m["state"] == "failed"]),
                overdue_count=len(overdue),
                # Versions only the target has: the source's lifecycle or a
                # permanent delete removed them there; never a failure.
                extra_count=len(present - set((v["key"], v["version_id"]) for v in source_versions)),
                oldest_missing_age=missing[0]["age"] if missing else None,
                missing=missing[:max_listed],
            )
            view["within_tolerance"] = len(overdue) <= max_missing
        else:
            # Nothing can be confirmed there; what the source still has to
            # send is the backlog it reports itself.
            backlog = [_missing_entry(v, now, statuses[(v["key"], v["version_id"])], grace)
                       for v in expected
                       if statuses.get((v["key"], v["version_id"])) in ("PENDING", "FAILED")]
            backlog.sort(key=lambda m: -m["age"])
            view.update(
                pending_count=len([m for m in backlog if m["state"] == "pending"]),
                failed_count=len([m for m in backlog if m["state"] == "failed"]),
                oldest_missing_age=backlog[0]["age"] if backlog else None,
                missing=backlog[:max_listed],
            )
            view["backlog_count"] = len(backlog)
            view["within_tolerance"] = False
        if view["oldest_missing_age"] is not None:
            oldest = max(oldest or 0.0, view["oldest_missing_age"])
        result_targets.append(view)

    reachable = [t for t in result_targets if t["reachable"]]
    return {
        "source_versions": len(source_versions),
        "targets": result_targets,
        "unreachable_targets": [t["name"] for t in result_targets if not t["reachable"]],
        "missing_total": sum(t["missing_count"] for t in reachable),
        "pending_total": sum(t["pending_count"] or 0 for t in result_targets),
        "failed_total": sum(t["failed_count"] or 0 for t in result_targets),
        "oldest_unreplicated_age": oldest,
        "in_sync": all(t["reachable"] and t["missing_count"] == 0 for t in result_targets),
        "ok": all(t["within_tolerance"] for t in result_targets),
    }


def status_lookup_candidates(source_versions, targets, limit):
    """Source versions whose replication status is worth asking for, newest first.

    For a reachable target only its missing versions; for an unreachable one
    the newest versions of the source, since nothing else says what it lacks.
    """
    wanted = {}
    for target in targets:
        if target.get("versions") is not None:
            present = set((v["key"], v["version_id"]) for v in target["versions"])
            candidates = [v for v in source_versions if (v["key"], v["version_id"]) not in present]
        else:
            candidates = list(source_versions)
        for version in candidates:
            if not version["is_delete_marker"]:
                wanted[(version["key"], version["version_id"])] = version
    ordered = sorted(wanted.values(), key=lambda v: -v["last_modified"])
    return ordered[:limit]


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def metrics_token(access_key, secret_key, expires_at):
    """Bearer token for MinIO's Prometheus endpoints, as `mc admin prometheus
    generate` makes it: a JWT signed with HS512 by the user's own secret key,
    naming the user in "sub". Built here with a fixed expiry so the same
    credentials always give the same token (a converge that changes nothing
    rewrites nothing); a new secret gives a new token."""
    if not access_key or not secret_key:
        raise ValueError("an access key and a secret key are needed")
    header = _b64url(json.dumps({"alg": "HS512", "typ": "JWT"}, separators=(",", ":"), sort_keys=True).encode())
    claims = _b64url(json.dumps({"exp": int(expires_at), "iss": "prometheus", "sub": access_key},
                                separators=(",", ":"), sort_keys=True).encode())
    signing_input = "%s.%s" % (header, claims)
    signature = hmac.new(secret_key.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha512).digest()
    return "%s.%s" % (signing_input, _b64url(signature))
