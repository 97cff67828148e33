"""The drill's user-facing probe: how long users saw failures, and that it
really fails on answers that are not 2xx and on no answer at all."""

import http.server
import json
import threading

from repo_scripts import load_script

probe = load_script("roles/dr/files/dr_http_probe.py", "dr_http_probe")


def test_longest_failure_runs_from_the_first_failure_to_the_next_success():
    samples = [(10.0, True), (10.1, False), (10.2, False), (10.9, True), (11.0, False), (11.1, True)]
    assert probe.longest_failure(samples) == 0.8


def test_a_failure_that_lasts_to_the_end_counts_up_to_the_last_sample():
    assert probe.longest_failure([(1.0, True), (2.0, False), (5.5, False)]) == 3.5


def test_no_failure_is_zero():
    assert probe.longest_failure([(1.0, True), (2.0, True)]) == 0.0
    assert probe.longest_failure([]) == 0.0


class _Flaky(http.server.BaseHTTPRequestHandler):
    answers = []

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        code = self.answers.pop(0) if self.answers else 200
        self.send_response(code)
        self.end_headers()

    def log_message(self, *_args):
        pass


def _probe_against(handler, tmp_path):
    """Runs the probe for 0.3 s against a local server with this handler; its summary."""
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "summary.json"
        url = "http://127.0.0.1:%d/health" % server.server_port
        assert probe.main(["probe", "--url", url, "--rate", "50", "--duration", "0.3", "--output", str(out)]) == 0
    finally:
        server.shutdown()
    return json.loads(out.read_text())


def test_a_run_counts_5xx_answers_as_failures(tmp_path):
    _Flaky.answers = [200, 503, 502, 200]
    summary = _probe_against(_Flaky, tmp_path)
    assert summary["failed"] == 2 and [f[1] for f in summary["failures"]] == [503, 502]
    assert summary["requests"] >= 4 and summary["longest_failure_seconds"] > 0


def test_no_answer_at_all_is_a_failure(tmp_path):
    out = tmp_path / "summary.json"
    # Port 9 (discard) on loopback: nothing listens there.
    probe.main(["probe", "--url", "http://127.0.0.1:9/", "--rate", "20", "--duration", "0.2", "--output", str(out)])
    summary = json.loads(out.read_text())
    assert summary["requests"] > 0 and summary["failed"] == summary["requests"]
    assert {f[1] for f in summary["failures"]} == {0}


def test_spans_and_seconds_let_a_step_count_its_own_window():
    samples = [(100.2, True), (100.7, False), (101.1, False), (101.6, True), (102.3, True)]
    assert probe.failing_spans(samples) == [[100.7, 101.6]]
    assert probe.per_second(samples) == [[100, 2, 1], [101, 2, 1], [102, 1, 0]]


class _CutShort(http.server.BaseHTTPRequestHandler):
    """Promises a body and closes the connection half-way, as a backend
    restarted mid-answer does behind nginx."""

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.send_header("Content-Length", "100")
        self.end_headers()
        self.wfile.write(b"cut")
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *_args):
        pass


def test_an_answer_cut_short_is_a_failure_and_the_probe_keeps_going(tmp_path):
    summary = _probe_against(_CutShort, tmp_path)
    assert summary["requests"] >= 2 and summary["failed"] == summary["requests"]
