"""Judging drill steps against objectives, and the incident-report rendering."""

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _drill

OBJECTIVES = {
    "rto_seconds": {"critical": 3600, "important": 14400, "non_critical": 86400},
    "rpo_seconds": {"database": 900, "file_storage": 3600, "logs": 86400},
}
START = "2026-11-26T10:00:00Z"
END = "2026-11-26T10:10:00Z"


def step(**kw):
    base = {"name": "etcd leader loss", "status": "passed"}
    base.update(kw)
    return base


def test_measured_within_objective_passes():
    result = _drill.build_result("d", START, END, [step(tier="critical", measured={"rto_seconds": 2.5})], OBJECTIVES)
    assert result["outcome"] == "passed"
    assert result["steps"][0]["verdicts"] == [{
        "objective": "RTO", "class": "critical", "measured_seconds": 2.5, "objective_seconds": 3600, "met": True}]
    assert result["duration_seconds"] == 600


def test_missed_objective_fails_the_step_even_if_it_said_passed():
    result = _drill.build_result("d", START, END, [
        step(data_class="database", measured={"rpo_seconds": 901})], OBJECTIVES)
    assert result["steps"][0]["status"] == "failed"
    assert result["outcome"] == "failed"
    assert "RPO objective for database missed: 901.0 s measured, 900 s allowed" in _drill.render_markdown(result)


def test_a_not_run_step_makes_the_drill_incomplete_not_passed():
    result = _drill.build_result("d", START, END, [step(), step(name="restore", status="not_run", detail="no WAL-G")],
                                 OBJECTIVES)
    assert result["outcome"] == "incomplete"
    assert result["counts"] == {"passed": 1, "failed": 0, "not_run": 1}
    report = _drill.render_markdown(result)
    assert "- [ ] restore was not run: no WAL-G" in report
    assert "**Outcome**: INCOMPLETE (1 passed, 0 failed, 1 not run)" in report


def test_a_drill_without_steps_is_incomplete():
    assert _drill.build_result("d", START, END, [], OBJECTIVES)["outcome"] == "incomplete"


def test_failed_outweighs_not_run():
    result = _drill.build_result("d", START, END, [step(status="failed"), step(status="not_run")], OBJECTIVES)
    assert result["outcome"] == "failed"


def test_epoch_and_iso_timestamps_give_the_step_duration():
    judged = _drill.judge_step(step(started=1795687200.0, finished="2026-11-26T10:00:12.5+00:00"), OBJECTIVES)
    assert judged["started"] == "2026-11-26T10:00:00.000000Z"
    assert judged["duration_seconds"] == 12.5


@pytest.mark.parametrize("bad,message", [
    (step(started="2026-11-26 10:00:00"), "without a time zone"),
    (step(started="yesterday"), "not a timestamp"),
    (step(status="ok"), "status 'ok' is not one of"),
    (step(tier="gold", measured={"rto_seconds": 1}), "no RTO objective for 'gold'"),
    ({"status": "passed"}, "a step has no name"),
])
def test_bad_steps_are_refused_with_the_reason(bad, message):
    with pytest.raises(_drill.DrillInputError, match=message):
        _drill.build_result("d", START, END, [bad], OBJECTIVES)


def test_rpo_zero_everywhere_reports_no_data_loss():
    result = _drill.build_result("d", START, END, [step(data_class="database", measured={"rpo_seconds": 0})],
                                 OBJECTIVES)
    assert "- Data loss: NO" in _drill.render_markdown(result)


def test_unmeasured_steps_say_data_loss_was_not_measured():
    assert "- Data loss: not measured" in _drill.render_markdown(
        _drill.build_result("d", START, END, [step()], OBJECTIVES))
