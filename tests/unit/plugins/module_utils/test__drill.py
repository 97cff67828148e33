"""Judging drill steps against objectives and checks, the drill history and its
metrics, and the three renderings (JSON-ready dict, Markdown report, SVG timeline)."""

import json
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _drill

OBJECTIVES = {
    "rto_seconds": {"critical": 3600, "important": 14400, "non_critical": 86400},
    "rpo_seconds": {"database": 900, "file_storage": 3600, "logs": 86400},
}
START = "2026-11-26T10:00:00Z"
END = "2026-11-26T10:10:00Z"
SVG = "{http://www.w3.org/2000/svg}"


def step(**kw):
    base = {"name": "etcd leader loss", "status": "passed"}
    base.update(kw)
    return base


def check(**kw):
    base = {"name": "database writable again", "measured": 12.0, "limit": 30, "unit": "s"}
    base.update(kw)
    return base


def build(*steps):
    return _drill.build_result("d", START, END, list(steps), OBJECTIVES)


# --- Judging ------------------------------------------------------------------

def test_measured_within_objective_passes():
    result = build(step(tier="critical", measured={"rto_seconds": 2.5}))
    assert result["outcome"] == "passed"
    assert result["schema_version"] == 2
    assert result["steps"][0]["verdicts"] == [{
        "objective": "RTO", "name": "RTO critical", "class": "critical", "measured": 2.5, "limit": 3600,
        "unit": "s", "met": True, "result": "met"}]
    assert result["duration_seconds"] == 600


def test_missed_objective_fails_the_step_even_if_it_said_passed():
    result = build(step(data_class="database", measured={"rpo_seconds": 901}))
    judged = result["steps"][0]
    assert (judged["status"], judged["reported_status"]) == ("failed", "passed")
    assert judged["verdicts"][0]["result"] == "missed"
    assert result["outcome"] == "failed"
    report = _drill.render_markdown(result)
    assert "RPO objective for database missed: 901.0 s measured, 900 s allowed" in report
    assert "**failed** (reported passed; RPO database 901.0 s vs 900 s: MISSED)" in report


def test_a_not_run_step_makes_the_drill_incomplete_not_passed():
    result = build(step(), step(name="restore", status="not_run", detail="no WAL-G"))
    assert result["outcome"] == "incomplete"
    assert result["counts"] == {"passed": 1, "failed": 0, "not_run": 1}
    report = _drill.render_markdown(result)
    assert "- [ ] restore was not run: no WAL-G" in report
    assert "**Outcome**: INCOMPLETE (1 passed, 0 failed, 1 not run)" in report


def test_a_drill_without_steps_is_incomplete():
    assert build()["outcome"] == "incomplete"


def test_failed_outweighs_not_run():
    assert build(step(status="failed"), step(status="not_run"))["outcome"] == "failed"


def test_epoch_and_iso_timestamps_give_the_step_duration_and_offsets():
    judged = build(step(started=1795687200.0, finished="2026-11-26T10:00:12.5+00:00"))["steps"][0]
    assert judged["started"] == "2026-11-26T10:00:00.000000Z"
    assert judged["duration_seconds"] == 12.5
    assert (judged["start_offset_seconds"], judged["end_offset_seconds"]) == (0, 12.5)


@pytest.mark.parametrize("bad", [
    {"name": "restore test"},
    {"name": "restore test", "status": None},
    {"name": "restore test", "status": ""},
])
def test_a_step_without_a_status_is_refused_not_counted_as_passed(bad):
    with pytest.raises(_drill.DrillInputError, match="step 'restore test' has no status"):
        build(bad)


@pytest.mark.parametrize("bad,message", [
    (step(started="2026-11-26 10:00:00"), "without a time zone"),
    (step(started="yesterday"), "not a timestamp"),
    (step(started="2026-11-26T10:00:05Z", finished="2026-11-26T10:00:00Z"), "finished .* before it started"),
    (step(status="ok"), "status 'ok' is not one of"),
    (step(tier="gold", measured={"rto_seconds": 1}), "no RTO objective for 'gold'"),
    (step(tier="critical", measured={"rto_seconds": "fast"}), "rto_seconds: 'fast' is not a number"),
    (step(measured={"acknowledged_writes_lost": 1.5}), "not a whole number of writes"),
    (step(measured={"unavailable_seconds": -1}), "unavailable_seconds is negative"),
    (step(measured=[1]), "measured must be a dict"),
    ({"status": "passed"}, "a step has no name"),
    (step(checks=[check(limt=30)]), r"unknown key\(s\) limt"),
    (step(checks=[check(unit="")]), "has no unit"),
    (step(checks=[check(limit=None)]), "limit is missing"),
    (step(checks=[check(name="")]), "check 1 has no name"),
    (step(checks=[check(measured=True)]), "True is not a number"),
    (step(checks=[check(unit="writes", recovery=True)]), "only a check in seconds"),
    (step(checks=[check(recovery=True), check(name="api up", recovery=True)]), "more than one check"),
    (step(checks="fast"), "checks must be a list"),
])
def test_bad_steps_are_refused_with_the_reason(bad, message):
    with pytest.raises(_drill.DrillInputError, match=message):
        build(bad)


def test_a_check_within_its_limit_passes_and_over_it_fails():
    result = build(step(checks=[check(measured=12.0)]), step(name="b", checks=[check(measured=30.5)]))
    ok, over = result["steps"]
    assert ok["status"] == "passed" and ok["verdicts"][0]["result"] == "met"
    assert over["status"] == "failed" and over["verdicts"][0]["result"] == "missed"
    assert "database writable again 30.5 s vs 30 s: MISSED" in _drill.render_markdown(result)


def test_a_check_at_exactly_its_limit_is_met():
    assert build(step(checks=[check(measured=0, limit=0, unit="writes")]))["outcome"] == "passed"


@pytest.mark.parametrize("unmeasured", [check(measured=None), {"name": "api up", "limit": 30, "unit": "s"}])
def test_a_check_with_nothing_measured_fails_never_passes(unmeasured):
    result = build(step(checks=[unmeasured]))
    verdict = result["steps"][0]["verdicts"][0]
    assert (verdict["met"], verdict["result"], verdict["measured"]) == (False, "not measured", None)
    assert result["outcome"] == "failed"
    assert "NOT MEASURED (limit 30 s)" in _drill.render_markdown(result)


def test_an_rto_given_as_null_is_not_measured_and_fails():
    result = build(step(tier="critical", measured={"rto_seconds": None}))
    assert result["steps"][0]["verdicts"][0]["result"] == "not measured"
    assert result["outcome"] == "failed"


def test_a_not_run_step_stays_not_run_with_its_unmeasured_checks():
    result = build(step(status="not_run", detail="no backup reachable", checks=[check(measured=None)]))
    assert result["steps"][0]["status"] == "not_run"
    assert result["outcome"] == "incomplete"


def test_numbers_templated_as_strings_are_read_as_numbers():
    judged = build(step(tier="critical", measured={"rto_seconds": "12.5"}, checks=[check(measured="40", limit="30")]))
    verdicts = judged["steps"][0]["verdicts"]
    assert [v["measured"] for v in verdicts] == [12.5, 40.0]
    assert [v["met"] for v in verdicts] == [True, False]


def test_recovery_time_is_the_recovery_check_else_the_measured_rto():
    result = build(step(tier="critical", measured={"rto_seconds": 9.0}, checks=[check(measured=14.0, recovery=True)]),
                   step(name="b", tier="critical", measured={"rto_seconds": 9.0}, checks=[check(measured=14.0)]),
                   step(name="c", checks=[check(measured=14.0)]))
    assert [s["recovery_seconds"] for s in result["steps"]] == [14.0, 9.0, None]


# --- Impact -------------------------------------------------------------------

def test_lost_acknowledged_writes_are_data_loss_with_their_span():
    result = build(step(measured={"acknowledged_writes_lost": 3, "lost_span_seconds": 1.25,
                                  "acknowledged_writes_checked": 500}),
                   step(name="b", measured={"acknowledged_writes_lost": 2, "lost_span_seconds": 0.5}))
    impact = result["impact"]
    assert (impact["data_loss"], impact["acknowledged_writes_lost"], impact["lost_span_seconds"]) == ("yes", 5, 1.75)
    assert "- Data loss: YES — 5 acknowledged writes, covering 1.8 s" in _drill.render_markdown(result)


def test_a_loss_without_its_span_says_so():
    result = build(step(measured={"acknowledged_writes_lost": 1}))
    assert "YES — 1 acknowledged write, over a span that was not measured" in _drill.render_markdown(result)


def test_no_lost_write_is_no_data_loss_with_the_number_checked():
    result = build(step(measured={"acknowledged_writes_lost": 0, "acknowledged_writes_checked": 1520}),
                   step(name="b", measured={"acknowledged_writes_lost": 0, "acknowledged_writes_checked": 80}))
    assert result["impact"]["data_loss"] == "no"
    assert "- Data loss: NO (1600 writes checked;" in _drill.render_markdown(result)


def test_rpo_zero_is_not_taken_for_no_data_loss():
    result = build(step(data_class="database", measured={"rpo_seconds": 0}))
    report = _drill.render_markdown(result)
    assert result["impact"]["data_loss"] == "not_measured"
    assert "- Data loss: not measured" in report
    assert "- Recovery point of etcd leader loss: 0.0 s (objective 900 s for database)" in report


def test_unmeasured_steps_say_data_loss_and_unavailability_were_not_measured():
    report = _drill.render_markdown(build(step()))
    assert "- Data loss: not measured" in report
    assert "- User-facing unavailability: not measured" in report


def test_unavailability_is_summed_over_the_steps_that_measured_it():
    result = build(step(measured={"unavailable_seconds": 14.5}), step(name="b", measured={"unavailable_seconds": 3}),
                   step(name="c"))
    assert result["impact"]["unavailable_seconds"] == 17.5
    assert result["impact"]["unavailability_measured_by"] == ["etcd leader loss", "b"]


# --- History and metrics ------------------------------------------------------

def entry(started, outcome="passed", unavailable=None, recoveries=(), lost=None):
    return {"schema_version": 2, "drill": "d", "started": started, "finished": started, "outcome": outcome,
            "unavailable_seconds": unavailable, "acknowledged_writes_lost": lost,
            "steps": [{"name": "s%d" % i, "status": "passed", "recovery_seconds": r} for i, r in enumerate(recoveries)]}


def test_the_history_line_holds_outcome_times_recoveries_unavailability_and_loss():
    result = build(step(tier="critical", measured={"rto_seconds": 9.5, "unavailable_seconds": 9.5,
                                                   "acknowledged_writes_lost": 0}),
                   step(name="restore", status="not_run", detail="no backup"))
    line = _drill.history_entry(result)
    assert (line["outcome"], line["started"], line["finished"]) == ("incomplete", result["started"],
                                                                    result["finished"])
    assert (line["unavailable_seconds"], line["acknowledged_writes_lost"]) == (9.5, 0)
    assert [(s["name"], s["recovery_seconds"]) for s in line["steps"]] == [
        ("etcd leader loss", 9.5), ("restore", None)]
    entries, skipped = _drill.parse_history([json.dumps(line)])
    assert (entries, skipped) == ([line], [])


def test_corrupt_history_lines_are_skipped_with_the_reason_and_not_counted():
    good = json.dumps(entry("2026-11-01T10:00:00Z"))
    lines = [good.encode(), b"", b'{"outcome": "passed", "started": "2026-11-02T10:00:00Z"',
             json.dumps(entry("2026-11-03T10:00:00Z", outcome="great")).encode(),
             json.dumps(dict(entry("2026-11-04T10:00:00Z"), started="last tuesday")).encode(),
             b"\xff\xfe{}", b"[1, 2]", json.dumps(entry("2026-11-05T10:00:00Z", outcome="failed")).encode(),
             json.dumps(dict(entry("2026-11-06T10:00:00Z"), steps=[{"recovery_seconds": "slow"}])).encode()]
    entries, skipped = _drill.parse_history(lines)
    assert [e["started"] for e in entries] == ["2026-11-01T10:00:00Z", "2026-11-05T10:00:00Z"]
    assert [s["line"] for s in skipped] == [3, 4, 5, 6, 7, 9]
    assert skipped[0]["reason"].startswith("not JSON")
    assert "outcome 'great'" in skipped[1]["reason"]
    assert skipped[3]["reason"] == "not UTF-8 text"
    summary = _drill.summarize_history(entries, "2026-11-05T10:00:00Z", skipped=skipped)
    assert summary["drills_run"] == 2
    assert len(summary["skipped_lines"]) == 6
    report = _drill.render_markdown(dict(build(step()), history=summary))
    assert "- Left out: history line 3 could not be read (not JSON" in report


def test_drill_counts_success_rate_and_mttr_over_the_whole_history():
    entries = [entry("2026-09-01T10:00:00Z", "passed", recoveries=[10.0, 20.0]),
               entry("2026-10-01T10:00:00Z", "failed", recoveries=[60.0, None]),
               entry("2026-11-01T10:00:00Z", "incomplete", recoveries=[]),
               entry("2026-11-20T10:00:00Z", "passed", recoveries=[30.0])]
    summary = _drill.summarize_history(entries, "2026-11-20T10:00:00Z")
    assert (summary["drills_run"], summary["drills_passed"], summary["drills_failed"],
            summary["drills_incomplete"]) == (4, 2, 1, 1)
    assert summary["drill_success_rate"] == 0.5
    assert (summary["mttr_seconds"], summary["mttr_samples"]) == (30.0, 4)
    assert summary["first_drill"] == "2026-09-01T10:00:00.000000Z"


def test_mtbf_needs_two_failed_drills():
    one = _drill.summarize_history([entry("2026-09-01T00:00:00Z", "failed"), entry("2026-10-01T00:00:00Z")],
                                   "2026-10-01T00:00:00Z")
    assert one["mtbf_seconds"] is None
    report = _drill.render_markdown(dict(build(step()), history=one))
    assert "- MTBF: not enough failures (1 failed drill in the history" in report
    three = _drill.summarize_history([entry("2026-09-01T00:00:00Z", "failed"), entry("2026-09-05T00:00:00Z"),
                                      entry("2026-09-11T00:00:00Z", "failed"),
                                      entry("2026-09-21T00:00:00Z", "failed")], "2026-09-21T00:00:00Z")
    # Failures on the 1st, 11th and 21st: 10 days apart on average; the passed drill does not count.
    assert three["mtbf_seconds"] == 10 * 86400
    assert "- MTBF: 10.0 days (mean time between 3 failed drills)" in _drill.render_markdown(
        dict(build(step()), history=three))


def test_a_drill_recorded_twice_counts_once_the_last_line_winning():
    summary = _drill.summarize_history([entry("2026-11-01T10:00:00Z", "failed"),
                                        entry("2026-11-01T10:00:00.000000+00:00", "passed")], START)
    assert (summary["drills_run"], summary["drills_passed"], summary["duplicate_lines"]) == (1, 1, 1)


def test_sla_budget_is_spent_by_this_months_unavailability_only():
    entries = [entry("2026-10-31T23:59:00Z", unavailable=600.0),
               entry("2026-11-02T10:00:00Z", unavailable=100.0),
               entry("2026-11-10T10:00:00Z"),
               entry("2026-11-26T10:00:00Z", unavailable=20.5)]
    sla = _drill.summarize_history(entries, "2026-11-26T10:00:00Z")["sla"]
    assert sla["month"] == "2026-11"
    assert sla["budget_seconds"] == pytest.approx(43.2 * 60)
    assert sla["spent_seconds"] == 120.5
    assert sla["remaining_seconds"] == pytest.approx(43.2 * 60 - 120.5)
    assert (sla["drills_this_month"], sla["drills_without_unavailability"], sla["exceeded"]) == (3, 1, False)
    report = _drill.render_markdown(dict(build(step()), history=_drill.summarize_history(entries, START)))
    assert "- Allowed downtime: 43.2 min (2592 s) per 30-day month" in report
    assert "- Spent by drills this month: 2.0 min (120.5 s) over 3 drills (1 drill did not measure" in report
    assert "- Remaining: 41.2 min (2471.5 s)" in report


def test_an_overspent_budget_says_so():
    summary = _drill.summarize_history([entry(START, unavailable=3000.0)], START)
    assert summary["sla"]["exceeded"] is True
    assert "- Remaining: NONE, overspent by 6.8 min (408 s)" in _drill.render_markdown(dict(build(step()), history=summary))


@pytest.mark.parametrize("percent", [100, 0, -1, "high"])
def test_an_impossible_sla_target_is_refused(percent):
    with pytest.raises(_drill.DrillInputError, match="sla_percent"):
        _drill.summarize_history([], START, sla_percent=percent)


def test_backup_success_rate_from_the_given_runs():
    backups = _drill.summarize_backups([{"finished": "2026-11-25T02:10:00Z", "ok": True},
                                        {"finished": "2026-11-26T02:10:00Z", "ok": False},
                                        {"finished": 1795399800, "ok": True},
                                        {"finished": "2026-11-24T02:10:00Z", "ok": True}])
    assert (backups["count"], backups["ok"], backups["failed"], backups["success_rate"]) == (4, 3, 1, 0.75)
    assert (backups["last_finished"][:10], backups["last_ok"]) == ("2026-11-26", False)
    report = _drill.render_markdown(dict(build(step()), history=_drill.summarize_history([], START, backups)))
    assert "- Backup success rate: 75.0 % (3 of 4 backups from 2026-11-23 to 2026-11-26; the last one FAILED)" in report


@pytest.mark.parametrize("given", [None, []])
def test_no_backup_results_are_said_to_be_missing(given):
    backups = _drill.summarize_backups(given)
    assert (backups["given"], backups["success_rate"]) == (False, None)
    report = _drill.render_markdown(dict(build(step()), history=_drill.summarize_history([], START, backups)))
    assert "- Backup success rate: no backup results given" in report


@pytest.mark.parametrize("bad,message", [
    ([{"finished": START}], "backup result 1 needs finished"),
    ([{"finished": START, "ok": "yes"}], "ok must be true or false"),
    ([{"finished": "soon", "ok": True}], "backup result 1: finished: not a timestamp"),
    ("all good", "must be a list"),
])
def test_bad_backup_results_are_refused(bad, message):
    with pytest.raises(_drill.DrillInputError, match=message):
        _drill.summarize_backups(bad)


# --- Failure messages ---------------------------------------------------------

def test_an_incomplete_drill_names_the_steps_not_run_and_why():
    result = build(step(), step(name="restore test", status="not_run", detail="no backup reachable"),
                   step(name="cache loss", status="not_run"))
    assert _drill.failure_message(result) == (
        "drill incomplete: 2 steps not run: restore test (no backup reachable), cache loss (no reason given)")
    assert _drill.failure_message(result, allow_incomplete=True) is None
    assert _drill.failure_message(build()) == "drill incomplete: no step was recorded"


def test_a_failed_drill_names_the_failed_steps_and_what_they_missed():
    result = build(step(tier="critical", measured={"rto_seconds": 4000}),
                   step(name="restore", status="failed", detail="restore failed: no backup"),
                   step(name="cache", status="not_run", detail="limited out"))
    assert _drill.failure_message(result) == (
        "drill failed: 2 steps failed: etcd leader loss (RTO critical 4000.0 s vs 3600 s: MISSED), "
        "restore (restore failed: no backup); also 1 step not run: cache (limited out)")
    assert _drill.failure_message(result, fail_on_failed_step=False) is None
    assert _drill.failure_message(build(step())) is None


# --- SVG timeline -------------------------------------------------------------

def svg_of(*steps):
    return ET.fromstring(_drill.render_svg(build(*steps)).encode("utf-8"))


def test_the_timeline_is_well_formed_with_one_bar_per_timed_step():
    root = svg_of(
        step(started="2026-11-26T10:01:00Z", finished="2026-11-26T10:01:40Z"),
        step(name="db crash", status="failed", started="2026-11-26T10:03:00Z", finished="2026-11-26T10:04:00Z"),
        step(name="restore", status="not_run", detail="no backup reachable"))
    assert root.tag == SVG + "svg"
    bars = root.findall(".//%srect[@class='bar']" % SVG)
    assert [(b.get("data-status"), b.get("data-start"), b.get("data-end")) for b in bars] == [
        ("passed", "60", "100"), ("failed", "180", "240")]
    assert [b.get("fill") for b in bars] == [_drill.COLOURS["passed"], _drill.COLOURS["failed"]]
    rows = root.findall(".//%sg[@class='step']" % SVG)
    assert [r.get("data-step") for r in rows] == ["etcd leader loss", "db crash", "restore"]
    assert "no bar: no backup reachable" in "".join(rows[2].itertext())
    # The later step's bar starts further right, and is 1.5 times as long.
    assert float(bars[1].get("x")) > float(bars[0].get("x")) + float(bars[0].get("width"))
    assert float(bars[1].get("width")) == pytest.approx(1.5 * float(bars[0].get("width")), rel=1e-3)


def test_a_check_in_seconds_puts_its_limit_marker_at_start_plus_limit():
    root = svg_of(step(started="2026-11-26T10:01:00Z", finished="2026-11-26T10:01:40Z",
                       checks=[check(measured=12.0, limit=30),
                               check(name="writes lost", measured=0, limit=0, unit="writes")]),
                  step(name="untimed", checks=[check()]))
    first = root.find(".//%srect[@class='bar']" % SVG)
    markers = root.findall(".//%sline[@class='objective']" % SVG)
    assert [(m.get("data-check"), m.get("data-limit")) for m in markers] == [("database writable again", "30")]
    x0, width = float(first.get("x")), float(first.get("width"))
    # The bar covers 40 s; the limit is 30 s after its start.
    assert float(markers[0].get("x1")) == pytest.approx(x0 + width * 30 / 40, abs=0.02)
    measured = root.find(".//%scircle[@class='measured']" % SVG)
    assert float(measured.get("cx")) == pytest.approx(x0 + width * 12 / 40, abs=0.02)
    text = "".join(root.itertext())
    assert "database writable again 12.0 s vs 30 s: met" in text
    assert "writes lost 0 writes vs 0 writes: met" in text


def test_a_limit_past_every_bar_still_fits_on_the_axis():
    root = svg_of(step(started="2026-11-26T10:00:00Z", finished="2026-11-26T10:00:10Z",
                       checks=[check(measured=None, limit=900)]))
    first = root.find(".//%srect[@class='bar']" % SVG)
    marker = root.find(".//%sline[@class='objective']" % SVG)
    # The axis runs to 900 s, the limit: the marker ends it, the 10 s bar is a ninetieth of it.
    assert float(marker.get("x1")) < float(root.get("width"))
    assert float(marker.get("x1")) - float(first.get("x")) == pytest.approx(90 * float(first.get("width")), rel=1e-3)
    assert root.find(".//%scircle[@class='measured']" % SVG) is None


def test_names_and_details_are_escaped():
    nasty = 'a <b> & "c" \'d\' \x01'
    root = svg_of(step(name=nasty, started=START, finished=END, checks=[check(name="<x>&")]),
                  step(name="]]> </svg>", status="not_run", detail="<script>alert(1)</script>"))
    rows = root.findall(".//%sg[@class='step']" % SVG)
    assert rows[0].get("data-step") == 'a <b> & "c" \'d\' \ufffd'
    assert rows[1].get("data-step") == "]]> </svg>"
    assert "<script>alert(1)</script>" in "".join(rows[1].itertext())
    assert root.find(".//%sscript" % SVG) is None
    assert root.find(".//%sline[@class='objective']" % SVG).get("data-check") == "<x>&"


def test_an_empty_drill_still_draws_a_timeline():
    root = svg_of()
    assert root.findall(".//%srect[@class='bar']" % SVG) == []
    assert "no step was recorded" in "".join(root.itertext())


# --- Notifications ------------------------------------------------------------

LEVELS = {"P1_critical": {"notify": ["CTO"], "channel": "phone + slack"},
          "P2_major": {"notify": ["Engineering Team", "Support Team"], "channel": "slack + email"},
          "P3_minor": {"notify": ["On-call Engineer"], "channel": "slack"}}
LEVEL_FOR = {"started": "P3_minor", "passed": "P3_minor", "incomplete": "P3_minor", "failed": "P2_major"}


def finished(*steps):
    result = build(*steps)
    result["estate"] = "lab"
    return result


def test_start_notice_renders_the_plans_initial_template_with_the_window_as_eta():
    notice = _drill.drill_notice("started", {"drill": "dr-drill", "estate": "lab", "started": START,
                                             "steps": ["etcd leader loss", "database primary crash"],
                                             "window_minutes": 30}, LEVELS, LEVEL_FOR)
    assert notice["level"] == "P3_minor" and notice["notify"] == ["On-call Engineer"]
    text = notice["customer_notice_rehearsal"]
    assert text.startswith("Subject: Service Disruption Notice\n")
    assert "affecting etcd leader loss, database primary crash." in text
    assert "Start Time: 2026-11-26T10:00:00.000000Z" in text
    assert "Expected Resolution: 2026-11-26T10:30:00.000000Z (end of the announced 30-minute window)" in text
    assert notice["subject"] == "[DR drill, lab] dr-drill started"
    assert "rehearsal, not sent to customers" in notice["text"]


def test_passed_drill_renders_the_resolution_notice_with_the_measured_duration():
    notice = _drill.drill_notice("finished", finished(step(tier="critical", measured={"rto_seconds": 2.5})),
                                 LEVELS, LEVEL_FOR)
    assert notice["outcome"] == "passed" and notice["level"] == "P3_minor"
    assert "All systems are operational." in notice["customer_notice_rehearsal"]
    assert "Duration: 10.0 min" in notice["customer_notice_rehearsal"]
    assert notice["summary"].startswith("DR drill d on the lab estate PASSED after 10.0 min: 1 passed, 0 failed")


def test_failed_drill_never_claims_systems_are_operational_and_names_the_miss():
    notice = _drill.drill_notice("finished", finished(
        step(name="db crash", tier="critical", measured={"rto_seconds": 4000}),
        step(name="restore", status="not_run", detail="no restore host")), LEVELS, LEVEL_FOR)
    assert notice["level"] == "P2_major" and notice["notify"] == ["Engineering Team", "Support Team"]
    assert "All systems are operational" not in notice["text"]
    assert "Expected Resolution: under investigation" in notice["customer_notice_rehearsal"]
    assert notice["failed_steps"] == ["db crash (RTO critical 4000.0 s vs 3600 s: MISSED)"]
    assert notice["not_run_steps"] == ["restore"]
    assert "FAILED" in notice["subject"]


def test_measured_data_loss_is_in_the_summary():
    notice = _drill.drill_notice("finished", finished(step(measured={"acknowledged_writes_lost": 2})),
                                 LEVELS, LEVEL_FOR)
    assert notice["acknowledged_writes_lost"] == 2 and "2 acknowledged writes lost" in notice["summary"]
    notice = _drill.drill_notice("finished", finished(step()), LEVELS, LEVEL_FOR)
    assert "data loss not measured" in notice["summary"]


@pytest.mark.parametrize("event,context,levels,message", [
    ("begun", {"started": START}, LEVELS, "notice event 'begun'"),
    ("finished", {"started": START}, LEVELS, "needs its outcome"),
    ("started", {"started": START}, {}, "no incident level 'P3_minor'"),
    ("started", {"started": "2026-11-26 10:00"}, LEVELS, "without a time zone"),
])
def test_bad_notice_input_is_refused_with_the_reason(event, context, levels, message):
    with pytest.raises(_drill.DrillInputError, match=message):
        _drill.drill_notice(event, context, levels, LEVEL_FOR)
