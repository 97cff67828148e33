"""check_drill_report.py --users: the user-facing figures a drill report must carry."""

import importlib.util
import os

HERE = os.path.dirname(__file__)
SPEC = importlib.util.spec_from_file_location("check_drill_report", os.path.join(HERE, "check_drill_report.py"))
check = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(check)


def step(name, duration=10.0, **measured):
    return {"name": name, "status": "passed", "started": "2026-12-02T10:00:00+00:00",
            "finished": "2026-12-02T10:00:10+00:00", "duration_seconds": duration, "measured": measured}


def report(steps, users=None):
    return {"steps": steps, "impact": {"users": users}}


USERS = {"url": "http://127.0.0.1/health/app", "requests": 400, "failed": 12, "failing_seconds": 0.6,
         "longest_failure_seconds": 0.6}


def test_a_report_with_every_step_measured_through_the_load_balancer_passes():
    steps = [step("failover", user_requests=200, user_requests_failed=12, user_unavailable_seconds=0.6),
             step("database writes through the load balancer (whole drill)"),
             {"name": "outage", "status": "not_run"}]
    assert check.user_problems(report(steps, USERS)) == []


def test_a_drill_without_the_user_facing_probe_fails():
    assert "did not run" in check.user_problems(report([step("failover")]))[0]


def test_a_step_without_user_figures_or_with_impossible_ones_fails():
    steps = [step("failover"),
             step("cache loss", user_requests=10, user_requests_failed=11, user_unavailable_seconds=0.0),
             step("restore", duration=5.0, user_requests=100, user_requests_failed=1, user_unavailable_seconds=9.0)]
    problems = check.user_problems(report(steps, USERS))
    assert problems == ["step 'failover' has no user-facing figures",
                        "step 'cache loss': 11 of 10 requests failed cannot be true",
                        "step 'restore': users' longest failing span 9.0 s is longer than the step"]
