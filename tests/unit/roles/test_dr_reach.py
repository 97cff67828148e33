import socket
import threading

import pytest

from repo_scripts import load_script

reach = load_script("roles/dr/files/dr_reach.py", "dr_reach")


def test_split_target():
    assert reach.split_target("pg1:5432") == ("pg1", 5432)
    assert reach.split_target("[::1]:22") == ("::1", 22)
    with pytest.raises(ValueError):
        reach.split_target("pg1")


def test_a_listening_port_is_open_and_a_closed_one_refused():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]

    def accept_one():
        server.accept()[0].close()

    accepted = threading.Thread(target=accept_one)
    accepted.start()
    try:
        assert reach.probe("127.0.0.1", port, 2) == "open"
    finally:
        accepted.join(5)
        server.close()
    # Closed now: the kernel answers with RST, the host is still reachable.
    assert reach.probe("127.0.0.1", port, 2) == "refused"


def test_an_unknown_name_is_unresolved():
    assert reach.probe("no-such-host.invalid", 22, 1) == "unresolved"


def test_a_host_is_isolated_only_when_no_port_answers():
    results = [{"host": "pg1", "port": 5432, "state": "silent"},
               {"host": "pg1", "port": 8008, "state": "refused"},
               {"host": "pg2", "port": 5432, "state": "silent"},
               {"host": "pg2", "port": 22, "state": "unreachable"}]
    hosts = reach.verdict(results)
    assert hosts["pg1"] == {"isolated": False, "answered": ["8008 refused"]}
    assert hosts["pg2"] == {"isolated": True, "answered": []}
