"""The write probe's arithmetic: gaps with no acknowledged write, per-second
rows and the summary the drill and the scenarios judge."""

from repo_scripts import load_script

probe = load_script("roles/dr/files/dr_write_probe.py", "dr_write_probe")


def test_longest_gap_finds_the_outage_between_acknowledgements():
    gap, start, end = probe.longest_gap([100.1, 100.2, 100.3, 107.8, 107.9], 100.0, 110.0)
    assert round(gap, 3) == 7.5 and start == 100.3 and end == 107.8


def test_longest_gap_counts_the_tail_after_the_last_acknowledgement():
    gap, start, end = probe.longest_gap([100.5, 101.0], 100.0, 130.0)
    assert gap == 29.0 and (start, end) == (101.0, 130.0)


def test_a_probe_that_never_wrote_has_one_gap_as_long_as_the_run():
    gap, start, end = probe.longest_gap([], 100.0, 160.0)
    assert gap == 60.0 and (start, end) == (100.0, 160.0)


def test_per_second_rows_count_acks_errors_and_the_most_writable_members():
    rows = probe.per_second(100.0, 102.5, [100.1, 100.9, 101.2], [101.5, 102.1],
                            [(100.2, 1), (101.1, 2), (101.7, 1)])
    assert rows == [[0, 2, 0, 1], [1, 1, 1, 2], [2, 0, 1, None]]


def test_summary_reports_two_writable_members_and_lost_ids():
    summary = probe.summarize(100.0, 103.0, [(7, 100.5), (8, 102.9)], [101.0], [(100.1, 1), (101.1, 2)],
                              lost=[8])
    assert summary["acknowledged"] == 2 and summary["failed"] == 1
    assert summary["first_id"] == 7 and summary["last_id"] == 8
    assert summary["longest_gap_seconds"] == 2.4 and summary["longest_gap_from"] == 0.5
    assert summary["max_writable_members"] == 2 and summary["min_writable_members"] == 1
    assert summary["lost"] == 1 and summary["lost_ids"] == [8]
    assert summary["lost_span_seconds"] == 0.0 and summary["lost_first_at"] == 2.9


def test_lost_span_runs_from_the_first_lost_acknowledgement_to_the_last():
    acks = [(1, 100.2), (2, 100.7), (3, 101.4), (4, 101.9)]
    summary = probe.summarize(100.0, 102.0, acks, [], [], lost=[4, 2, 3])
    assert summary["lost"] == 3 and summary["lost_span_seconds"] == 1.2 and summary["lost_first_at"] == 0.7


def test_nothing_lost_is_a_zero_span():
    summary = probe.summarize(100.0, 102.0, [(1, 100.2)], [], [], lost=[])
    assert summary["lost"] == 0 and summary["lost_span_seconds"] == 0.0 and summary["lost_first_at"] is None


def test_summary_without_verification_says_loss_is_unknown():
    summary = probe.summarize(100.0, 101.0, [], [], [])
    assert summary["lost"] is None and summary["max_writable_members"] is None
    assert summary["lost_span_seconds"] is None
    assert summary["longest_gap_seconds"] == 1.0
