#!/usr/bin/env python
"""Check the newest drill report in a results directory against what the run
was expected to show, and that its numbers agree with its own timeline.

    check_drill_report.py RESULTS_DIR --outcome incomplete \
        --not-run "application restart procedure" --not-run "..." [--profile quarterly]

Fails (exit 1, one line per problem) when the outcome differs, when a step
other than the named ones did not pass, when a not-run step has no reason,
or when a figure cannot be true: a step outside the drill's span, a duration
that is not finished - started, a recovery or a longest wait longer than the
step, acknowledged writes lost without a write checked, a report file or the
history line missing. With --users, every step must also say what users
saw through the application's load balancer.
"""

import argparse
import glob
import json
import os
import sys

SLACK = 0.01  # seconds of rounding between figures the report rounds separately


def parse_time(text):
    import datetime
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def user_problems(result):
    """With a load balancer in front of the application, every step that ran
    must say what users saw through it, and the whole drill's figures must add up."""
    users = (result.get("impact") or {}).get("users")
    if not users:
        return ["the report has no user-facing figures (impact.users): the probe through the load balancer did not run"]
    problems = []
    if not users["requests"] or users["failed"] > users["requests"]:
        problems.append("impact.users: %s of %s requests failed cannot be true" % (users["failed"], users["requests"]))
    for step in result["steps"]:
        if step["status"] == "not_run" or "started" not in step \
                or step["name"].startswith("database writes through the load balancer"):
            continue  # the write probe's step starts before the user-facing probe
        measured = step.get("measured", {})
        if measured.get("user_requests") is None:
            problems.append("step %r has no user-facing figures" % step["name"])
            continue
        if not measured["user_requests"] or measured["user_requests_failed"] > measured["user_requests"]:
            problems.append("step %r: %s of %s requests failed cannot be true"
                            % (step["name"], measured["user_requests_failed"], measured["user_requests"]))
        if measured["user_unavailable_seconds"] > step["duration_seconds"] + SLACK:
            problems.append("step %r: users' longest failing span %s s is longer than the step"
                            % (step["name"], measured["user_unavailable_seconds"]))
    return problems


def problems_with(result, results_dir, outcome, not_run, profile):
    problems = []
    if result.get("outcome") != outcome:
        problems.append("outcome %r, expected %r" % (result.get("outcome"), outcome))
    if profile and profile not in result.get("scenario", ""):
        problems.append("scenario %r does not name the %s profile" % (result.get("scenario"), profile))
    start, end = parse_time(result["started"]), parse_time(result["finished"])
    if abs((end - start) - result["duration_seconds"]) > SLACK:
        problems.append("drill duration %s s is not finished - started (%.3f s)" % (result["duration_seconds"], end - start))
    names = [s["name"] for s in result["steps"]]
    for name in not_run:
        if name not in names:
            problems.append("step %r is not in the report" % name)
    for step in result["steps"]:
        name, status = step["name"], step["status"]
        if name in not_run:
            if status != "not_run":
                problems.append("step %r is %s, expected not_run" % (name, status))
            elif not step.get("detail"):
                problems.append("step %r was not run and says no reason" % name)
            continue
        if status != "passed":
            problems.append("step %r %s: %s" % (name, status, step.get("detail")))
        if "started" not in step or "finished" not in step:
            # A check of the estate's state (etcd has quorum) is a moment, not a span.
            if step.get("measured"):
                problems.append("step %r measured %s but has no span" % (name, ", ".join(sorted(step["measured"]))))
            continue
        s0, s1 = parse_time(step["started"]), parse_time(step["finished"])
        if s0 < start - SLACK or s1 > end + SLACK:
            problems.append("step %r (%s .. %s) lies outside the drill" % (name, step["started"], step["finished"]))
        if abs((s1 - s0) - step["duration_seconds"]) > SLACK:
            problems.append("step %r: duration %s s is not finished - started" % (name, step["duration_seconds"]))
        if abs(step["start_offset_seconds"] - (s0 - start)) > SLACK:
            problems.append("step %r: start offset %s s disagrees with its start" % (name, step["start_offset_seconds"]))
        measured = step.get("measured", {})
        for key in ("unavailable_seconds", "rto_seconds"):
            if measured.get(key) is not None and measured[key] > step["duration_seconds"] + SLACK:
                problems.append("step %r: %s %s s is longer than the step (%s s)"
                                % (name, key, measured[key], step["duration_seconds"]))
        if step.get("recovery_seconds") is not None and step["recovery_seconds"] > step["duration_seconds"] + SLACK:
            problems.append("step %r: recovery %s s is longer than the step" % (name, step["recovery_seconds"]))
        if measured.get("acknowledged_writes_lost") and not measured.get("acknowledged_writes_checked"):
            problems.append("step %r: writes lost without any checked" % name)
        if not step["verdicts"]:
            problems.append("step %r was judged against nothing" % name)
    if not any(s["name"].startswith("database writes through the load balancer") for s in result["steps"]):
        problems.append("no write probe step: the drill ran without its probe")
    for kind, name in result.get("files", {}).items():
        if kind != "history" and not os.path.isfile(os.path.join(results_dir, name)):
            problems.append("the %s report %s was not written" % (kind, name))
    history = os.path.join(results_dir, result.get("files", {}).get("history", "dr-drill-history.jsonl"))
    try:
        lines = [json.loads(line) for line in open(history) if line.strip()]
    except (IOError, OSError, ValueError) as exc:
        problems.append("history %s unreadable: %s" % (history, exc))
        lines = []
    if not any(entry.get("started") == result["started"] for entry in lines):
        problems.append("history %s has no line for this drill" % history)
    markdown = os.path.join(results_dir, result.get("files", {}).get("markdown", ""))
    if os.path.isfile(markdown):
        text = open(markdown).read()
        problems += ["the Markdown report does not mention %r" % n for n in names if n not in text]
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("results_dir")
    parser.add_argument("--outcome", required=True, choices=["passed", "failed", "incomplete"])
    parser.add_argument("--not-run", action="append", default=[], help="a step expected not run (repeatable)")
    parser.add_argument("--profile")
    parser.add_argument("--users", action="store_true",
                        help="the estate has a load balancer in front of the application: require user-facing figures")
    args = parser.parse_args()
    reports = sorted(glob.glob(os.path.join(args.results_dir, "dr-drill-*Z.json")))
    if not reports:
        print("drill report: none in %s" % args.results_dir)
        return 1
    with open(reports[-1]) as handle:
        result = json.load(handle)
    problems = problems_with(result, args.results_dir, args.outcome, args.not_run, args.profile)
    if args.users:
        problems += user_problems(result)
    for problem in problems:
        print("drill report %s: %s" % (os.path.basename(reports[-1]), problem))
    if not problems:
        ran = [s for s in result["steps"] if s["status"] != "not_run"]
        print("drill report %s: %s as expected, %d steps consistent with the timeline, %d not run as expected"
              % (os.path.basename(reports[-1]), result["outcome"], len(ran), len(args.not_run)))
        for step in ran:
            measured = step.get("measured", {})
            if measured.get("user_requests") is not None:
                print("  through the load balancer during %s: %s of %s requests failed, longest failing span %s s"
                      % (step["name"], measured["user_requests_failed"], measured["user_requests"],
                         measured["user_unavailable_seconds"]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
