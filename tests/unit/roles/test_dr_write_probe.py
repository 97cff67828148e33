"""The write probe's arithmetic: gaps with no acknowledged write, per-second
rows and the summary the drill and the scenarios judge."""

import socket
import struct
import threading

import pytest
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


# --resolve: the probe asks the DNS server itself before every connection.
def _response(ident, answers, rcode=0, question_name="db.fulexo.lab"):
    """A DNS response to the probe's query: the question, then each answer as
    (type, rdata) with its name as a pointer to the question's name."""
    query = probe.dns_query(question_name, ident)
    header = struct.pack(">HHHHHH", ident, 0x8400 | rcode, 1, len(answers), 0, 0)
    body = query[12:]
    for rtype, rdata in answers:
        body += struct.pack(">HHHIH", 0xC00C, rtype, 1, 30, len(rdata)) + rdata
    return header + body


def test_the_query_asks_for_the_names_a_record():
    query = probe.dns_query("db.fulexo.lab.", 0x1234)
    assert query[:2] == b"\x12\x34"
    assert query[12:] == b"\x02db\x06fulexo\x03lab\x00\x00\x01\x00\x01"


def test_the_answer_gives_the_a_record_after_a_cname():
    cname = b"\x04site\xc0\x0c"
    message = _response(7, [(5, cname), (1, socket.inet_aton("10.213.64.5"))])
    assert probe.dns_answer(message, 7) == "10.213.64.5"


def test_an_answer_to_another_query_is_refused():
    with pytest.raises(ValueError, match="another query"):
        probe.dns_answer(_response(8, [(1, socket.inet_aton("10.0.0.1"))]), 7)


def test_a_server_error_is_said():
    with pytest.raises(ValueError, match="error code 3"):
        probe.dns_answer(_response(7, [], rcode=3), 7)


def test_an_answer_without_an_a_record_is_refused():
    with pytest.raises(ValueError, match="no A record"):
        probe.dns_answer(_response(7, [(16, b"\x05hello")]), 7)


def test_resolve_asks_a_server_over_tcp():
    """A one-shot DNS server on loopback answers with the query's own id."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer_once():
        conn, _peer = server.accept()
        with conn:
            length = struct.unpack(">H", conn.recv(2))[0]
            query = conn.recv(length)
            ident = struct.unpack(">H", query[:2])[0]
            reply = _response(ident, [(1, socket.inet_aton("10.213.64.9"))])
            conn.sendall(struct.pack(">H", len(reply)) + reply)

    thread = threading.Thread(target=answer_once)
    thread.start()
    try:
        assert probe.resolve("db.fulexo.lab", "127.0.0.1", server.getsockname()[1]) == "10.213.64.9"
    finally:
        thread.join(5)
        server.close()


def test_acknowledgements_are_counted_per_address():
    summary = probe.summarize(100.0, 110.0, [(1, 100.5), (2, 101.0), (3, 108.0)], [], [],
                              addresses=[(1, 100.5, "10.0.0.6"), (2, 101.0, "10.0.0.6"), (3, 108.0, "10.0.0.5")])
    assert summary["acks_by_address"] == {"10.0.0.6": {"count": 2, "first_at": 100.5, "last_at": 101.0},
                                          "10.0.0.5": {"count": 1, "first_at": 108.0, "last_at": 108.0}}


def test_without_resolve_there_is_no_per_address_count():
    assert probe.summarize(100.0, 101.0, [(1, 100.5)], [], [])["acks_by_address"] is None
