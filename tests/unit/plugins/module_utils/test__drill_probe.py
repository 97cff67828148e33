"""The write probe's record judged per drill step: the longest wait and the
writes lost inside each step's span, and the drill-wide step."""

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _drill

OBJECTIVES = {"rto_seconds": {"critical": 3600}, "rpo_seconds": {"database": 900}}
T0 = 1796205600.0  # 2026-12-02T10:00:00Z


def probe(acks, lost=(), members=((T0, 1),), started=T0, ended=T0 + 100):
    return {"started_at": started, "ended_at": ended, "ack_times": list(acks), "lost_times": list(lost),
            "writable_members": [list(m) for m in members], "longest_gap_seconds": 1.0, "longest_gap_from": 0.0}


def steady(start, end, every=0.5, skip=()):
    """Acknowledgements every `every` seconds in [start, end), none inside the `skip` spans."""
    out, at = [], start
    while at < end:
        if not any(low <= at < high for low, high in skip):
            out.append(round(at, 3))
        at += every
    return out


def crash_step(**kw):
    base = {"name": "database primary crash", "status": "passed", "started": T0 + 10, "finished": T0 + 40,
            "probe_limit_seconds": 30}
    base.update(kw)
    return base


def verdict(result, step_name, check_name):
    step = [s for s in result["steps"] if s["name"] == step_name][0]
    return [v for v in step["verdicts"] if v["name"] == check_name][0]


def judged(steps, record, **kw):
    return _drill.build_result("drill", T0, T0 + 100, _drill.apply_probe(steps, record, **kw), OBJECTIVES)


def test_the_gap_inside_the_step_is_its_recovery_time_and_passes_under_the_limit():
    record = probe(steady(T0, T0 + 100, skip=[(T0 + 12, T0 + 29)]))
    result = judged([crash_step()], record)
    wait = verdict(result, "database primary crash", _drill.PROBE_WAIT_CHECK)
    assert wait["measured"] == pytest.approx(17.5, abs=0.01) and wait["met"]
    step = result["steps"][0]
    assert step["recovery_seconds"] == wait["measured"]
    assert step["measured"]["acknowledged_writes_lost"] == 0
    in_span = [a for a in record["ack_times"] if T0 + 10 <= a <= T0 + 40]
    assert step["measured"]["acknowledged_writes_checked"] == len(in_span)
    assert result["outcome"] == "passed"


def test_a_recovery_slower_than_the_limit_fails_the_step_and_the_drill():
    record = probe(steady(T0, T0 + 100, skip=[(T0 + 11, T0 + 45)]))
    result = judged([crash_step(finished=T0 + 50)], record)
    wait = verdict(result, "database primary crash", _drill.PROBE_WAIT_CHECK)
    assert wait["measured"] > 30 and not wait["met"]
    assert result["steps"][0]["status"] == "failed" and result["outcome"] == "failed"


def test_a_write_lost_inside_the_step_fails_it_and_gives_the_span():
    record = probe(steady(T0, T0 + 100), lost=[T0 + 11.0, T0 + 11.5])
    result = judged([crash_step()], record)
    lost = verdict(result, "database primary crash", _drill.PROBE_LOST_CHECK)
    assert lost["measured"] == 2 and not lost["met"]
    assert result["steps"][0]["measured"]["lost_span_seconds"] == 0.5
    assert result["impact"]["data_loss"] == "yes"


def test_a_write_lost_between_steps_still_fails_the_drill_wide_step():
    record = probe(steady(T0, T0 + 100), lost=[T0 + 70])
    result = judged([crash_step()], record)
    assert result["steps"][0]["status"] == "passed"
    whole = verdict(result, _drill.PROBE_STEP, "acknowledged writes lost, whole drill")
    assert whole["measured"] == 1 and not whole["met"]
    assert result["outcome"] == "failed"


def test_two_writable_members_at_once_fail_the_drill():
    record = probe(steady(T0, T0 + 100), members=[(T0 + 1, 1), (T0 + 20, 2), (T0 + 21, 1)])
    result = judged([crash_step()], record)
    split = verdict(result, _drill.PROBE_STEP, "members accepting writes at once")
    assert split["measured"] == 2 and not split["met"] and result["outcome"] == "failed"


def test_a_step_outside_the_probes_life_is_not_measured_and_fails_its_checks():
    record = probe(steady(T0, T0 + 30), ended=T0 + 30)
    result = judged([crash_step()], record)
    wait = verdict(result, "database primary crash", _drill.PROBE_WAIT_CHECK)
    assert wait["measured"] is None and wait["result"] == "not measured"
    assert result["outcome"] == "failed"


def test_no_probe_record_fails_the_steps_that_need_it_and_says_why():
    result = judged([crash_step(), {"name": "cache", "status": "passed", "started": T0, "finished": T0 + 5}],
                    None, probe_error="cannot read /x: No such file")
    assert result["steps"][0]["status"] == "failed"
    assert result["steps"][1]["status"] == "passed"
    whole = [s for s in result["steps"] if s["name"] == _drill.PROBE_STEP][0]
    assert whole["status"] == "failed" and "No such file" in whole["detail"]


def test_steps_without_a_limit_get_the_figures_but_no_wait_check():
    record = probe(steady(T0, T0 + 100, skip=[(T0 + 3, T0 + 5)]))
    result = judged([{"name": "etcd leader loss", "status": "passed", "started": T0 + 2, "finished": T0 + 8}], record)
    step = result["steps"][0]
    assert step["measured"]["unavailable_seconds"] == pytest.approx(2.5, abs=0.01)
    assert [v["name"] for v in step["verdicts"]] == []


def test_not_run_steps_are_left_alone_and_the_probe_keys_never_reach_the_result():
    steps = [{"name": "dc outage", "status": "not_run", "detail": "no DR site", "probe_limit_seconds": 30}, crash_step()]
    out = _drill.apply_probe(steps, probe(steady(T0, T0 + 100)))
    assert out[0] == {"name": "dc outage", "status": "not_run", "detail": "no DR site"}
    assert "probe_limit_seconds" not in out[1]


def test_an_unverified_probe_leaves_the_loss_unmeasured():
    record = probe(steady(T0, T0 + 100))
    record["lost_times"] = None
    result = judged([crash_step()], record)
    assert verdict(result, "database primary crash", _drill.PROBE_LOST_CHECK)["result"] == "not measured"


def test_a_lost_writes_limit_allows_an_async_estate_its_loss():
    record = probe(steady(T0, T0 + 100), lost=[T0 + 11.0])
    result = judged([crash_step()], record, lost_limit=1)
    assert result["outcome"] == "passed"


def test_a_bad_limit_is_refused():
    with pytest.raises(_drill.DrillInputError, match="probe_limit_seconds"):
        _drill.apply_probe([crash_step(probe_limit_seconds="soon")], probe([]))


def test_a_database_step_gets_the_lost_span_as_its_rpo():
    record = probe(steady(T0, T0 + 100), lost=[T0 + 11.0, T0 + 12.5])
    result = judged([crash_step(data_class="database")], record, lost_limit=5)
    rpo = verdict(result, "database primary crash", "RPO database")
    assert rpo["measured"] == 1.5 and rpo["met"]


# --- the user-facing probe (dr_http_probe.py) --------------------------------

USER_PROBE = {
    "started_at": 1000.0, "ended_at": 1100.0,
    "seconds": [[second, 20, 0] for second in range(1000, 1100)],
    "spans": [[1030.5, 1032.0], [1070.0, 1070.4]],
}
USER_PROBE["seconds"][30] = [1030, 20, 10]
USER_PROBE["seconds"][31] = [1031, 20, 20]
USER_PROBE["seconds"][70] = [1070, 20, 8]


def test_a_step_gets_the_requests_users_saw_fail_in_its_own_span():
    view = _drill.user_probe_window(USER_PROBE, 1025.0, 1040.0)
    assert view == {"covered": True, "requests": 300, "failed": 30, "longest_failure_seconds": 1.5}


def test_a_span_cut_by_the_window_counts_only_its_part_inside():
    assert _drill.user_probe_window(USER_PROBE, 1031.0, 1035.0)["longest_failure_seconds"] == 1.0


def test_a_window_the_user_probe_did_not_cover_is_not_measured():
    assert _drill.user_probe_window(USER_PROBE, 990.0, 1010.0)["covered"] is False
    assert _drill.user_probe_window(None, 1010.0, 1020.0)["requests"] is None


def test_steps_get_user_figures_beside_the_database_ones_and_keep_their_own():
    steps = [
        {"name": "failover", "status": "passed", "started": 1025.0, "finished": 1040.0,
         "measured": {"rto_seconds": 12}},
        {"name": "application", "status": "passed", "started": 1060.0, "finished": 1080.0,
         "measured": {"user_requests": 400, "user_requests_failed": 0, "user_unavailable_seconds": 0.0}},
        {"name": "outage", "status": "not_run"},
    ]
    out = _drill.apply_user_probe(steps, USER_PROBE)
    assert out[0]["measured"] == {"rto_seconds": 12, "user_requests": 300, "user_requests_failed": 30,
                                  "user_unavailable_seconds": 1.5}
    assert out[1] == steps[1] and out[2] == steps[2]


def test_the_report_gives_each_step_its_share_and_the_whole_drill_once():
    steps = [
        {"name": "failover", "status": "passed", "started": 1025.0, "finished": 1040.0, "measured": {}},
        # The write probe's step spans the whole drill: summing steps would count every request twice.
        {"name": "writes (whole drill)", "status": "passed", "started": 1000.0, "finished": 1100.0, "measured": {}},
    ]
    out = _drill.apply_user_probe(steps, USER_PROBE)
    result = _drill.build_result("dr-drill", 1000.0, 1100.0, out, {"rto_seconds": {}, "rpo_seconds": {}},
                                 user_probe=dict(USER_PROBE, url="http://127.0.0.1/health/app"))
    assert result["impact"]["users"] == {"requests": 2000, "failed": 38, "failing_seconds": 1.9,
                                         "longest_failure_seconds": 1.5, "url": "http://127.0.0.1/health/app"}
    report = _drill.render_markdown(result)
    assert ("- Through the load balancer (http://127.0.0.1/health/app, the whole drill): 38 of 2000 requests "
            "failed, failing for 1.9 s in all, the longest span 1.5 s") in report
    assert "users through the load balancer: 30 of 300 requests failed, longest failing span 1.5 s" in report


def test_without_the_user_probe_the_report_says_nothing_about_it():
    result = _drill.build_result("dr-drill", 1000.0, 1100.0,
                                 [{"name": "failover", "status": "passed", "started": 1025.0, "finished": 1040.0,
                                   "measured": {}}], {"rto_seconds": {}, "rpo_seconds": {}})
    assert result["impact"]["users"] is None
    assert "load balancer" not in _drill.render_markdown(result)


def test_a_step_with_its_own_probe_keeps_its_figures_and_is_not_judged_by_the_load_balancers_view():
    # The load balancer's path has no primary during a DR site activation: its gap is not the step's.
    record = probe(steady(T0, T0 + 100, skip=[(T0 + 10, T0 + 80)]))
    own = {"name": "data-centre outage", "status": "passed", "started": T0 + 10, "finished": T0 + 80,
           "own_probe": True, "measured": {"unavailable_seconds": 31.0, "acknowledged_writes_lost": 0}}
    step = _drill.apply_probe([own], record)[0]
    assert "own_probe" not in step
    assert step["measured"] == {"unavailable_seconds": 31.0, "acknowledged_writes_lost": 0}
    assert "checks" not in step
