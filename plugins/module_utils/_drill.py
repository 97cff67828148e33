# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drill bookkeeping: judge measured steps against the plan's objectives and
each step's own checks, keep a history of drills, and render the result as
JSON, as the plan's incident-report Markdown and as an SVG timeline.

Private to the fulexo.dr collection; pure functions (no file access), unit-tested.
The JSON layout is described in docs/drill-report-schema.md.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import math
import re

from xml.sax.saxutils import escape

SCHEMA_VERSION = 2
STATUSES = ("passed", "failed", "not_run")
OUTCOMES = ("passed", "failed", "incomplete")
CHECK_KEYS = ("name", "measured", "limit", "unit", "recovery")
# The plan's SLA arithmetic: 99.9 % of a 30-day month leaves 43.2 minutes.
SLA_MONTH_SECONDS = 30 * 86400
DEFAULT_SLA_PERCENT = 99.9

# measured.* keys the report reads, and what they must hold.
_MEASURED_SECONDS = ("rto_seconds", "rpo_seconds", "lost_span_seconds", "unavailable_seconds")
_MEASURED_COUNTS = ("acknowledged_writes_lost", "acknowledged_writes_checked")


class DrillInputError(ValueError):
    pass


def parse_time(value):
    """ISO 8601 with a zone, or epoch seconds, to an aware UTC datetime."""
    if isinstance(value, bool):
        raise DrillInputError("not a timestamp: %r (use ISO 8601 with a time zone)" % (value,))
    if isinstance(value, (int, float)):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise DrillInputError("not a timestamp: %r (use ISO 8601 with a time zone)" % (value,))
    if parsed.tzinfo is None:
        raise DrillInputError("timestamp without a time zone: %r" % (value,))
    return parsed.astimezone(datetime.timezone.utc)


def iso(moment):
    return moment.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def to_number(value, what, allow_none=False):
    """A measurement or limit as int/float; numeric strings are accepted,
    booleans, NaN and infinities are not. None only when allow_none."""
    if value is None:
        if allow_none:
            return None
        raise DrillInputError("%s is missing" % what)
    if isinstance(value, bool):
        raise DrillInputError("%s: %r is not a number" % (what, value))
    if isinstance(value, (int, float)):
        number = value
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            raise DrillInputError("%s: %r is not a number" % (what, value))
    if isinstance(number, float) and (math.isnan(number) or math.isinf(number)):
        raise DrillInputError("%s: %r is not a finite number" % (what, value))
    return number


def _count(value, what):
    number = to_number(value, what, allow_none=True)
    if number is None:
        return None
    if number < 0 or number != int(number):
        raise DrillInputError("%s: %r is not a whole number of writes" % (what, value))
    return int(number)


def _verdict(objective, name, measured, limit, unit, cls=None):
    if measured is None:
        met, outcome = False, "not measured"
    else:
        met = measured <= limit
        outcome = "met" if met else "missed"
    return {"objective": objective, "name": name, "class": cls, "measured": measured, "limit": limit,
            "unit": unit, "met": met, "result": outcome}


def _judge_check(step_name, index, check):
    where = "step %r, check %d" % (step_name, index + 1)
    if not isinstance(check, dict):
        raise DrillInputError("%s is not a dict with name, measured, limit and unit: %r" % (where, check))
    unknown = sorted(set(check) - set(CHECK_KEYS))
    if unknown:
        raise DrillInputError("%s: unknown key(s) %s (known: %s)" % (where, ", ".join(unknown), ", ".join(CHECK_KEYS)))
    if not check.get("name"):
        raise DrillInputError("%s has no name (say what it checks, e.g. 'database writable again')" % where)
    where = "step %r, check %r" % (step_name, check["name"])
    if not check.get("unit"):
        raise DrillInputError("%s has no unit (s, writes, bytes, ...)" % where)
    limit = to_number(check.get("limit"), "%s: limit" % where)
    measured = to_number(check.get("measured"), "%s: measured" % where, allow_none=True)
    recovery = check.get("recovery", False)
    if not isinstance(recovery, bool):
        raise DrillInputError("%s: recovery must be true or false, not %r" % (where, recovery))
    if recovery and check["unit"] != "s":
        raise DrillInputError("%s: only a check in seconds (unit s) can be the recovery time" % where)
    verdict = _verdict("check", str(check["name"]), measured, limit, str(check["unit"]))
    verdict["recovery"] = recovery
    return verdict


def judge_step(step, objectives):
    """Normalise one step and compare what it measured with the objectives.

    A step must say its status (passed, failed or not_run). It may carry
    measured.rto_seconds with a tier (critical, important, non_critical),
    measured.rpo_seconds with a data class (database, ...), and checks: its
    own objectives as {name, measured, limit, unit}. A measurement over its
    limit, or a check with nothing measured, fails a step that said passed.
    """
    if not isinstance(step, dict):
        raise DrillInputError("a step is not a dict: %r" % (step,))
    name = step.get("name")
    if not name:
        raise DrillInputError("a step has no name: %r" % (step,))
    status = step.get("status")
    if status is None or status == "":
        raise DrillInputError("step %r has no status: say passed, failed or not_run (a step without a status "
                              "is never counted as passed)" % (name,))
    if status not in STATUSES:
        raise DrillInputError("step %r: status %r is not one of %s" % (name, status, ", ".join(STATUSES)))
    raw_measured = step.get("measured") or {}
    if not isinstance(raw_measured, dict):
        raise DrillInputError("step %r: measured must be a dict, not %r" % (name, raw_measured))
    measured = dict(raw_measured)
    for key in _MEASURED_SECONDS:
        if key in measured:
            measured[key] = to_number(measured[key], "step %r: measured.%s" % (name, key), allow_none=True)
            if measured[key] is not None and measured[key] < 0:
                raise DrillInputError("step %r: measured.%s is negative (%r)" % (name, key, measured[key]))
    for key in _MEASURED_COUNTS:
        if key in measured:
            measured[key] = _count(measured[key], "step %r: measured.%s" % (name, key))
    out = {
        "name": str(name),
        "status": status,
        "reported_status": status,
        "detail": step.get("detail") or "",
        "measured": measured,
        "verdicts": [],
        "recovery_seconds": None,
    }
    if step.get("started") is not None:
        out["started"] = iso(parse_time(step["started"]))
    if step.get("finished") is not None:
        out["finished"] = iso(parse_time(step["finished"]))
    if "started" in out and "finished" in out:
        seconds = (parse_time(step["finished"]) - parse_time(step["started"])).total_seconds()
        if seconds < 0:
            raise DrillInputError("step %r finished (%s) before it started (%s)"
                                  % (name, out["finished"], out["started"]))
        out["duration_seconds"] = round(seconds, 3)

    tiers = (("rto_seconds", step.get("tier"), objectives.get("rto_seconds") or {}, "RTO"),
             ("rpo_seconds", step.get("data_class"), objectives.get("rpo_seconds") or {}, "RPO"))
    for key, cls, table, label in tiers:
        if key not in measured or cls is None:
            continue
        if cls not in table:
            raise DrillInputError("step %r: no %s objective for %r (known: %s)"
                                  % (name, label, cls, ", ".join(sorted(table))))
        if table[cls] is None:
            continue
        limit = to_number(table[cls], "%s objective for %r" % (label, cls))
        out["verdicts"].append(_verdict(label, "%s %s" % (label, cls), measured[key], limit, "s", cls))

    checks = step.get("checks") or []
    if not isinstance(checks, list):
        raise DrillInputError("step %r: checks must be a list, not %r" % (name, checks))
    out["verdicts"] += [_judge_check(name, index, check) for index, check in enumerate(checks)]

    recovery = [v for v in out["verdicts"] if v.get("recovery")]
    if len(recovery) > 1:
        raise DrillInputError("step %r: more than one check is marked as the recovery time (%s)"
                              % (name, ", ".join(v["name"] for v in recovery)))
    if recovery:
        out["recovery_seconds"] = recovery[0]["measured"]
    elif measured.get("rto_seconds") is not None:
        out["recovery_seconds"] = measured["rto_seconds"]

    if status == "passed" and not all(v["met"] for v in out["verdicts"]):
        out["status"] = "failed"
    return out


def _impact(steps):
    """Data loss and unavailability from what the steps measured, never from RPO figures."""
    measuring = [s for s in steps if s["measured"].get("acknowledged_writes_lost") is not None]
    impact = {
        "data_loss": "not_measured",
        "acknowledged_writes_lost": None,
        "lost_span_seconds": None,
        "lost_span_complete": None,
        "acknowledged_writes_checked": None,
        "loss_measured_by": [s["name"] for s in measuring],
        "unavailable_seconds": None,
        "unavailability_measured_by": [],
    }
    if measuring:
        lost = sum(s["measured"]["acknowledged_writes_lost"] for s in measuring)
        impact["acknowledged_writes_lost"] = lost
        impact["data_loss"] = "yes" if lost else "no"
        losing = [s for s in measuring if s["measured"]["acknowledged_writes_lost"]]
        spans = [s["measured"].get("lost_span_seconds") for s in losing]
        known = [span for span in spans if span is not None]
        if known:
            impact["lost_span_seconds"] = round(sum(known), 3)
        if losing:
            impact["lost_span_complete"] = len(known) == len(spans)
        checked = [s["measured"].get("acknowledged_writes_checked") for s in measuring]
        if checked and all(c is not None for c in checked):
            impact["acknowledged_writes_checked"] = sum(checked)
    unavailable = [s for s in steps if s["measured"].get("unavailable_seconds") is not None]
    if unavailable:
        impact["unavailable_seconds"] = round(sum(s["measured"]["unavailable_seconds"] for s in unavailable), 3)
        impact["unavailability_measured_by"] = [s["name"] for s in unavailable]
    return impact


# --- Write probe ----------------------------------------------------------------

PROBE_STEP = "database writes through the load balancer (whole drill)"
PROBE_WAIT_CHECK = "writes acknowledged again (the write probe's longest wait)"
PROBE_LOST_CHECK = "acknowledged writes lost"
_PROBE_STEP_KEYS = ("probe_limit_seconds", "probe_lost_limit")


def _epoch(value):
    return parse_time(value).timestamp()


def probe_window(probe, start, end):
    """What the write probe saw between start and end (epoch seconds).

    The longest wait counts the window's edges. A window the probe did not
    run through from start to end was not measured: its figures are None.
    """
    if not probe or not (probe["started_at"] <= start and end <= probe["ended_at"]):
        return {"covered": False, "acknowledged": None, "longest_gap_seconds": None, "lost": None,
                "lost_span_seconds": None}
    acks = [at for at in probe["ack_times"] if start <= at <= end]
    points = [start] + acks + [end]
    gap = max(after - before for before, after in zip(points, points[1:]))
    lost_times = probe.get("lost_times")
    lost = None if lost_times is None else [at for at in lost_times if start <= at <= end]
    return {
        "covered": True,
        "acknowledged": len(acks),
        "longest_gap_seconds": round(gap, 3),
        "lost": None if lost is None else len(lost),
        "lost_span_seconds": None if lost is None else (round(lost[-1] - lost[0], 3) if lost else 0.0),
    }


def _probe_keys(step, default_lost_limit):
    limit = step.get("probe_limit_seconds")
    lost_limit = step.get("probe_lost_limit", default_lost_limit)
    where = "step %r" % step.get("name")
    limit = to_number(limit, "%s: probe_limit_seconds" % where, allow_none=True)
    lost_limit = to_number(lost_limit, "%s: probe_lost_limit" % where)
    return limit, lost_limit


def apply_probe(steps, probe, probe_error=None, lost_limit=0):
    """Give every step that ran the write probe's view of its own time span.

    probe is the probe's summary (dr_write_probe.py: ack_times, lost_times,
    writable_members, started_at, ended_at), or None when it left no record
    (probe_error says why). Each step with started/finished gets, in
    measured, the longest wait for an acknowledged write, the writes
    acknowledged and lost in its span; a step with probe_limit_seconds also
    gets two checks: the longest wait within that limit (its recovery time)
    and lost writes within probe_lost_limit (default lost_limit). A step that needs
    the probe when there is no record fails those checks (not measured).
    A step with own_probe true measured its writes itself and is left as it is.

    A drill-wide step is added: no two writable primaries at any time and no
    acknowledged write lost anywhere, including between steps.
    """
    if not isinstance(steps, list):
        raise DrillInputError("steps must be a list, not %r" % (steps,))
    out = []
    for step in steps:
        if not isinstance(step, dict):
            out.append(step)
            continue
        step = dict(step)
        limit, step_lost_limit = _probe_keys(step, lost_limit)
        for key in _PROBE_STEP_KEYS:
            step.pop(key, None)
        ran = step.get("status") != "not_run" and step.get("started") is not None and step.get("finished") is not None
        # A step that wrote through a path of its own (the data-centre outage,
        # through the service name) is not judged by what the load balancer saw.
        if step.pop("own_probe", False) or not ran:
            out.append(step)
            continue
        view = probe_window(probe, _epoch(step["started"]), _epoch(step["finished"]))
        if view["covered"]:
            measured = dict(step.get("measured") or {})
            measured.update({
                "unavailable_seconds": view["longest_gap_seconds"],
                "acknowledged_writes_checked": view["acknowledged"],
            })
            if view["lost"] is not None:
                measured["acknowledged_writes_lost"] = view["lost"]
                measured["lost_span_seconds"] = view["lost_span_seconds"]
                # The real RPO of a database step: the span its lost writes cover.
                if step.get("data_class") == "database" and measured.get("rpo_seconds") is None:
                    measured["rpo_seconds"] = view["lost_span_seconds"]
            step["measured"] = measured
        if limit is not None:
            step["checks"] = list(step.get("checks") or []) + [
                {"name": PROBE_WAIT_CHECK, "measured": view["longest_gap_seconds"], "limit": limit, "unit": "s",
                 "recovery": True},
                {"name": PROBE_LOST_CHECK, "measured": view["lost"], "limit": step_lost_limit, "unit": "writes"},
            ]
        out.append(step)
    if probe is None:
        if probe_error:
            out.append({"name": PROBE_STEP, "status": "failed",
                        "detail": "the write probe left no record: %s" % probe_error})
        return out
    members = [count for at, count in probe.get("writable_members") or []]
    lost_times = probe.get("lost_times")
    gap_from = probe.get("longest_gap_from")
    out.append({
        "name": PROBE_STEP,
        "status": "passed",
        "started": probe["started_at"],
        "finished": probe["ended_at"],
        "detail": "%d writes acknowledged, %s lost; longest wait %s s (from %s s after the probe started); "
                  "at most %s member(s) accepted writes at once" % (
                      len(probe["ack_times"]), "not checked how many were" if lost_times is None else len(lost_times),
                      _num(probe.get("longest_gap_seconds")), _num(gap_from),
                      "(not watched)" if not members else max(members)),
        "checks": [
            {"name": "acknowledged writes lost, whole drill",
             "measured": None if lost_times is None else len(lost_times), "limit": lost_limit, "unit": "writes"},
        ] + ([{"name": "members accepting writes at once", "measured": max(members), "limit": 1,
               "unit": "members"}] if members else []),
    })
    return out


# --- User-facing probe ------------------------------------------------------------

def user_probe_window(summary, start, end):
    """What the user-facing probe (dr_http_probe.py) saw between start and end.

    summary holds per-second counts ("seconds": [second, requests, failed])
    and the failing spans ("spans": [from, to], from a failed answer to the
    next good one). A window the probe did not cover from start to end was
    not measured: its figures are None.
    """
    if not summary or not (summary["started_at"] <= start and end <= summary["ended_at"]):
        return {"covered": False, "requests": None, "failed": None, "longest_failure_seconds": None}
    # The seconds that overlap [start, end).
    rows = [row for row in summary.get("seconds") or [] if start - 1 < row[0] < end]
    longest = 0.0
    for began, ended in summary.get("spans") or []:
        overlap = min(ended, end) - max(began, start)
        longest = max(longest, overlap)
    return {
        "covered": True,
        "requests": sum(row[1] for row in rows),
        "failed": sum(row[2] for row in rows),
        "longest_failure_seconds": round(longest, 3),
    }


def apply_user_probe(steps, summary):
    """Give every step that ran what users saw through the load balancer in its span.

    Adds measured.user_requests, user_requests_failed and
    user_unavailable_seconds beside the database figures; a step that
    measured them itself (the application step) keeps its own.
    """
    out = []
    for step in steps:
        ran = isinstance(step, dict) and step.get("status") != "not_run" \
            and step.get("started") is not None and step.get("finished") is not None
        if not ran or "user_requests" in (step.get("measured") or {}):
            out.append(step)
            continue
        view = user_probe_window(summary, _epoch(step["started"]), _epoch(step["finished"]))
        if view["covered"]:
            step = dict(step)
            step["measured"] = dict(step.get("measured") or {}, user_requests=view["requests"],
                                    user_requests_failed=view["failed"],
                                    user_unavailable_seconds=view["longest_failure_seconds"])
        out.append(step)
    return out


def user_probe_totals(summary):
    """The whole drill as users saw it through the load balancer.

    Taken from the probe's own record, not summed over steps: a step that
    spans the whole drill (the write probe's) would count every request twice.
    """
    whole = user_probe_window(summary, summary["started_at"], summary["ended_at"])
    return {
        "requests": whole["requests"],
        "failed": whole["failed"],
        "failing_seconds": round(sum(max(0.0, ended - began) for began, ended in summary.get("spans") or []), 3),
        "longest_failure_seconds": whole["longest_failure_seconds"],
        "url": summary.get("url"),
    }


def build_result(name, started, finished, steps, objectives, scenario="", user_probe=None):
    """A judged drill; user_probe is the user-facing probe's summary, if one ran."""
    if not isinstance(steps, list):
        raise DrillInputError("steps must be a list, not %r" % (steps,))
    judged = [judge_step(step, objectives) for step in steps]
    counts = dict((s, sum(1 for j in judged if j["status"] == s)) for s in STATUSES)
    if counts["failed"]:
        outcome = "failed"
    elif counts["not_run"] or not judged:
        # A drill that skipped steps has not shown the plan works.
        outcome = "incomplete"
    else:
        outcome = "passed"
    start, end = parse_time(started), parse_time(finished)
    if end < start:
        raise DrillInputError("the drill finished (%s) before it started (%s)" % (iso(end), iso(start)))
    for step in judged:
        if "started" in step:
            step["start_offset_seconds"] = round((parse_time(step["started"]) - start).total_seconds(), 3)
        if "finished" in step:
            step["end_offset_seconds"] = round((parse_time(step["finished"]) - start).total_seconds(), 3)
    result = {
        "schema_version": SCHEMA_VERSION,
        "drill": name,
        "scenario": scenario,
        "started": iso(start),
        "finished": iso(end),
        "duration_seconds": round((end - start).total_seconds(), 3),
        "outcome": outcome,
        "counts": counts,
        "steps": judged,
        "objectives": objectives,
        "impact": _impact(judged),
    }
    result["impact"]["users"] = user_probe_totals(user_probe) if user_probe else None
    return result


# --- History ------------------------------------------------------------------

def history_entry(result):
    """The one line a drill adds to its history file."""
    return {
        "schema_version": SCHEMA_VERSION,
        "drill": result["drill"],
        "started": result["started"],
        "finished": result["finished"],
        "outcome": result["outcome"],
        "unavailable_seconds": result["impact"]["unavailable_seconds"],
        "acknowledged_writes_lost": result["impact"]["acknowledged_writes_lost"],
        "steps": [{
            "name": s["name"],
            "status": s["status"],
            "recovery_seconds": s["recovery_seconds"],
            "unavailable_seconds": s["measured"].get("unavailable_seconds"),
            "acknowledged_writes_lost": s["measured"].get("acknowledged_writes_lost"),
        } for s in result["steps"]],
    }


def _history_line_error(entry):
    """Why a parsed history line cannot be counted, or None."""
    if not isinstance(entry, dict):
        return "not a JSON object"
    if entry.get("outcome") not in OUTCOMES:
        return "outcome %r is not one of %s" % (entry.get("outcome"), ", ".join(OUTCOMES))
    for key in ("started", "finished"):
        if entry.get(key) is None:
            return "no %s time" % key
        try:
            parse_time(entry[key])
        except DrillInputError as exc:
            return "%s: %s" % (key, exc)
    try:
        to_number(entry.get("unavailable_seconds"), "unavailable_seconds", allow_none=True)
        steps = entry.get("steps", [])
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            return "steps is not a list of objects"
        for step in steps:
            to_number(step.get("recovery_seconds"), "a step's recovery_seconds", allow_none=True)
    except DrillInputError as exc:
        return str(exc)
    return None


def parse_history(lines):
    """Read a history file's lines (str or bytes). Returns (entries, skipped):
    the usable entries, and {line, reason} for every line that is not one.
    Blank lines are neither."""
    entries, skipped = [], []
    for number, line in enumerate(lines, 1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError:
                skipped.append({"line": number, "reason": "not UTF-8 text"})
                continue
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError as exc:
            skipped.append({"line": number, "reason": "not JSON (%s)" % exc})
            continue
        reason = _history_line_error(entry)
        if reason:
            skipped.append({"line": number, "reason": reason})
        else:
            entries.append(entry)
    return entries, skipped


def summarize_backups(backup_results):
    """Backup success rate from [{finished, ok}]; None or [] means none given."""
    if backup_results is None:
        backup_results = []
    if not isinstance(backup_results, list):
        raise DrillInputError("backup_results must be a list of {finished, ok}, not %r" % (backup_results,))
    runs = []
    for index, item in enumerate(backup_results, 1):
        if not isinstance(item, dict) or "finished" not in item or "ok" not in item:
            raise DrillInputError("backup result %d needs finished (a time) and ok (true or false): %r"
                                  % (index, item))
        if not isinstance(item["ok"], bool):
            raise DrillInputError("backup result %d: ok must be true or false, not %r" % (index, item["ok"]))
        try:
            runs.append((parse_time(item["finished"]), item["ok"]))
        except DrillInputError as exc:
            raise DrillInputError("backup result %d: finished: %s" % (index, exc))
    runs.sort(key=lambda run: run[0])
    ok = sum(1 for run in runs if run[1])
    return {
        "given": bool(runs),
        "count": len(runs),
        "ok": ok,
        "failed": len(runs) - ok,
        "success_rate": round(ok / len(runs), 4) if runs else None,
        "first_finished": iso(runs[0][0]) if runs else None,
        "last_finished": iso(runs[-1][0]) if runs else None,
        "last_ok": runs[-1][1] if runs else None,
    }


def summarize_history(entries, current_started, backups=None, sla_percent=DEFAULT_SLA_PERCENT, skipped=()):
    """Drill metrics over the whole history (the current drill's entry included).

    entries: history entries as written by history_entry (validated by
    parse_history); a drill whose start time appears twice counts once, the
    later line winning. current_started: the reported drill's start, whose
    UTC calendar month is the SLA month.
    """
    sla_percent = to_number(sla_percent, "sla_percent")
    if not 0 < sla_percent < 100:
        raise DrillInputError("sla_percent must be between 0 and 100 (exclusive), not %r" % (sla_percent,))
    by_start = {}
    for entry in entries:
        by_start[iso(parse_time(entry["started"]))] = entry
    drills = sorted(by_start.values(), key=lambda e: parse_time(e["started"]))
    run = len(drills)
    passed = sum(1 for e in drills if e["outcome"] == "passed")
    failed = [parse_time(e["started"]) for e in drills if e["outcome"] == "failed"]

    recoveries = [to_number(s["recovery_seconds"], "recovery_seconds")
                  for e in drills for s in e.get("steps", []) if s.get("recovery_seconds") is not None]
    mtbf = None
    if len(failed) >= 2:
        mtbf = round((failed[-1] - failed[0]).total_seconds() / (len(failed) - 1), 3)

    month = parse_time(current_started)
    this_month = [e for e in drills
                  if (parse_time(e["started"]).year, parse_time(e["started"]).month) == (month.year, month.month)]
    spent = sum(to_number(e["unavailable_seconds"], "unavailable_seconds")
                for e in this_month if e.get("unavailable_seconds") is not None)
    budget = round((100 - sla_percent) / 100 * SLA_MONTH_SECONDS, 3)
    return {
        "drills_run": run,
        "drills_passed": passed,
        "drills_failed": len(failed),
        "drills_incomplete": sum(1 for e in drills if e["outcome"] == "incomplete"),
        "drill_success_rate": round(passed / run, 4) if run else None,
        "first_drill": iso(parse_time(drills[0]["started"])) if drills else None,
        "mttr_seconds": round(sum(recoveries) / len(recoveries), 3) if recoveries else None,
        "mttr_samples": len(recoveries),
        "mtbf_seconds": mtbf,
        "backups": backups if backups is not None else summarize_backups(None),
        "sla": {
            "target_percent": sla_percent,
            "month": "%04d-%02d" % (month.year, month.month),
            "budget_seconds": budget,
            "spent_seconds": round(spent, 3),
            "remaining_seconds": round(budget - spent, 3),
            "exceeded": spent > budget,
            "drills_this_month": len(this_month),
            "drills_without_unavailability": sum(1 for e in this_month if e.get("unavailable_seconds") is None),
        },
        "skipped_lines": list(skipped),
        "duplicate_lines": len(entries) - run,
    }


# --- Text ---------------------------------------------------------------------

def _num(value):
    """12 -> '12', 12.25 -> '12.25', 0.1 + 0.2 -> '0.3'."""
    if value is None:
        return "?"
    if float(value) == int(value):
        return "%d" % value
    return ("%.3f" % value).rstrip("0").rstrip(".")


def _quantity(value, unit):
    if value is None:
        return "not measured"
    if unit == "s":
        return "%.1f s" % value
    return "%s %s" % (_num(value), unit)


def human_seconds(seconds):
    if seconds is None:
        return "not measured"
    size = abs(seconds)
    if size < 120:
        return "%.1f s" % seconds
    if size < 7200:
        return "%.1f min" % (seconds / 60)
    if size < 172800:
        return "%.1f h" % (seconds / 3600)
    return "%.1f days" % (seconds / 86400)


def _exact(seconds):
    """'43.2 min (2592 s)'; seconds alone when short."""
    text = human_seconds(seconds)
    return text if text.endswith(" s") else "%s (%s s)" % (text, _num(round(seconds, 1)))


def _percent(rate):
    return "%.1f %%" % (rate * 100)


def _plural(count, word):
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


def describe_verdict(verdict):
    """'RTO critical 2.5 s vs 3600 s: met', 'database writable again: not measured (limit 30 s)'."""
    limit = "%s %s" % (_num(verdict["limit"]), verdict["unit"])
    if verdict["measured"] is None:
        return "%s: NOT MEASURED (limit %s)" % (verdict["name"], limit)
    return "%s %s vs %s: %s" % (verdict["name"], _quantity(verdict["measured"], verdict["unit"]), limit,
                                "met" if verdict["met"] else "MISSED")


def _line(step):
    if step["status"] == "not_run":
        return "- %s: **not run** (%s)" % (step["name"], step["detail"] or "no reason given")
    extra = []
    if step["reported_status"] != step["status"]:
        extra.append("reported %s" % step["reported_status"].replace("_", " "))
    if "duration_seconds" in step:
        extra.append("%.1f s" % step["duration_seconds"])
    extra += [describe_verdict(v) for v in step["verdicts"]]
    measured = step.get("measured") or {}
    if measured.get("user_requests") is not None:
        extra.append("users through the load balancer: %s of %s requests failed, longest failing span %s" % (
            measured.get("user_requests_failed"), measured["user_requests"],
            human_seconds(measured.get("user_unavailable_seconds") or 0)))
    return "- %s %s: **%s**%s%s" % (
        step.get("started", "")[11:19] or "--:--:--", step["name"], step["status"],
        " (" + "; ".join(extra) + ")" if extra else "", " - " + step["detail"] if step["detail"] else "")


def _lesson(verdict):
    limit = "%s %s" % (_num(verdict["limit"]), verdict["unit"])
    if verdict["objective"] in ("RTO", "RPO"):
        what = "%s objective for %s" % (verdict["objective"], verdict["class"])
    else:
        what = "Check '%s'" % verdict["name"]
    if verdict["measured"] is None:
        return "- %s not measured (limit %s): an objective without a measurement is never met" % (what, limit)
    return "- %s missed: %s measured, %s allowed" % (what, _quantity(verdict["measured"], verdict["unit"]), limit)


def data_loss_line(impact):
    if impact["data_loss"] == "not_measured":
        return "not measured"
    where = ", ".join(impact["loss_measured_by"])
    if impact["data_loss"] == "no":
        if impact["acknowledged_writes_checked"] is None:
            return "NO (no acknowledged write lost; how many were checked was not given; measured by: %s)" % where
        return "NO (%d writes checked; measured by: %s)" % (impact["acknowledged_writes_checked"], where)
    lost = _plural(impact["acknowledged_writes_lost"], "acknowledged write")
    if impact["lost_span_seconds"] is None:
        span = "over a span that was not measured"
    elif impact["lost_span_complete"]:
        span = "covering %.1f s" % impact["lost_span_seconds"]
    else:
        span = "covering at least %.1f s (a span was not measured for every loss)" % impact["lost_span_seconds"]
    return "YES — %s, %s (measured by: %s)" % (lost, span, where)


def _history_lines(result):
    history = result.get("history")
    if not history:
        return []
    lines = ["", "### Drill Metrics (every drill in the history)"]
    run = history["drills_run"]
    lines.append("- Drills run: %d since %s (%d passed, %d failed, %d incomplete)" % (
        run, (history["first_drill"] or "?")[:10], history["drills_passed"], history["drills_failed"],
        history["drills_incomplete"]))
    if history["drill_success_rate"] is not None:
        lines.append("- Drill success rate: %s (%d of %d passed)" % (
            _percent(history["drill_success_rate"]), history["drills_passed"], run))
    if history["mttr_seconds"] is None:
        lines.append("- MTTR: not measured (no step reported a recovery time)")
    else:
        lines.append("- MTTR: %s (mean recovery time of %s)" % (
            human_seconds(history["mttr_seconds"]), _plural(history["mttr_samples"], "recovered step")))
    if history["mtbf_seconds"] is None:
        lines.append("- MTBF: not enough failures (%s in the history; the mean time between failed drills "
                     "needs 2)" % _plural(history["drills_failed"], "failed drill"))
    else:
        lines.append("- MTBF: %s (mean time between %d failed drills)" % (
            human_seconds(history["mtbf_seconds"]), history["drills_failed"]))
    backups = history["backups"]
    if not backups["given"]:
        lines.append("- Backup success rate: no backup results given")
    else:
        lines.append("- Backup success rate: %s (%d of %s from %s to %s; the last one %s)" % (
            _percent(backups["success_rate"]), backups["ok"], _plural(backups["count"], "backup"),
            backups["first_finished"][:10],
            backups["last_finished"][:10], "succeeded" if backups["last_ok"] else "FAILED"))
    for skipped in history["skipped_lines"]:
        lines.append("- Left out: history line %d could not be read (%s)" % (skipped["line"], skipped["reason"]))

    sla = history["sla"]
    lines += ["", "### SLA Budget (%s, %s uptime)" % (sla["month"], _num(sla["target_percent"]) + " %"),
              "- Allowed downtime: %s per 30-day month" % _exact(sla["budget_seconds"])]
    without = sla["drills_without_unavailability"]
    lines.append("- Spent by drills this month: %s over %s%s" % (
        _exact(sla["spent_seconds"]), _plural(sla["drills_this_month"], "drill"),
        " (%s did not measure user-facing unavailability)" % _plural(without, "drill") if without else ""))
    if sla["exceeded"]:
        lines.append("- Remaining: NONE, overspent by %s" % _exact(-sla["remaining_seconds"]))
    else:
        lines.append("- Remaining: %s" % _exact(sla["remaining_seconds"]))
    return lines


def render_markdown(result):
    """The plan's incident-report template, filled from a drill result."""
    steps = result["steps"]
    unmet = [v for s in steps for v in s["verdicts"] if not v["met"]]
    rpo = [(s, v) for s in steps for v in s["verdicts"] if v["objective"] == "RPO"]
    impact = result["impact"]
    lines = [
        "## Incident Report (drill: %s)" % result["drill"],
        "",
        "**Date**: %s" % result["started"][:10],
        "**Duration**: %.1f s" % result["duration_seconds"],
        "**Severity**: drill (no customer impact intended)",
        "**Services Affected**: %s" % (result["scenario"] or "see timeline"),
        "**Outcome**: %s (%d passed, %d failed, %d not run)" % (
            result["outcome"].upper(), result["counts"]["passed"], result["counts"]["failed"],
            result["counts"]["not_run"]),
        "",
        "### Timeline",
        "- %s: Drill started" % result["started"][11:19],
    ]
    lines += [_line(step) for step in steps]
    lines.append("- %s: Drill finished" % result["finished"][11:19])
    svg = (result.get("files") or {}).get("svg")
    if svg:
        lines.append("")
        lines.append("Timeline chart: %s" % svg)
    lines += [
        "",
        "### Root Cause",
        "Simulated: %s" % (result["scenario"] or "see steps"),
        "",
        "### Impact",
        "- Data loss: %s" % data_loss_line(impact),
    ]
    if impact["unavailable_seconds"] is None:
        lines.append("- User-facing unavailability: not measured")
    else:
        lines.append("- User-facing unavailability: %s (measured by: %s)" % (
            human_seconds(impact["unavailable_seconds"]), ", ".join(impact["unavailability_measured_by"])))
    users = impact.get("users")
    if users:
        lines.append("- Through the load balancer (%s, the whole drill): %d of %d requests failed, failing for %s "
                     "in all, the longest span %s (each step's share is in the timeline)" % (
                         users["url"] or "the application", users["failed"], users["requests"],
                         human_seconds(users["failing_seconds"]), human_seconds(users["longest_failure_seconds"])))
    lines += ["- Recovery point of %s: %s (objective %s s for %s)" % (
        s["name"], _quantity(v["measured"], "s"), _num(v["limit"]), v["class"]) for s, v in rpo]
    lines += ["", "### Action Items"]
    actions = []
    for s in steps:
        if s["status"] == "failed":
            why = [describe_verdict(v) for v in s["verdicts"] if not v["met"]]
            actions.append("- [ ] %s failed: %s" % (s["name"], "; ".join(why + ([s["detail"]] if s["detail"] else []))
                                                    or "see the JSON result"))
    actions += ["- [ ] %s was not run: %s" % (s["name"], s["detail"] or "no reason given")
                for s in steps if s["status"] == "not_run"]
    lines += actions or ["- none"]
    lines += ["", "### Lessons Learned"]
    if unmet:
        lines += [_lesson(v) for v in unmet]
    else:
        checked = sum(len(s["verdicts"]) for s in steps)
        lines.append("- %d measured objective(s), all met." % checked if checked else
                     "- No step measured an objective.")
    lines += _history_lines(result)
    return "\n".join(lines) + "\n"


def failure_reasons(steps):
    """'name (why)' for each failed step: its missed objectives, else its detail."""
    reasons = []
    for s in steps:
        if s.get("status") != "failed":
            continue
        why = [describe_verdict(v) for v in s.get("verdicts", []) if not v.get("met")]
        reasons.append("%s (%s)" % (s["name"], "; ".join(why) or s.get("detail") or "reported failed"))
    return reasons


def failure_message(result, fail_on_failed_step=True, allow_incomplete=False):
    """What the task says when it fails, or None when the outcome is accepted."""
    steps = result["steps"]
    not_run = ["%s (%s)" % (s["name"], s["detail"] or "no reason given") for s in steps if s["status"] == "not_run"]
    not_run_text = "%s not run: %s" % (_plural(len(not_run), "step"), ", ".join(not_run))
    if result["outcome"] == "failed" and fail_on_failed_step:
        failed = failure_reasons(steps)
        message = "drill failed: %s failed: %s" % (_plural(len(failed), "step"), ", ".join(failed))
        return message + ("; also %s" % not_run_text if not_run else "")
    if result["outcome"] == "incomplete" and not allow_incomplete:
        if not steps:
            return "drill incomplete: no step was recorded"
        return "drill incomplete: %s" % not_run_text
    return None


# --- SVG timeline -------------------------------------------------------------

COLOURS = {"passed": "#2e7d32", "failed": "#c62828", "not_run": "#9e9e9e"}
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_WIDTH, _LABEL_X, _PLOT_X0, _PLOT_X1 = 1000, 12, 340, 960
_TOP, _ROW = 96, 62


def _esc(text):
    """Text or attribute value, escaped, without characters XML cannot hold."""
    return escape(_NOT_XML.sub("\ufffd", "%s" % (text,)), {'"': "&quot;", "'": "&apos;"})


def _short(text, size):
    return text if len(text) <= size else text[:size - 1] + "\u2026"


def _wrap(parts, width, most):
    """Join parts with '; ' into at most `most` lines of about `width` characters."""
    lines = []
    for part in parts:
        if lines and len(lines[-1]) + 2 + len(part) <= width:
            lines[-1] += "; " + part
        else:
            lines.append(part)
    if len(lines) > most:
        lines = lines[:most - 1] + [_short("; ".join(lines[most - 1:]), width)]
    return [_short(line, width) for line in lines]


def _when(stamp):
    return stamp[:10] + " " + stamp[11:19] + " UTC"


def _ticks(low, high):
    raw = (high - low) / 8.0
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    tick = math.ceil(low / step) * step
    out = []
    while tick <= high + step * 1e-9:
        out.append(round(tick, 9))
        tick += step
    return out


def render_svg(result):
    """A timeline: one row per step, its bar from start to end in seconds since
    the drill started, coloured by status, with a dashed marker at start+limit
    for every check in seconds. Pure string building."""
    steps = result["steps"]
    points = [0.0, result["duration_seconds"]]
    for s in steps:
        for key in ("start_offset_seconds", "end_offset_seconds"):
            if key in s:
                points.append(s[key])
        if "start_offset_seconds" in s:
            points += [s["start_offset_seconds"] + v["limit"] for v in s["verdicts"]
                       if v["objective"] == "check" and v["unit"] == "s"]
            points += [s["start_offset_seconds"] + v["measured"] for v in s["verdicts"]
                       if v["objective"] == "check" and v["unit"] == "s" and v["measured"] is not None]
    low, high = min(points), max(points)
    if high - low < 1e-6:
        high = low + 1.0

    def x(seconds):
        return round(_PLOT_X0 + (seconds - low) / (high - low) * (_PLOT_X1 - _PLOT_X0), 2)

    height = _TOP + _ROW * max(len(steps), 1) + 40
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
        'font-family="sans-serif" font-size="12">' % (_WIDTH, height, _WIDTH, height),
        '<title>%s</title>' % _esc("Drill %s: %s, started %s"
                                   % (result["drill"], result["outcome"], _when(result["started"]))),
        '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (_WIDTH, height),
        '<text x="%d" y="22" font-size="16" font-weight="bold">%s</text>' % (
            _LABEL_X, _esc("Drill %s: %s" % (result["drill"], result["outcome"].upper()))),
        '<text x="%d" y="40" fill="#444444">%s</text>' % (_LABEL_X, _esc(
            "started %s, %.1f s; %d passed, %d failed, %d not run" % (
                _when(result["started"]), result["duration_seconds"], result["counts"]["passed"],
                result["counts"]["failed"], result["counts"]["not_run"]))),
    ]
    legend_x = _PLOT_X0
    for status in STATUSES:
        out.append('<rect x="%d" y="50" width="12" height="12" fill="%s"/>' % (legend_x, COLOURS[status]))
        out.append('<text x="%d" y="60">%s</text>' % (legend_x + 16, status.replace("_", " ")))
        legend_x += 90
    out.append('<line x1="%d" y1="50" x2="%d" y2="62" stroke="#000000" stroke-width="2" '
               'stroke-dasharray="3 2"/>' % (legend_x + 6, legend_x + 6))
    out.append('<text x="%d" y="60">objective limit</text>' % (legend_x + 14))
    out.append('<circle cx="%d" cy="56" r="4" fill="#000000" stroke="#000000" stroke-width="1.5"/>'
               % (legend_x + 130))
    out.append('<circle cx="%d" cy="56" r="4" fill="#ffffff" stroke="#000000" stroke-width="1.5"/>'
               % (legend_x + 142))
    out.append('<text x="%d" y="60">measured (hollow: over the limit)</text>' % (legend_x + 152))

    bottom = _TOP + _ROW * max(len(steps), 1)
    for tick in _ticks(low, high):
        out.append('<line class="tick" x1="%s" y1="%d" x2="%s" y2="%d" stroke="#e0e0e0"/>' % (
            x(tick), _TOP - 8, x(tick), bottom))
        out.append('<text x="%s" y="%d" text-anchor="middle" fill="#444444">%s s</text>' % (
            x(tick), _TOP - 12, _num(tick)))
    out.append('<text x="%d" y="%d" text-anchor="middle" fill="#444444">%s</text>' % (
        (_PLOT_X0 + _PLOT_X1) // 2, bottom + 24, _esc("seconds since the drill started (%s)" % _when(result["started"]))))

    for index, s in enumerate(steps):
        top = _TOP + _ROW * index
        name = s["name"]
        colour = COLOURS[s["status"]]
        out.append('<g class="step" data-step="%s">' % _esc(name))
        if index % 2:
            out.append('<rect x="0" y="%d" width="%d" height="%d" fill="#f6f6f6"/>' % (top, _WIDTH, _ROW))
        out.append('<text x="%d" y="%d" font-weight="bold"><title>%s</title>%s</text>' % (
            _LABEL_X, top + 18, _esc(name), _esc(_short(name, 44))))
        status = s["status"].replace("_", " ")
        if s["reported_status"] != s["status"]:
            status += " (reported %s)" % s["reported_status"].replace("_", " ")
        if "duration_seconds" in s:
            status += ", %.1f s" % s["duration_seconds"]
        out.append('<text x="%d" y="%d" fill="%s">%s</text>' % (_LABEL_X, top + 36, colour, _esc(status)))

        start = s.get("start_offset_seconds")
        if start is None:
            reason = s["detail"] if s["status"] == "not_run" else "no start time recorded"
            out.append('<text x="%d" y="%d" fill="#666666" font-style="italic">%s</text>' % (
                _PLOT_X0 + 4, top + 22, _esc(_short("no bar: %s" % (reason or "not run"), 100))))
        else:
            end = s.get("end_offset_seconds", start)
            width = max(x(end) - x(start), 2)
            span = "+%.1f s to +%.1f s" % (start, end) if "end_offset_seconds" in s else "+%.1f s (no end)" % start
            out.append('<rect class="bar" data-status="%s" data-start="%s" data-end="%s" x="%s" y="%d" '
                       'width="%s" height="16" rx="2" fill="%s"><title>%s</title></rect>' % (
                           s["status"], _num(start), _num(end), x(start), top + 8, round(width, 2), colour,
                           _esc("%s: %s, %s" % (name, status, span))))
            for v in s["verdicts"]:
                if v["objective"] != "check" or v["unit"] != "s":
                    continue
                mark = x(start + v["limit"])
                out.append('<line class="objective" data-check="%s" data-limit="%s" x1="%s" y1="%d" x2="%s" '
                           'y2="%d" stroke="#000000" stroke-width="2" stroke-dasharray="3 2"><title>%s</title>'
                           '</line>' % (_esc(v["name"]), _num(v["limit"]), mark, top + 3, mark, top + 29,
                                        _esc(describe_verdict(v))))
                out.append('<text x="%s" y="%d" font-size="9" fill="#333333">%s</text>' % (
                    mark + 3, top + 7, _esc("limit %s s" % _num(v["limit"]))))
                if v["measured"] is not None:
                    # Filled within the limit, hollow over it.
                    out.append('<circle class="measured" data-check="%s" cx="%s" cy="%d" r="4" fill="%s" '
                               'stroke="#000000" stroke-width="1.5"><title>%s</title></circle>' % (
                                   _esc(v["name"]), x(start + v["measured"]), top + 16,
                                   "#000000" if v["met"] else "#ffffff", _esc(describe_verdict(v))))
        # Checks first (the step's own objectives), then the plan's RTO/RPO.
        labels = [describe_verdict(v) for v in sorted(s["verdicts"], key=lambda v: v["objective"] != "check")]
        for number, text in enumerate(_wrap(labels, 105, 2)):
            out.append('<text class="verdicts" x="%d" y="%d" font-size="11"><title>%s</title>%s</text>' % (
                _PLOT_X0, top + 40 + 13 * number, _esc("; ".join(labels)), _esc(text)))
        out.append('</g>')
    if not steps:
        out.append('<text x="%d" y="%d" fill="#666666">no step was recorded</text>' % (_PLOT_X0, _TOP + 22))
    out.append('</svg>')
    return "\n".join(out) + "\n"


# --- Notifications (plan §7) ----------------------------------------------------

# The plan's customer templates (§7), word for word. A drill renders them
# with its own values as a rehearsal: the notice goes to the internal
# channels only, marked as a drill, never to customers.
INITIAL_NOTICE = (
    "Subject: Service Disruption Notice\n\n"
    "We are currently experiencing a service disruption affecting {services}.\n"
    "Our team is actively working on resolution.\n\n"
    "Impact: {description}\n"
    "Start Time: {time}\n"
    "Expected Resolution: {eta}\n")
RESOLUTION_NOTICE = (
    "Subject: Service Restored\n\n"
    "The service disruption has been resolved.\n"
    "All systems are operational.\n\n"
    "Duration: {duration}\n"
    "Root Cause: {summary}\n")
NOTICE_EVENTS = ("started", "finished")


def _level(levels, mapping, key):
    name = mapping.get(key)
    if name not in levels:
        raise DrillInputError("no incident level %r for a drill that %s (levels: %s)"
                              % (name, key, ", ".join(sorted(levels)) or "none"))
    level = levels[name] or {}
    return name, list(level.get("notify") or []), level.get("channel") or ""


def drill_notice(event, context, levels, level_for):
    """The message a drill sends when it starts or ends.

    event: 'started' or 'finished'. context: for 'started', a dict with
    drill, estate, started (ISO 8601 or epoch), steps (planned step names)
    and window_minutes (the announced window, the notice's expected
    resolution); for 'finished', the drill_report result plus estate.
    levels: the plan's incident levels ({'P3_minor': {'notify': [...],
    'channel': ...}}); level_for maps 'started' and each outcome to one.
    """
    if event not in NOTICE_EVENTS:
        raise DrillInputError("notice event %r: say one of %s" % (event, ", ".join(NOTICE_EVENTS)))
    estate = context.get("estate") or "unnamed estate"
    drill = context.get("drill") or "dr-drill"
    started = parse_time(context["started"])
    if event == "started":
        steps = [str(s) for s in context.get("steps") or []]
        window = to_number(context.get("window_minutes"), "window_minutes", allow_none=True)
        level, notify, channel = _level(levels, level_for, "started")
        eta = ("%s (end of the announced %s-minute window)" % (
            iso(started + datetime.timedelta(minutes=window)), _num(window)) if window else "when the drill ends")
        customer = INITIAL_NOTICE.format(
            services=", ".join(steps) or "the estate's services",
            description="planned DR drill on the %s estate: components are crashed on purpose and recovered; "
                        "short write pauses are expected" % estate,
            time=iso(started), eta=eta)
        summary = "DR drill %s started on the %s estate at %s: %s planned" % (
            drill, estate, iso(started), _plural(len(steps), "step"))
        subject = "[DR drill, %s] %s started" % (estate, drill)
        extra = {"planned_steps": steps}
    else:
        outcome = context.get("outcome")
        if outcome not in OUTCOMES:
            raise DrillInputError("a finished drill needs its outcome (%s), got %r" % (", ".join(OUTCOMES), outcome))
        level, notify, channel = _level(levels, level_for, outcome)
        counts = context.get("counts") or {}
        steps = context.get("steps") or []
        failed = failure_reasons(steps)
        not_run = [s["name"] for s in steps if s.get("status") == "not_run"]
        impact = context.get("impact") or {}
        lost = impact.get("acknowledged_writes_lost")
        duration = human_seconds(context.get("duration_seconds"))
        summary = "DR drill %s on the %s estate %s after %s: %d passed, %d failed, %d not run; %s" % (
            drill, estate, outcome.upper(), duration, counts.get("passed", 0), counts.get("failed", 0),
            counts.get("not_run", 0),
            "data loss not measured" if lost is None else "%s lost" % _plural(lost, "acknowledged write"))
        if failed:
            summary += "; failed: " + ", ".join(failed)
        if not_run:
            summary += "; not run: " + ", ".join(not_run)
        if outcome == "failed":
            # Not every step showed its repair: no "all systems operational".
            customer = INITIAL_NOTICE.format(
                services=", ".join(s["name"] for s in steps if s.get("status") == "failed"),
                description="the DR drill on the %s estate did not recover as the plan requires" % estate,
                time=iso(started), eta="under investigation")
        else:
            customer = RESOLUTION_NOTICE.format(
                duration=duration, summary="planned DR drill on the %s estate (%s)" % (estate, outcome))
        subject = "[DR drill, %s] %s %s" % (estate, drill, outcome.upper())
        extra = {"outcome": outcome, "counts": counts, "failed_steps": failed, "not_run_steps": not_run,
                 "acknowledged_writes_lost": lost, "duration_seconds": context.get("duration_seconds")}
    notice = {"event": event, "drill": drill, "estate": estate, "started": iso(started), "level": level,
              "notify": notify, "channel": channel, "subject": subject, "summary": summary,
              "customer_notice_rehearsal": customer,
              "text": "%s\n%s\n\nCustomer notice (rehearsal, not sent to customers):\n%s" % (subject, summary, customer)}
    notice.update(extra)
    return notice
