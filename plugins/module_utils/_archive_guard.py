# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The WAL-G archive guard: which base backup in a versioned, object-locked
bucket is still as it was before a given time, and which object versions
would make the bucket's latest versions that again.

Private to the fulexo.dr collection. Pure functions and one class whose
reads (manifest text, retention, hashes) are passed in, so every decision is
unit-tested on output recorded from the real mc and MinIO.

Shapes this follows (mc cf909e1063a9 and MinIO 7aac2a2c5b7c, the lab's
builds, recorded on a loopback server):
  * `mc ls --versions --recursive --json a/b/P/` prints one line per version,
    newest first within a key, keys relative to P/ (see _minio.parse_versions);
    a delete marker has isDeleteMarker true, size 0 and an empty etag;
    versionOrdinal counts a key's versions from 1, the oldest.
  * `mc retention info --recursive --versions --json a/b/P/` prints one line
    per version that is not a delete marker: {mode, until, urlpath, versionID,
    status, error}, urlpath being a/b/key; without retention mode is "" and
    until "0001-01-01T00:00:00Z". On a bucket without object lock it prints
    only the fatal error "Remote bucket `%s` does not support locking" (sic).
  * `mc cp --version-id V a/b/k a/b/k` works under COMPLIANCE: a server-side
    copy becomes the new latest version, locked by the bucket's default
    retention. A single-part object keeps its ETag; a multipart one gets a
    new ETag ("...-1"), so only its bytes tell that it is the same.
  * `mc rm a/b/k` (no version) adds a delete marker, allowed under
    COMPLIANCE; every version stays.

WAL-G's layout under its prefix P (v3.0.8): P/basebackups_005/<backup>/...
(tar partitions, metadata), P/basebackups_005/<backup>_backup_stop_sentinel.json
(uploaded last), P/wal_005/<24 hex segment>[.lz4|.lzma|.zst|.br] and
P/wal_005/<8 hex timeline>.history[.ext]. The guard adds
P/manifests/<backup>.json.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import re

from ansible_collections.fulexo.dr.plugins.module_utils._minio import (
    MinioOutputError,
    parse_json_lines,
    parse_timestamp,
)
from ansible_collections.fulexo.dr.plugins.module_utils._walg import iso, parse_time, split_backup_name

BACKUP_DIR = "basebackups_005"
WAL_DIR = "wal_005"
MANIFEST_DIR = "manifests"
SENTINEL_SUFFIX = "_backup_stop_sentinel.json"
CHECKS = ("chain", "manifest", "manifest_versions", "lock", "checksum")

_EXT = r"(?:\.(?:lz4|lzma|zst|br))?"
_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{16})" + _EXT + "$")
_HISTORY = re.compile(r"^([0-9A-F]{8})\.history" + _EXT + "$")
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_SHOWN = 3  # problems named per rejected backup; the count is always complete


class GuardError(ValueError):
    """Nothing to judge, or a request that cannot be met; one line for an operator."""


class ManifestError(ValueError):
    """A manifest that is not one the guard wrote for this backup."""


class BucketNotLocked(MinioOutputError):
    """The bucket has no object lock: no version of it is immutable."""


# --- Times and keys --------------------------------------------------------------------


def micros(seconds):
    """Integer microseconds from mc's float seconds: times are compared
    exactly, since "at or after before" is a boundary."""
    return int(round(seconds * 1000000))


def before_micros(value):
    """Microseconds since the epoch of a time with a zone (text or datetime).
    Raises ValueError (MissingTimeZoneError without a zone)."""
    return (parse_time(value) - _EPOCH) // datetime.timedelta(microseconds=1)


def iso_micros(value):
    return iso(_EPOCH + datetime.timedelta(microseconds=value)) if value is not None else None


def iso_seconds(seconds):
    return iso_micros(micros(seconds)) if seconds is not None else None


def clean_prefix(prefix):
    return (prefix or "").strip("/")


def _join(prefix, *parts):
    return "/".join(([prefix] if prefix else []) + list(parts))


def sentinel_key(prefix, backup):
    return _join(prefix, BACKUP_DIR, backup + SENTINEL_SUFFIX)


def backup_folder(prefix, backup):
    """The backup's folder, with its trailing slash (mc lists a folder's
    contents relative to it only with the slash)."""
    return _join(prefix, BACKUP_DIR, backup) + "/"


def manifest_key(prefix, backup):
    return _join(prefix, MANIFEST_DIR, backup + ".json")


# --- Versions and the trusted view -------------------------------------------------------


def by_key(versions):
    """{key: [versions, newest first]}. mc's versionOrdinal orders a key's
    versions as the server does; without it, mc's own order (newest first)."""
    groups = {}
    for version in versions:
        groups.setdefault(version["key"], []).append(version)
    for group in groups.values():
        if all(v.get("ordinal") is not None for v in group):
            # sort() is stable: without ordinals mc's order stays.
            group.sort(key=lambda v: -v["ordinal"])
    return groups


def trusted_version(group, before_us):
    """The newest version of one key written before before_us (a delete
    marker included), or None when every version is at or after it."""
    for version in group:
        if micros(version["last_modified"]) < before_us:
            return version
    return None


def trusted_view(versions, before_us):
    """{key: version}: each key as it stood just before before_us. A key
    deleted then (its newest earlier version a delete marker), or created
    at or after it, is absent."""
    view = {}
    for key, group in by_key(versions).items():
        version = trusted_version(group, before_us)
        if version is not None and not version["is_delete_marker"]:
            view[key] = version
    return view


def untrusted_count(versions, before_us):
    """Versions (delete markers included) written at or after before_us."""
    return len([v for v in versions if micros(v["last_modified"]) >= before_us])


def backups_in_view(view, prefix):
    """[{name, sentinel}] for each backup whose stop sentinel is in the view,
    newest sentinel first. Names that are not WAL-G's are not backups."""
    folder = _join(prefix, BACKUP_DIR) + "/"
    found = []
    for key, version in view.items():
        if not key.startswith(folder) or not key.endswith(SENTINEL_SUFFIX):
            continue
        name = key[len(folder):-len(SENTINEL_SUFFIX)]
        if "/" in name or split_backup_name(name) is None:
            continue
        found.append({"name": name, "sentinel": version})
    found.sort(key=lambda b: (micros(b["sentinel"]["last_modified"]), b["name"]), reverse=True)
    return found


def delta_chain(name, backups):
    """(chain, missing): the backups a restore of name reads, itself first
    then each delta's base, and the WAL file name of a base that has no
    sentinel (None when the chain is whole). backups: backups_in_view()."""
    chain, current = [name], name
    while True:
        parts = split_backup_name(current)
        if parts is None or parts[1] is None:
            return chain, None
        # The base is the newest backup starting at the WAL file the delta names.
        bases = [b["name"] for b in backups if split_backup_name(b["name"])[0] == parts[1] and b["name"] not in chain]
        if not bases:
            return chain, parts[1]
        current = bases[0]
        chain.append(current)


# --- WAL ---------------------------------------------------------------------------------


def wal_kind(name):
    """("segment", 24 hex) or ("history", 8 hex) for a WAL-G wal_005 file
    name; None for anything else (.backup labels, .partial segments)."""
    match = _SEGMENT.match(name)
    if match:
        return "segment", match.group(1) + match.group(2)
    match = _HISTORY.match(name)
    if match:
        return "history", match.group(1)
    return None


def segment_needed(segment, start):
    """Whether a restore from a backup starting at WAL file start may read
    segment: its log and segment number (the last 16 hex digits) is at or
    after start's, on any timeline, since recovery follows timeline switches."""
    return segment[8:].upper() >= start[8:].upper()


def wal_objects(view, prefix, start):
    """The trusted WAL versions a restore from a backup starting at WAL file
    start may read: segments at or after it on any timeline and every
    timeline history file, by key."""
    folder = _join(prefix, WAL_DIR) + "/"
    chosen = []
    for key in sorted(view):
        if not key.startswith(folder):
            continue
        kind = wal_kind(key[len(folder):])
        if kind and (kind[0] == "history" or segment_needed(kind[1], start)):
            chosen.append(view[key])
    return chosen


# --- Manifests ---------------------------------------------------------------------------


def record_objects(folder_versions, sentinel_versions, prefix, backup):
    """The latest version of every object of a backup and of its sentinel
    (last), from listings of backup_folder() and sentinel_key(). Raises
    GuardError when the backup is not there or did not finish."""
    folder = backup_folder(prefix, backup)
    objects = []
    for key, group in sorted(by_key(folder_versions).items()):
        if key.startswith(folder) and not group[0]["is_delete_marker"]:
            objects.append(group[0])
    sentinel = by_key([v for v in sentinel_versions if v["key"] == sentinel_key(prefix, backup)])
    latest = sentinel.get(sentinel_key(prefix, backup), [None])[0]
    if latest is None or latest["is_delete_marker"]:
        raise GuardError("backup %s has no backup stop sentinel (%s): it did not finish, or it is not there"
                         % (backup, sentinel_key(prefix, backup)))
    if not objects:
        raise GuardError("backup %s has a sentinel but no objects under %s" % (backup, folder))
    return objects + [latest]


def build_manifest(backup, bucket, prefix, recorded_at, objects):
    """The manifest of a backup: objects are versions with their sha256."""
    return {
        "backup": backup,
        "bucket": bucket,
        "prefix": prefix,
        "recorded_at": recorded_at,
        "objects": sorted(({"key": o["key"], "version_id": o["version_id"], "size": o["size"],
                            "sha256": o["sha256"]} for o in objects), key=lambda o: o["key"]),
    }


def manifest_text(manifest):
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def same_objects(one, other):
    """Two manifests list the same versions with the same bytes."""
    def entries(manifest):
        return sorted((o["key"], o["version_id"], o["size"], o["sha256"]) for o in manifest["objects"])
    return entries(one) == entries(other)


def parse_manifest(text, backup, prefix):
    """A manifest of backup under prefix, with full keys. Two writers:

      * this module's record: bucket, prefix, and each object's key from the
        bucket's root with its version_id;
      * the walg role's backup job (walg_job.py), through wal-g's storage
        commands: no bucket, prefix or version_id, keys relative to the
        WAL-G prefix. Its objects get version_id None: the version is the
        trusted one whose bytes still hash as recorded.

    Raises ManifestError saying what is wrong with it.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestError("not JSON (%s)" % exc)
    if not isinstance(data, dict) or not isinstance(data.get("objects"), list):
        raise ManifestError("not a manifest: no list of objects")
    if data.get("backup") != backup:
        raise ManifestError("it names backup %r" % (data.get("backup"),))
    relative = "prefix" not in data
    if not relative and clean_prefix(data.get("prefix")) != prefix:
        raise ManifestError("it was recorded for prefix %r" % (data.get("prefix"),))
    folder, sentinel = backup_folder(prefix, backup), sentinel_key(prefix, backup)
    objects = []
    for index, entry in enumerate(data["objects"]):
        if not isinstance(entry, dict):
            raise ManifestError("entry %d is not an object" % index)
        for field, kind in (("key", str), ("size", int), ("sha256", str)):
            if not isinstance(entry.get(field), kind) or isinstance(entry.get(field), bool):
                raise ManifestError("entry %d has no valid %s" % (index, field))
        version_id = entry.get("version_id")
        if not (isinstance(version_id, str) and version_id) and not (relative and version_id is None):
            raise ManifestError("entry %d has no valid version_id" % index)
        key = _join(prefix, entry["key"].lstrip("/")) if relative else entry["key"]
        if key != sentinel and not key.startswith(folder):
            raise ManifestError("entry %s is not part of backup %s" % (entry["key"], backup))
        objects.append({"key": key, "version_id": version_id, "size": entry["size"], "sha256": entry["sha256"]})
    if sentinel not in [o["key"] for o in objects]:
        raise ManifestError("it does not list the backup stop sentinel")
    if len(objects) < 2:
        raise ManifestError("it lists no object of the backup besides the sentinel")
    data["objects"] = objects
    return data


def strip_progress(text):
    """mc pipe's JSON line without the progress bar it prints before it even
    with --json --quiet ("\\r 0 B / ? {...}", seen with input from a pipe)."""
    lines = []
    for line in (text or "").splitlines():
        start = line.find("{")
        lines.append(line[start:] if start >= 0 else line)
    return "\n".join(lines)


# --- Checks ------------------------------------------------------------------------------


def manifest_version_problems(manifest, groups, before_us):
    """Entries whose recorded version is not the trusted version of its key.
    groups: by_key() of every version listed."""
    problems = []
    for entry in manifest["objects"]:
        key, wanted = entry["key"], entry["version_id"]
        standing = trusted_version(groups.get(key, []), before_us)
        trusted = standing if standing is not None and not standing["is_delete_marker"] else None
        known = [v["version_id"] for v in groups.get(key, [])]
        if wanted is not None and wanted not in known:
            problems.append("%s: recorded version %s no longer exists" % (key, wanted))
        elif standing is not None and standing["is_delete_marker"]:
            problems.append("%s: deleted (a delete marker) before then" % key)
        elif trusted is None:
            problems.append("%s: %s" % (key, "written only at or after then" if known else "not there"))
        elif wanted is None:
            # The backup job's manifest names no version: the trusted one is
            # judged by its size here and by its bytes in the checksum check.
            if trusted["size"] != entry["size"]:
                problems.append("%s: %d bytes, recorded %d" % (key, trusted["size"], entry["size"]))
        elif trusted["version_id"] != wanted:
            problems.append("%s: overwritten before then (trusted version %s, recorded %s)"
                            % (key, trusted["version_id"], wanted))
        elif trusted["size"] != entry["size"]:
            problems.append("%s: %d bytes, recorded %d" % (key, trusted["size"], entry["size"]))
    return problems


def parse_retention(text, alias, bucket):
    """{(key, version_id): {mode, until}} from `mc retention info --recursive
    --versions --json alias/bucket/P/`; mode "" and until None for a version
    without retention. Raises BucketNotLocked, or MinioOutputError."""
    base = "%s/%s/" % (alias, bucket)
    try:
        entries = parse_json_lines(text, "retention info")
    except MinioOutputError as exc:
        if "does not support locking" in str(exc):
            raise BucketNotLocked("bucket %s has no object lock" % bucket)
        raise
    retention = {}
    for entry in entries:
        path = entry.get("urlpath") or ""
        if not path.startswith(base) or "versionID" not in entry:
            raise MinioOutputError("mc retention info: unexpected line %r" % (json.dumps(entry)[:200],))
        until = entry.get("until") or ""
        # Go's zero time: no retain-until date.
        until = None if not until or until.startswith("0001-01-01") else parse_timestamp(until)
        retention[(path[len(base):], entry["versionID"] or "null")] = {
            "mode": (entry.get("mode") or "").upper(), "until": until}
    return retention


def lock_problems(versions, retention, lock_modes, now):
    """(problems, summary) for versions that must be immutable: locked in a
    mode of lock_modes until after now (seconds). problems: [(reason,
    version)], reason being "no retention", "mode X" or "retention ended"."""
    modes = [m.upper() for m in lock_modes]
    problems, counts, earliest = [], {}, None
    for version in versions:
        held = retention.get((version["key"], version["version_id"])) or {"mode": "", "until": None}
        mode, until = held["mode"], held["until"]
        counts[mode or "none"] = counts.get(mode or "none", 0) + 1
        if until is not None:
            earliest = until if earliest is None else min(earliest, until)
        if not mode or until is None:
            problems.append(("no retention", version))
        elif mode not in modes:
            problems.append(("mode %s" % mode, version))
        elif until <= now:
            problems.append(("retention ended", version))
    summary = {"versions": len(versions), "modes": counts, "earliest_retain_until": iso_seconds(earliest)}
    return problems, summary


def lock_detail(problems, total, lock_modes):
    """One line for lock_problems(): how many, why (by reason), the first."""
    reasons = {}
    for reason, _version in problems:
        reasons[reason] = reasons.get(reason, 0) + 1
    first = problems[0][1]
    return ("%d of %d version(s) a restore reads are not locked in %s until a time to come (%s), first %s version %s"
            % (len(problems), total, "/".join(m.upper() for m in lock_modes),
               ", ".join("%s: %d" % (r, n) for r, n in sorted(reasons.items())), first["key"], first["version_id"]))


def checksum_problems(entries, hashes):
    """Entries whose bytes are not what was recorded. hashes: {(key,
    version_id): (sha256, size)} of each entry's version as read now."""
    problems = []
    for entry in entries:
        digest, size = hashes[(entry["key"], entry["version_id"])]
        if size != entry["size"]:
            problems.append("%s: read %d bytes, recorded %d" % (entry["key"], size, entry["size"]))
        elif digest != entry["sha256"]:
            problems.append("%s: sha256 %s..., recorded %s..." % (entry["key"], digest[:12], entry["sha256"][:12]))
    return problems


def summarize_problems(problems, total, what):
    """One detail line: how many of total, and the first few."""
    shown = ", ".join(problems[:_SHOWN])
    more = " and %d more" % (len(problems) - _SHOWN) if len(problems) > _SHOWN else ""
    return "%d of %d %s: %s%s" % (len(problems), total, what, shown, more)


# --- Choosing a backup ---------------------------------------------------------------------


class Verification(object):
    """Picks the newest backup that passes every check as of before.

    versions: parse_versions() of everything under prefix. The reads are
    passed in: read_manifest(version) -> text, retention() -> parse_retention()
    (called once, when a backup first reaches the lock check; may raise
    BucketNotLocked), hash_version(version) -> (sha256, bytes).
    """

    def __init__(self, versions, prefix, before_us, read_manifest, retention, hash_version,
                 lock_modes=("COMPLIANCE", "GOVERNANCE"), now=0.0):
        self.prefix = clean_prefix(prefix)
        self.before_us = before_us
        self.versions = versions
        self.groups = by_key(versions)
        self.view = trusted_view(versions, before_us)
        self.backups = backups_in_view(self.view, self.prefix)
        self._read_manifest = read_manifest
        self._retention_reader = retention
        self._retention = None
        self._hash_version = hash_version
        self.lock_modes = list(lock_modes)
        self.now = now
        self.hashes = {}
        self.bytes_hashed = 0
        self._manifests = {}
        self.not_locked = False

    def retention(self):
        if self._retention is None:
            try:
                self._retention = self._retention_reader()
            except BucketNotLocked:
                self.not_locked = True
                self._retention = {}
        return self._retention

    def hash(self, version):
        ident = (version["key"], version["version_id"])
        if ident not in self.hashes:
            self.hashes[ident] = self._hash_version(version)
            self.bytes_hashed += self.hashes[ident][1]
        return self.hashes[ident]

    def manifest(self, name):
        """(manifest, manifest version) or raises ManifestError."""
        if name not in self._manifests:
            version = self.view.get(manifest_key(self.prefix, name))
            if version is None:
                self._manifests[name] = ManifestError(
                    "no manifest %s before then (action=record did not run for it, or it was deleted)"
                    % manifest_key(self.prefix, name))
            else:
                try:
                    self._manifests[name] = (parse_manifest(self._read_manifest(version), name, self.prefix), version)
                except (ManifestError, MinioOutputError) as exc:
                    self._manifests[name] = ManifestError("manifest %s unreadable: %s"
                                                          % (manifest_key(self.prefix, name), exc))
        found = self._manifests[name]
        if isinstance(found, Exception):
            raise found
        return found

    def evaluate(self, name):
        """(None, report) when name passes, or ((check, detail), None)."""
        chain, missing = delta_chain(name, self.backups)
        if missing:
            return ("chain", "the delta's base (WAL file %s) has no backup stop sentinel before then"
                    % missing), None

        def label(member):
            return "" if member == name else "its base %s: " % member

        manifests = []
        for member in chain:
            try:
                manifests.append((member,) + self.manifest(member))
            except ManifestError as exc:
                return ("manifest", label(member) + str(exc)), None
        for member, manifest, _version in manifests:
            problems = manifest_version_problems(manifest, self.groups, self.before_us)
            if problems:
                return ("manifest_versions", label(member) + summarize_problems(
                    problems, len(manifest["objects"]), "recorded object(s)")), None

        # Each entry as the trusted version it was matched to (the backup
        # job's manifests name none).
        entries = [dict(e, version_id=self.view[e["key"]]["version_id"])
                   for _m, manifest, _v in manifests for e in manifest["objects"]]
        sentinels = [b["sentinel"] for b in self.backups if b["name"] in chain]
        wal = wal_objects(self.view, self.prefix, split_backup_name(name)[0])
        locked, seen = [], set()
        for version in ([self.view[e["key"]] for e in entries] + sentinels
                        + [v for _m, _mf, v in manifests] + wal):
            if (version["key"], version["version_id"]) not in seen:
                seen.add((version["key"], version["version_id"]))
                locked.append(version)
        problems, lock = lock_problems(locked, self.retention(), self.lock_modes, self.now)
        if problems:
            return ("lock", ("the bucket has no object lock: " if self.not_locked else "")
                    + lock_detail(problems, len(locked), self.lock_modes)), None

        try:
            hashes = dict(((e["key"], e["version_id"]), self.hash(self.view[e["key"]])) for e in entries)
        except MinioOutputError as exc:
            return ("checksum", str(exc)), None
        problems = checksum_problems(entries, hashes)
        if problems:
            return ("checksum", summarize_problems(problems, len(entries), "recorded object(s)")), None
        return None, {"chain": chain, "objects_checked": len(entries), "wal_objects_checked": len(wal),
                      "lock": lock}

    def run(self, backup=None, where="the bucket"):
        """The chosen backup and the rejected ones, newest first.

        Raises GuardError when there is no backup to judge (or not the one
        asked for). ok is False when every candidate was rejected.
        """
        names = [b["name"] for b in self.backups]
        if not names:
            raise GuardError(no_backup_message(where, self.before_us, self.versions))
        if backup is not None and backup not in names:
            raise GuardError("backup %s has no backup stop sentinel in %s before %s; backups there then, newest "
                             "first: %s" % (backup, where, iso_micros(self.before_us), ", ".join(names[:5])))
        rejected, chosen = [], None
        for candidate in self.backups:
            if backup is not None and candidate["name"] != backup:
                continue
            failure, report = self.evaluate(candidate["name"])
            if failure is None:
                chosen = dict(report, name=candidate["name"],
                              finished_at=iso_seconds(candidate["sentinel"]["last_modified"]))
                break
            rejected.append({"backup": candidate["name"], "check": failure[0], "detail": failure[1]})
        return {
            "ok": chosen is not None,
            "backup": chosen and chosen["name"],
            "backup_finished_at": chosen and chosen["finished_at"],
            "chain": chosen["chain"] if chosen else [],
            "rejected": rejected,
            "objects_checked": chosen["objects_checked"] if chosen else 0,
            "bytes_hashed": self.bytes_hashed,
            "wal_objects_checked": chosen["wal_objects_checked"] if chosen else 0,
            "lock": chosen["lock"] if chosen else None,
            "untrusted_versions": untrusted_count(self.versions, self.before_us),
        }


def no_backup_message(where, before_us, versions):
    later = untrusted_count(versions, before_us)
    return ("no backup in %s before %s: no WAL-G backup stop sentinel stood there then (%d version(s) under the "
            "prefix, %d of them written at or after that time)" % (where, iso_micros(before_us), len(versions), later))


def failure_message(where, before_us, rejected, limit=5):
    """Why no backup passed, newest first."""
    shown = "; ".join("%s: %s: %s" % (r["backup"], r["check"], r["detail"]) for r in rejected[:limit])
    more = "; and %d more" % (len(rejected) - limit) if len(rejected) > limit else ""
    return ("no backup in %s passes the immutability checks before %s: %s%s"
            % (where, iso_micros(before_us), shown, more))


# --- Rewind --------------------------------------------------------------------------------


def _multipart(etag):
    return "-" in (etag or "")


def restored(latest, trusted, same_content=None):
    """Whether latest is already a copy of trusted (an earlier rewind).

    Same size and ETag for single-part objects. A server-side copy of a
    multipart object gets a new ETag, so then only same_content(latest,
    trusted) (the bytes) can tell; without it, not restored.
    """
    if latest["is_delete_marker"] or latest["size"] != trusted["size"]:
        return False
    if latest["etag"] and latest["etag"] == trusted["etag"]:
        return True
    if not (_multipart(latest["etag"]) or _multipart(trusted["etag"])):
        return False
    return bool(same_content and same_content(latest, trusted))


def rewind_plan(versions, before_us, same_content=None):
    """What makes every key's latest version its trusted one again.

    to_copy: keys whose trusted version exists and is not the latest (nor
    restored() already): copy it on top. to_hide: keys with no trusted
    version (created at or after before_us, or deleted before it) whose
    latest is not already a delete marker: add one. Both by key.
    """
    to_copy, to_hide = [], []
    for key, group in sorted(by_key(versions).items()):
        latest, trusted = group[0], trusted_version(group, before_us)
        if trusted is None or trusted["is_delete_marker"]:
            if not latest["is_delete_marker"]:
                to_hide.append({"key": key, "latest_version_id": latest["version_id"],
                                "latest_written_at": iso_seconds(latest["last_modified"])})
            continue
        if latest["version_id"] == trusted["version_id"] or restored(latest, trusted, same_content):
            continue
        to_copy.append({"key": key, "version_id": trusted["version_id"], "size": trusted["size"],
                        "etag": trusted["etag"], "latest_version_id": latest["version_id"],
                        "latest_is_delete_marker": latest["is_delete_marker"],
                        "latest_written_at": iso_seconds(latest["last_modified"])})
    return {"to_copy": to_copy, "to_hide": to_hide}


def hide_rejected(plan, versions, prefix, rejected_backups):
    """Also hide the sentinels of trusted backups that failed the checks, so
    that WAL-G's LATEST (a restore to the newest point) starts from the
    backup that passed, never from one that could not be proven. Their
    sentinels are not copied back either; the locked versions stay."""
    hidden = set(sentinel_key(prefix, name) for name in rejected_backups)
    groups = by_key(versions)
    plan = {"to_copy": [e for e in plan["to_copy"] if e["key"] not in hidden],
            "to_hide": [e for e in plan["to_hide"] if e["key"] not in hidden]}
    for key in sorted(hidden):
        latest = groups.get(key, [None])[0]
        if latest is not None and not latest["is_delete_marker"]:
            plan["to_hide"].append({"key": key, "latest_version_id": latest["version_id"],
                                    "latest_written_at": iso_seconds(latest["last_modified"]),
                                    "reason": "failed the checks"})
    return plan


def rewind_problems(plan, versions):
    """After a rewind, the keys whose latest version is not what the plan
    made it: a copy of the trusted version, or a delete marker."""
    latest = dict((key, group[0]) for key, group in by_key(versions).items())
    problems = []
    for entry in plan["to_copy"]:
        now = latest.get(entry["key"])
        if now is None or now["is_delete_marker"]:
            problems.append("%s: still deleted" % entry["key"])
        elif now["version_id"] == entry["latest_version_id"]:
            problems.append("%s: latest is still version %s" % (entry["key"], now["version_id"]))
        elif now["size"] != entry["size"]:
            problems.append("%s: latest has %d bytes, the trusted version %d" % (entry["key"], now["size"], entry["size"]))
        elif not (_multipart(now["etag"]) or _multipart(entry["etag"])) and now["etag"] != entry["etag"]:
            problems.append("%s: latest ETag %s, the trusted version's %s" % (entry["key"], now["etag"], entry["etag"]))
    for entry in plan["to_hide"]:
        now = latest.get(entry["key"])
        if now is not None and not now["is_delete_marker"]:
            problems.append("%s: still visible (version %s)" % (entry["key"], now["version_id"]))
    return problems
