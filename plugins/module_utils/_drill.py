# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drill bookkeeping: judge measured steps against the plan's objectives and
render the result as JSON and as the plan's incident-report Markdown.

Private to the fulexo.dr collection; pure functions, unit-tested.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

STATUSES = ("passed", "failed", "not_run")


class DrillInputError(ValueError):
    pass


def parse_time(value):
    """ISO 8601 with a zone, or epoch seconds, to an aware UTC datetime."""
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


def judge_step(step, objectives):
    """Normalise one step and compare what it measured with the objectives.

    A step may carry measured.rto_seconds with a tier (critical, important,
    non_critical) and measured.rpo_seconds with a data class (database, ...).
    A measurement over its objective fails the step, whatever the step said.
    """
    name = step.get("name")
    if not name:
        raise DrillInputError("a step has no name: %r" % (step,))
    status = step.get("status", "passed")
    if status not in STATUSES:
        raise DrillInputError("step %r: status %r is not one of %s" % (name, status, ", ".join(STATUSES)))
    out = {
        "name": name,
        "status": status,
        "detail": step.get("detail", ""),
        "measured": dict(step.get("measured") or {}),
        "verdicts": [],
    }
    if step.get("started") is not None:
        out["started"] = iso(parse_time(step["started"]))
    if step.get("finished") is not None:
        out["finished"] = iso(parse_time(step["finished"]))
    if "started" in out and "finished" in out:
        out["duration_seconds"] = round(
            (parse_time(step["finished"]) - parse_time(step["started"])).total_seconds(), 3)

    measured = out["measured"]
    checks = (("rto_seconds", step.get("tier"), objectives.get("rto_seconds", {}), "RTO"),
              ("rpo_seconds", step.get("data_class"), objectives.get("rpo_seconds", {}), "RPO"))
    for key, cls, table, label in checks:
        if key not in measured or cls is None:
            continue
        if cls not in table:
            raise DrillInputError("step %r: no %s objective for %r (known: %s)"
                                  % (name, label, cls, ", ".join(sorted(table))))
        objective = table[cls]
        if objective is None:
            continue
        met = measured[key] <= objective
        out["verdicts"].append({"objective": label, "class": cls, "measured_seconds": measured[key],
                                "objective_seconds": objective, "met": met})
        if not met and status == "passed":
            out["status"] = "failed"
    return out


def build_result(name, started, finished, steps, objectives, scenario=""):
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
    return {
        "drill": name,
        "scenario": scenario,
        "started": iso(start),
        "finished": iso(end),
        "duration_seconds": round((end - start).total_seconds(), 3),
        "outcome": outcome,
        "counts": counts,
        "steps": judged,
        "objectives": objectives,
    }


def _line(step):
    if step["status"] == "not_run":
        return "- %s: **not run** (%s)" % (step["name"], step["detail"] or "no reason given")
    extra = []
    if "duration_seconds" in step:
        extra.append("%.1f s" % step["duration_seconds"])
    for verdict in step["verdicts"]:
        extra.append("%s %s %.1f s vs %.0f s: %s" % (
            verdict["objective"], verdict["class"], verdict["measured_seconds"],
            verdict["objective_seconds"], "met" if verdict["met"] else "MISSED"))
    return "- %s %s: **%s**%s%s" % (
        step.get("started", "")[11:19] or "--:--:--", step["name"], step["status"],
        " (" + "; ".join(extra) + ")" if extra else "", " - " + step["detail"] if step["detail"] else "")


def render_markdown(result):
    """The plan's §10 incident-report template, filled from a drill result."""
    steps = result["steps"]
    missed = [v for s in steps for v in s["verdicts"] if not v["met"]]
    rpo = [v for s in steps for v in s["verdicts"] if v["objective"] == "RPO"]
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
    lines += [
        "- %s: Drill finished" % result["finished"][11:19],
        "",
        "### Root Cause",
        "Simulated: %s" % (result["scenario"] or "see steps"),
        "",
        "### Impact",
        "- Data loss: %s" % (
            "not measured" if not rpo else
            ("NO" if all(v["measured_seconds"] == 0 for v in rpo) else
             "up to %.1f s of writes" % max(v["measured_seconds"] for v in rpo))),
        "",
        "### Action Items",
    ]
    actions = ["- [ ] %s failed: %s" % (s["name"], s["detail"] or "see the JSON result")
               for s in steps if s["status"] == "failed"]
    actions += ["- [ ] %s was not run: %s" % (s["name"], s["detail"] or "no reason given")
                for s in steps if s["status"] == "not_run"]
    lines += actions or ["- none"]
    lines += ["", "### Lessons Learned"]
    if missed:
        lines += ["- %s objective for %s missed: %.1f s measured, %.0f s allowed"
                  % (v["objective"], v["class"], v["measured_seconds"], v["objective_seconds"]) for v in missed]
    else:
        checked = sum(len(s["verdicts"]) for s in steps)
        lines.append("- %d measured objective(s), all met." % checked if checked else
                     "- No step measured an RTO/RPO objective.")
    return "\n".join(lines) + "\n"
