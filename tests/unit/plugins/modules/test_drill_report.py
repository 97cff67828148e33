"""drill_report as a whole: the files it writes (or not, in check mode), the
history it keeps across runs, and when it fails the task."""

import json
import xml.etree.ElementTree as ET

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.fulexo.dr.plugins.modules import drill_report

OBJECTIVES = {"rto_seconds": {"critical": 3600}, "rpo_seconds": {"database": 900}}
STAMP = "20261126T100000Z"


def passed_step(**kw):
    base = {"name": "database primary crash", "status": "passed", "tier": "critical",
            "started": "2026-11-26T10:01:00Z", "finished": "2026-11-26T10:01:40Z",
            "measured": {"rto_seconds": 14.0, "unavailable_seconds": 14.0, "acknowledged_writes_lost": 0,
                         "acknowledged_writes_checked": 900},
            "checks": [{"name": "database writable again", "measured": 14.0, "limit": 30, "unit": "s"}]}
    base.update(kw)
    return base


def run(capsys, results_dir, steps, started="2026-11-26T10:00:00Z", **args):
    base = dict(name="dr-drill", started=started, finished="2026-11-26T10:05:00Z", steps=steps,
                objectives=OBJECTIVES, results_dir=str(results_dir))
    base.update(args)
    with patch_module_args(base):
        with pytest.raises(SystemExit):
            drill_report.main()
    return json.loads(capsys.readouterr().out)


def test_writes_json_markdown_svg_and_a_history_line(capsys, tmp_path):
    out = run(capsys, tmp_path / "results", [passed_step()])
    assert not out.get("failed") and out["changed"] is True and out["outcome"] == "passed"
    results = tmp_path / "results"
    assert sorted(p.name for p in results.iterdir()) == [
        "dr-drill-%s.json" % STAMP, "dr-drill-%s.md" % STAMP, "dr-drill-%s.svg" % STAMP, "dr-drill-history.jsonl"]
    written = json.loads((results / ("dr-drill-%s.json" % STAMP)).read_text())
    assert written == out["result"]
    assert written["schema_version"] == 2
    assert written["files"]["svg"] == "dr-drill-%s.svg" % STAMP
    assert (results / ("dr-drill-%s.md" % STAMP)).read_text() == out["report"]
    svg = ET.parse(str(results / ("dr-drill-%s.svg" % STAMP))).getroot()
    assert len(svg.findall(".//{http://www.w3.org/2000/svg}rect[@class='bar']")) == 1
    history = (results / "dr-drill-history.jsonl").read_text().splitlines()
    assert len(history) == 1
    assert json.loads(history[0])["outcome"] == "passed"
    assert out["history_path"] == str(results / "dr-drill-history.jsonl")


def test_each_run_adds_to_the_history_and_the_metrics(capsys, tmp_path):
    run(capsys, tmp_path, [passed_step()], started="2026-11-02T10:00:00Z")
    run(capsys, tmp_path, [passed_step(status="failed", measured={"rto_seconds": 40.0, "unavailable_seconds": 40.0})],
        started="2026-11-10T10:00:00Z", fail_on_failed_step=False)
    out = run(capsys, tmp_path, [passed_step(measured={"rto_seconds": 6.0})], started="2026-11-20T10:00:00Z")
    history = out["result"]["history"]
    assert (history["drills_run"], history["drills_passed"], history["drills_failed"]) == (3, 2, 1)
    assert history["mttr_seconds"] == 20.0
    assert history["sla"]["spent_seconds"] == 54.0
    assert len((tmp_path / "dr-drill-history.jsonl").read_text().splitlines()) == 3
    assert "- Drill success rate: 66.7 % (2 of 3 passed)" in out["report"]


def test_check_mode_writes_nothing_but_reports_the_same(capsys, tmp_path):
    run(capsys, tmp_path, [passed_step()], started="2026-11-02T10:00:00Z")
    before = sorted(p.name for p in tmp_path.iterdir())
    history_before = (tmp_path / "dr-drill-history.jsonl").read_text()
    out = run(capsys, tmp_path, [passed_step()], _ansible_check_mode=True)
    assert out["changed"] is True and out["outcome"] == "passed"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "dr-drill-history.jsonl").read_text() == history_before
    # The metrics count the drill it would have recorded.
    assert out["result"]["history"]["drills_run"] == 2


def test_check_mode_does_not_create_the_results_dir(capsys, tmp_path):
    out = run(capsys, tmp_path / "new", [passed_step()], _ansible_check_mode=True)
    assert not out.get("failed")
    assert not (tmp_path / "new").exists()


def test_a_corrupt_history_line_is_left_out_with_a_warning(capsys, tmp_path):
    run(capsys, tmp_path, [passed_step()], started="2026-11-02T10:00:00Z")
    with open(str(tmp_path / "dr-drill-history.jsonl"), "a") as handle:
        handle.write('{"outcome": "passed", "started": "2026-11-0')  # cut short, no newline
    out = run(capsys, tmp_path, [passed_step()])
    assert not out.get("failed")
    assert out["result"]["history"]["drills_run"] == 2
    assert [s["line"] for s in out["result"]["history"]["skipped_lines"]] == [2]
    # ansible-core 2.19 returns warnings as structured events; older versions as strings.
    assert "line 2 left out of the metrics: not JSON" in json.dumps(out["warnings"])
    lines = (tmp_path / "dr-drill-history.jsonl").read_text().splitlines()
    # The new line was not glued to the broken one.
    assert len(lines) == 3 and json.loads(lines[2])["started"] == "2026-11-26T10:00:00.000000Z"


def test_an_incomplete_drill_fails_after_writing_its_report(capsys, tmp_path):
    steps = [passed_step(), {"name": "restore test", "status": "not_run", "detail": "no backup reachable"}]
    out = run(capsys, tmp_path, steps)
    assert out["failed"] is True and out["outcome"] == "incomplete"
    assert out["msg"] == ("drill incomplete: 1 step not run: restore test (no backup reachable) (report: %s)"
                          % out["markdown_path"])
    assert (tmp_path / ("dr-drill-%s.md" % STAMP)).exists()
    accepted = run(capsys, tmp_path, steps, allow_incomplete=True)
    assert not accepted.get("failed") and accepted["outcome"] == "incomplete"


def test_a_failed_drill_fails_unless_told_not_to(capsys, tmp_path):
    steps = [passed_step(checks=[{"name": "database writable again", "measured": 45.0, "limit": 30, "unit": "s"}])]
    out = run(capsys, tmp_path, steps)
    assert out["failed"] is True and out["outcome"] == "failed"
    assert out["msg"].startswith("drill failed: 1 step failed: database primary crash "
                                 "(database writable again 45.0 s vs 30 s: MISSED)")
    assert not run(capsys, tmp_path, steps, fail_on_failed_step=False).get("failed")


@pytest.mark.parametrize("args,message", [
    (dict(steps=[{"name": "restore test"}]), "step 'restore test' has no status"),
    (dict(backup_results=[{"finished": "2026-11-26T02:00:00Z", "ok": "maybe"}]), "ok must be true or false"),
    (dict(sla_percent=100.0), "sla_percent must be between 0 and 100"),
    (dict(name="../elsewhere"), "cannot be used in a file name"),
])
def test_bad_input_fails_with_the_reason_and_writes_nothing(capsys, tmp_path, args, message):
    params = dict(steps=[passed_step()])
    params.update(args)
    out = run(capsys, tmp_path / "results", **params)
    assert out["failed"] is True and message in out["msg"]
    assert not (tmp_path / "results").exists()


def test_backup_results_give_the_backup_success_rate(capsys, tmp_path):
    out = run(capsys, tmp_path, [passed_step()], backup_results=[
        {"finished": "2026-11-24T02:10:00Z", "ok": True}, {"finished": "2026-11-25T02:10:00Z", "ok": False}])
    assert out["result"]["history"]["backups"]["success_rate"] == 0.5
    assert "- Backup success rate: 50.0 % (1 of 2 backups" in out["report"]
