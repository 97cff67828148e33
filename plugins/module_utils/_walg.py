# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WAL-G (v3.0.8) output parsing, the PITR window, restore planning and the
backup retention policy.

Private to the fulexo.dr collection. Pure functions on the standard library
only: no AnsibleModule and no ansible imports, because the walg role also
installs this file on the database hosts as the retention job's policy
(fulexo_walg_policy.py), so the module and the job decide alike.

Shapes this follows (wal-g v3.0.8 source):
  * `backup-list --detail --json` prints one JSON array of postgres.BackupDetail,
    i.e. internal.BackupTime (backup_name, time, wal_file_name, storage_name)
    and ExtendedMetadataDto (start_time, finish_time, date_fmt, hostname,
    data_dir, pg_version, start_lsn, finish_lsn, is_permanent,
    system_identifier, uncompressed_size, compressed_size, user_data) merged
    into one object, sorted by start_time. LSNs are JSON numbers (LSN is a
    uint64 without a marshaller); times are Go RFC 3339 with up to nine
    fraction digits. An empty storage prints `[]` with --json (older releases
    print nothing and log "No backups found" on stderr).
  * Logs go to stderr as "ERROR: 2006/01/02 15:04:05.000000 message".
  * `wal-verify integrity timeline --json` prints one object keyed by check
    name, each {status: OK|WARNING|FAILURE, details: ...}.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import difflib
import json
import re

UTC = datetime.timezone.utc
_ZERO_TIME_YEAR = 1  # Go's zero time.Time marshals as 0001-01-01T00:00:00Z

# Backup names: base_<timeline+segment>[_D_<timeline+segment of its base>][_<LSN suffix>]
_NAME = re.compile(r"^base_([0-9A-F]{24})(?:_D_([0-9A-F]{24}))?(?:_([0-9A-F]{8}))?$")
_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")
_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$")
_LOG_LINE = re.compile(r"^(ERROR|WARNING|INFO|DEBUG): (?:\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)? )?(.*)$")


class WalgOutputError(ValueError):
    """wal-g printed something that is not the JSON it was asked for."""


class RestoreTargetError(ValueError):
    """The restore target cannot be restored to; the message is one line for an operator."""


class MissingTimeZoneError(ValueError):
    """A timestamp without a time zone: ambiguous, so never guessed."""


# --- Times and LSNs -----------------------------------------------------------------


def parse_time(value):
    """Aware UTC datetime from ISO 8601 / RFC 3339 text (T or space, 0-9
    fraction digits, Z or +HH[:MM]) or from a datetime. Raises
    MissingTimeZoneError without a zone and ValueError for anything else,
    including impossible dates (2026-02-30)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise MissingTimeZoneError("time %s has no time zone" % value.isoformat())
        return value.astimezone(UTC)
    text = str(value).strip()
    match = _TIME.match(text)
    if not match:
        raise ValueError("not an ISO 8601 time: %r" % (text,))
    year, month, day, hour, minute = (int(g) for g in match.group(1, 2, 3, 4, 5))
    second = int(match.group(6) or 0)
    fraction = (match.group(7) or "")[:6].ljust(6, "0")
    if not match.group(8) and not match.group(9):
        raise MissingTimeZoneError("time %r has no time zone" % (text,))
    offset = datetime.timedelta(0)
    if match.group(9):
        offset = datetime.timedelta(hours=int(match.group(10)), minutes=int(match.group(11) or 0))
        if offset >= datetime.timedelta(hours=24) or int(match.group(11) or 0) > 59:
            raise ValueError("time %r has an impossible offset" % (text,))
        if match.group(9) == "-":
            offset = -offset
    # datetime() itself refuses 2026-02-30, 25:00 and the like.
    moment = datetime.datetime(year, month, day, hour, minute, second, int(fraction),
                               tzinfo=datetime.timezone(offset))
    return moment.astimezone(UTC)


def iso(moment):
    """ISO 8601 UTC text for a datetime (None stays None)."""
    if moment is None:
        return None
    return parse_time(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _walg_time(value):
    """A wal-g time field; Go's zero time (metadata missing) becomes None."""
    if value in (None, ""):
        return None
    moment = parse_time(value)
    return None if moment.year == _ZERO_TIME_YEAR else moment


def age_seconds(moment, now):
    """Seconds from moment to now, rounded to 0.1; None when moment is None."""
    if moment is None:
        return None
    return round((parse_time(now) - parse_time(moment)).total_seconds(), 1)


def parse_lsn(text):
    """Integer position from 'X/XXXXXXXX'. Raises ValueError."""
    if isinstance(text, int):
        return text
    match = _LSN.match(str(text).strip())
    if not match:
        raise ValueError("not an LSN (X/XXXXXXXX hex): %r" % (text,))
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def format_lsn(value):
    """'X/XXXXXXXX' as PostgreSQL and wal-g print it."""
    if value is None:
        return None
    value = parse_lsn(value)
    return "%X/%X" % (value >> 32, value & 0xFFFFFFFF)


# --- backup-list ------------------------------------------------------------------


def _load_json(stdout, what):
    """The JSON document in stdout; log lines around it are skipped."""
    text = (stdout or "").strip()
    lines = [line for line in text.splitlines() if line.strip()]
    candidates = [text] + [line for line in lines if line.lstrip()[:1] in ("[", "{")]
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    raise WalgOutputError("wal-g %s did not print JSON: %r" % (what, text[:200]))


def split_backup_name(name):
    """(wal_file_name, base_wal_file_name or None) from a backup name, or None
    when it is not a WAL-G PostgreSQL backup name."""
    match = _NAME.match(name or "")
    if not match:
        return None
    return match.group(1), match.group(2)


def parse_backup_list(stdout, stderr=""):
    """Backups from `wal-g backup-list --detail --json`, oldest first.

    Empty storage gives []: v3.0.8 prints `[]`, older releases print nothing
    and log "No backups found". Times are ISO 8601 UTC text; sizes are bytes.
    Deltas are recognised by `_D_` in the name; delta_base is the backup
    whose WAL file name follows `_D_`, delta_full the full at the root of
    the chain (None when a link is missing: the delta is then not
    restorable).
    """
    if not (stdout or "").strip():
        if "No backups found" in (stderr or ""):
            return []
        raise WalgOutputError("wal-g backup-list printed nothing on stdout")
    data = _load_json(stdout, "backup-list")
    if data is None:
        return []
    if not isinstance(data, list):
        raise WalgOutputError("wal-g backup-list: expected a JSON list, got %s" % type(data).__name__)

    backups = []
    for raw in data:
        if not isinstance(raw, dict) or not raw.get("backup_name"):
            raise WalgOutputError("wal-g backup-list: an entry has no backup_name: %r" % (raw,))
        name = raw["backup_name"]
        parts = split_backup_name(name)
        wal_file = raw.get("wal_file_name") or (parts[0] if parts else None)
        base_wal = parts[1] if parts else None
        try:
            start = _walg_time(raw.get("start_time"))
            finish = _walg_time(raw.get("finish_time"))
            modified = _walg_time(raw.get("time"))
            start_lsn = raw.get("start_lsn")
            finish_lsn = raw.get("finish_lsn")
            start_lsn = parse_lsn(start_lsn) if start_lsn not in (None, "") else None
            finish_lsn = parse_lsn(finish_lsn) if finish_lsn not in (None, "") else None
        except ValueError as exc:
            raise WalgOutputError("wal-g backup-list: backup %s: %s" % (name, exc))
        if start is None and finish is None:
            # No extended metadata (WAL-E era backups): all that is known is
            # when the sentinel, which is uploaded last, was written.
            start = finish = modified
        backups.append({
            "name": name,
            "storage_name": raw.get("storage_name"),
            "modified_time": iso(modified),
            "wal_file_name": wal_file,
            "timeline": int(wal_file[:8], 16) if wal_file and re.match(r"^[0-9A-F]{24}$", wal_file) else None,
            "start_time": iso(start),
            "finish_time": iso(finish),
            "duration_seconds": round((finish - start).total_seconds(), 1) if start and finish else None,
            "start_lsn": format_lsn(start_lsn) if start_lsn else None,
            "finish_lsn": format_lsn(finish_lsn) if finish_lsn else None,
            "pg_version": raw.get("pg_version"),
            "hostname": raw.get("hostname"),
            "data_dir": raw.get("data_dir"),
            "system_identifier": raw.get("system_identifier"),
            "is_permanent": bool(raw.get("is_permanent", False)),
            "is_delta": base_wal is not None,
            "is_full": base_wal is None,
            "delta_base_wal_file": base_wal,
            "delta_base": None,
            "delta_full": None,
            "restorable": base_wal is None,
            "compressed_size": raw.get("compressed_size"),
            "uncompressed_size": raw.get("uncompressed_size"),
            "user_data": raw.get("user_data"),
        })

    backups.sort(key=lambda b: (b["start_time"] or "", b["name"]))
    _link_deltas(backups)
    return backups


def _link_deltas(backups):
    """Resolve each delta's base (the newest earlier backup with the WAL file
    name the delta's name carries) and the full at the root of its chain."""
    for index, backup in enumerate(backups):
        if not backup["is_delta"]:
            continue
        earlier = [b for b in backups[:index] if b["wal_file_name"] == backup["delta_base_wal_file"]]
        backup["delta_base"] = earlier[-1]["name"] if earlier else None
    by_name = dict((b["name"], b) for b in backups)
    for backup in backups:
        if not backup["is_delta"]:
            continue
        seen, current = set(), backup
        while current is not None and current["is_delta"] and current["name"] not in seen:
            seen.add(current["name"])
            current = by_name.get(current["delta_base"])
        if current is not None and current["is_full"]:
            backup["delta_full"] = current["name"]
            backup["restorable"] = True


def delta_chain(backup, backups):
    """Names of the backups a delta needs, nearest base first ([] for a full)."""
    by_name = dict((b["name"], b) for b in backups)
    chain, current = [], backup
    while current is not None and current.get("is_delta") and current.get("delta_base"):
        if current["delta_base"] in chain:
            break
        chain.append(current["delta_base"])
        current = by_name.get(current["delta_base"])
    return chain


def walg_error_line(stderr, rc=None):
    """wal-g's last error as one line, without the log timestamp.

    Continuation lines of a multi-line error (AWS SDK 'caused by:' and
    'status code:' lines) are joined to it. Everything else on stderr (which
    at DEVEL log level includes the settings) is left out.
    """
    lines = [line.rstrip() for line in (stderr or "").splitlines() if line.strip()]
    start = None
    for index, line in enumerate(lines):
        if line.startswith("ERROR: ") or line.startswith("panic: "):
            start = index
    if start is None:
        tail = [line for line in lines if not _LOG_LINE.match(line)] or lines
        text = tail[-1].strip() if tail else ("exit code %s" % rc if rc is not None else "no output")
    else:
        match = _LOG_LINE.match(lines[start])
        parts = [match.group(2) if match else lines[start]]
        for line in lines[start + 1:]:
            if _LOG_LINE.match(line) or line.startswith("goroutine "):
                break
            parts.append(line.strip())
        text = " ".join(part for part in parts if part)
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= 400 else text[:397] + "..."


def parse_wal_verify(stdout):
    """Checks from `wal-g wal-verify integrity timeline --json`, keyed by
    check name: {status, ok, details}. ok is True only for status OK."""
    data = _load_json(stdout, "wal-verify")
    if not isinstance(data, dict):
        raise WalgOutputError("wal-g wal-verify: expected a JSON object keyed by check")
    checks = {}
    for name, result in data.items():
        result = result or {}
        status = result.get("status")
        checks[name] = {"status": status, "ok": status == "OK", "details": result.get("details")}
    return checks


# --- PITR window, archiver, RPO --------------------------------------------------------

ARCHIVER_QUERY = (
    "SELECT pg_is_in_recovery(), a.archived_count, a.last_archived_wal, a.last_archived_time,"
    " a.failed_count, a.last_failed_wal, a.last_failed_time, a.stats_reset,"
    " (SELECT setting FROM pg_settings WHERE name = 'archive_mode'),"
    " (SELECT setting FROM pg_settings WHERE name = 'archive_timeout')"
    " FROM pg_stat_archiver a")


def empty_archiver(checked=False, error=None):
    return {
        "checked": checked, "available": False, "error": error, "in_recovery": None,
        "archive_mode": None, "archive_timeout_seconds": None,
        "archived_count": None, "last_archived_wal": None, "last_archived_time": None,
        "last_archived_age_seconds": None, "failed_count": None, "last_failed_wal": None,
        "last_failed_time": None, "stats_reset": None, "failing": None,
    }


def read_archiver(cursor, now):
    """pg_stat_archiver, archive_mode and archive_timeout through a DB-API
    cursor. On a server in recovery the numbers are reported but not judged
    (failing is None)."""
    cursor.execute(ARCHIVER_QUERY)
    row = cursor.fetchone()
    (in_recovery, archived, last_wal, last_time, failed, failed_wal, failed_time, reset,
     mode, timeout) = row
    result = empty_archiver(checked=True)
    last_time = parse_time(last_time) if last_time is not None else None
    failed_time = parse_time(failed_time) if failed_time is not None else None
    result.update({
        "available": True,
        "in_recovery": bool(in_recovery),
        "archive_mode": mode,
        "archive_timeout_seconds": int(timeout) if timeout not in (None, "") else None,
        "archived_count": archived,
        "last_archived_wal": last_wal,
        "last_archived_time": iso(last_time),
        "last_archived_age_seconds": age_seconds(last_time, now),
        "failed_count": failed,
        "last_failed_wal": failed_wal,
        "last_failed_time": iso(failed_time),
        "stats_reset": iso(reset) if reset is not None else None,
    })
    if not result["in_recovery"]:
        # Failing: the last attempt failed, i.e. no success since the last failure.
        result["failing"] = bool(failed_time and (last_time is None or failed_time > last_time))
    return result


def _archiver_time(archiver):
    """last_archived_time when the archiver's numbers can be trusted, else None."""
    if not archiver or not archiver.get("available") or archiver.get("in_recovery"):
        return None
    return parse_time(archiver["last_archived_time"]) if archiver.get("last_archived_time") else None


def restorable_backups(backups):
    return [b for b in backups if b.get("restorable", b.get("is_full")) and b.get("finish_time")]


def pitr_window(backups, archiver=None):
    """{earliest, latest, latest_source}: earliest is the finish of the oldest
    restorable backup; latest the archiver's last_archived_time when it can
    be trusted (not in recovery) and is later, else the newest backup's
    finish. All None without backups."""
    usable = restorable_backups(backups)
    if not usable:
        return {"earliest": None, "latest": None, "latest_source": None}
    finishes = [parse_time(b["finish_time"]) for b in usable]
    earliest, latest, source = min(finishes), max(finishes), "backup"
    archived = _archiver_time(archiver)
    if archived is not None and archived > latest:
        latest, source = archived, "archiver"
    return {"earliest": iso(earliest), "latest": iso(latest), "latest_source": source}


def rpo_seconds(archiver, now):
    """now - last_archived_time: the data an archive-only restore would lose
    at most if the primary were lost now. None when unknown."""
    return age_seconds(_archiver_time(archiver), now)


def summarize(backups, now, archiver=None):
    """The module's result apart from restore_plan."""
    newest = backups[-1] if backups else None
    newest_finish = newest and (newest["finish_time"] or newest["start_time"])
    return {
        "backups": backups,
        "count": len(backups),
        "full_count": len([b for b in backups if b["is_full"]]),
        "delta_count": len([b for b in backups if b["is_delta"]]),
        "last_backup": newest,
        "last_backup_age_seconds": age_seconds(newest_finish, now),
        "pitr_window": pitr_window(backups, archiver),
        "rpo_seconds": rpo_seconds(archiver, now),
        "archiver": archiver if archiver is not None else empty_archiver(),
    }


# --- Restore planning ---------------------------------------------------------------


def parse_restore_target(target):
    """(kind, value) from a restore target; the syntax only, no backups needed.

    kind is latest, time (value: aware UTC datetime), backup (value: name) or
    lsn (value: int). Raises RestoreTargetError with one line.
    """
    text = ("" if target is None else str(target)).strip()
    if not text:
        raise RestoreTargetError("restore target is empty: use latest, a time with a zone, a backup name or an LSN")
    if text.lower() == "latest":
        return "latest", None
    if text.startswith("base_"):
        return "backup", text
    if "/" in text:
        try:
            return "lsn", parse_lsn(text)
        except ValueError:
            raise RestoreTargetError(
                "restore target %r is not a valid LSN: expected two hex numbers of up to 8 digits, "
                "like 3/B374D848" % text)
    if re.match(r"^\d{4}-\d", text):
        try:
            return "time", parse_time(text)
        except MissingTimeZoneError:
            raise RestoreTargetError(
                "restore target time %r has no time zone: add Z or an offset, e.g. %s+00:00"
                % (text, text.replace(" ", "T")))
        except ValueError as exc:
            reason = str(exc) if not str(exc).startswith("not an ISO") else "not ISO 8601"
            raise RestoreTargetError("restore target time %r is not a valid time: %s" % (text, reason))
    raise RestoreTargetError(
        "restore target %r is not one of: latest, a time with a zone (2026-11-26T14:03:00Z), "
        "a backup name (base_...) or an LSN (3/B374D848)" % text)


def nearest_names(name, names, count=3):
    """The names closest to a mistyped one: by WAL position when both are
    backup names, by spelling otherwise."""
    wanted = split_backup_name(name)
    if wanted:
        position = int(wanted[0], 16)

        def distance(candidate):
            parts = split_backup_name(candidate)
            return (abs(int(parts[0], 16) - position) if parts else float("inf"), candidate)
        return sorted(names, key=distance)[:count]
    return sorted(names, key=lambda n: (-difflib.SequenceMatcher(None, name, n).ratio(), n))[:count]


def _recovery_settings(**target):
    settings = dict(target)
    settings.update(recovery_target_action="promote", recovery_target_timeline="latest")
    return settings


def plan_restore(target, backups, now, latest_recoverable=None):
    """Which backup to fetch and which recovery settings reach the target.

    target: latest, a time with a zone, a backup name or an LSN.
    backups: parse_backup_list() output. now: aware datetime (or ISO text).
    latest_recoverable: the newest point the WAL archive is known to reach
    (the archiver's last_archived_time); a time after it is refused. None:
    unknown, not checked.

    Returns {kind, target, backup_name, backup_finish_time, recovery_target}
    or raises RestoreTargetError with one line for the operator.
    """
    kind, value = parse_restore_target(target)
    now = parse_time(now)
    if not backups:
        raise RestoreTargetError("no backups in storage: there is nothing to restore from")
    usable = restorable_backups(backups)
    if not usable:
        raise RestoreTargetError("no restorable backup in storage: every delta misses its base")

    def plan(backup, shown, **recovery):
        return {"kind": kind, "target": shown, "backup_name": backup["name"],
                "backup_finish_time": backup["finish_time"], "recovery_target": _recovery_settings(**recovery)}

    if kind == "latest":
        return plan(usable[-1], "latest")

    if kind == "backup":
        by_name = dict((b["name"], b) for b in backups)
        if value not in by_name:
            raise RestoreTargetError("backup %s is not in storage; nearest: %s"
                                     % (value, ", ".join(nearest_names(value, list(by_name)))))
        backup = by_name[value]
        if backup not in usable:
            raise RestoreTargetError("backup %s is a delta whose base %s is not in storage"
                                     % (value, backup.get("delta_base") or backup.get("delta_base_wal_file")))
        return plan(backup, value, recovery_target="immediate")

    if kind == "time":
        shown = iso(value)
        if value > now:
            raise RestoreTargetError("restore target time %s is in the future (now %s)" % (shown, iso(now)))
        oldest = min(usable, key=lambda b: parse_time(b["finish_time"]))
        earliest = parse_time(oldest["finish_time"])
        if value < earliest:
            raise RestoreTargetError(
                "restore target time %s is before the PITR window, which starts at %s (end of the oldest "
                "backup %s)" % (shown, iso(earliest), oldest["name"]))
        if latest_recoverable is not None and value > parse_time(latest_recoverable):
            raise RestoreTargetError(
                "restore target time %s is after the last archived WAL (%s): that data is not in the "
                "archive; use latest" % (shown, iso(latest_recoverable)))
        candidates = [b for b in usable if parse_time(b["finish_time"]) <= value]
        backup = max(candidates, key=lambda b: (parse_time(b["finish_time"]), b["start_time"]))
        return plan(backup, shown, recovery_target_time=value.isoformat(sep=" "))

    # kind == "lsn"
    shown = format_lsn(value)
    with_lsn = [b for b in usable if b.get("finish_lsn")]
    if not with_lsn:
        raise RestoreTargetError("restore target LSN %s: no backup records its finish LSN" % shown)
    oldest = min(with_lsn, key=lambda b: parse_lsn(b["finish_lsn"]))
    if value < parse_lsn(oldest["finish_lsn"]):
        raise RestoreTargetError(
            "restore target LSN %s is before the end of the oldest backup %s (finish LSN %s)"
            % (shown, oldest["name"], oldest["finish_lsn"]))
    candidates = [b for b in with_lsn if parse_lsn(b["finish_lsn"]) <= value]
    backup = max(candidates, key=lambda b: (parse_lsn(b["finish_lsn"]), b["start_time"]))
    return plan(backup, shown, recovery_target_lsn=shown)


# --- Retention -------------------------------------------------------------------------


def retention_plan(backups, now, full_days=30, delta_days=7, pitr_days=7):
    """Which backups a retention run deletes.

    Deletes deltas finished more than delta_days ago and fulls finished more
    than full_days ago (exactly N days is kept), except:
      * permanent backups;
      * the newest full;
      * any backup a kept delta is built on (its whole chain);
      * the PITR anchor: the newest restorable backup that finished at or
        before now - pitr_days (or, when none did yet, the oldest restorable
        one), with its chain, so the oldest recoverable point never moves
        later than now - pitr_days.
    Returns {delete: [names], keep: [names], reasons: {name: why}}, each list
    oldest first.
    """
    for label, days in (("full_days", full_days), ("delta_days", delta_days), ("pitr_days", pitr_days)):
        if days is None or days < 0:
            raise ValueError("%s must be 0 or more, got %r" % (label, days))
    now = parse_time(now)
    ordered = sorted(backups, key=lambda b: (b.get("start_time") or "", b["name"]))
    by_name = dict((b["name"], b) for b in ordered)
    reasons, keep = {}, set()

    def hold(name, why):
        if name not in keep:
            keep.add(name)
            reasons[name] = why

    def days_old(backup):
        finish = backup.get("finish_time") or backup.get("start_time")
        return (now - parse_time(finish)).total_seconds() / 86400.0 if finish else None

    for backup in ordered:
        if backup.get("is_permanent"):
            hold(backup["name"], "permanent")

    fulls = [b for b in ordered if not b.get("is_delta")]
    if fulls:
        hold(fulls[-1]["name"], "newest full")

    usable = restorable_backups(ordered)
    cutoff = now - datetime.timedelta(days=pitr_days)
    before_cutoff = [b for b in usable if parse_time(b["finish_time"]) <= cutoff]
    if before_cutoff:
        anchor = max(before_cutoff, key=lambda b: (parse_time(b["finish_time"]), b["start_time"] or ""))
        hold(anchor["name"], "oldest recoverable point for the %d-day PITR window" % pitr_days)
    elif usable:
        anchor = min(usable, key=lambda b: parse_time(b["finish_time"]))
        hold(anchor["name"], "oldest recoverable point; the archive does not reach %d days back yet" % pitr_days)

    for backup in ordered:
        name, age = backup["name"], days_old(backup)
        if name in keep:
            continue
        limit, what = (delta_days, "delta") if backup.get("is_delta") else (full_days, "full")
        if age is not None and age > limit:
            reasons[name] = "%s finished %.1f days ago, older than %d days" % (what, age, limit)
        else:
            hold(name, "%s within %d days" % (what, limit) if age is not None else "age unknown")

    # A kept delta needs its whole chain; repeat until nothing new is held.
    changed = True
    while changed:
        changed = False
        for name in list(keep):
            backup = by_name[name]
            for base in delta_chain(backup, ordered):
                if base in by_name and base not in keep:
                    hold(base, "base of kept delta %s" % name)
                    changed = True

    return {
        "delete": [b["name"] for b in ordered if b["name"] not in keep],
        "keep": [b["name"] for b in ordered if b["name"] in keep],
        "reasons": reasons,
    }
