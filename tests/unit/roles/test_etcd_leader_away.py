"""The patroni role's etcd leader anti-affinity: when to hand etcd
leadership away from the database primary's host, and to whom."""

from repo_scripts import load_script

away = load_script("roles/patroni/files/etcd_leader_away.py", "etcd_leader_away")


def status(member, leader, applied):
    # As etcd 3.4's HTTP gateway prints it: uint64 fields as strings.
    return {"header": {"member_id": str(member)}, "leader": str(leader), "raftAppliedIndex": str(applied)}


def test_moves_to_the_most_caught_up_member_when_the_local_member_leads():
    statuses = {"a:2379": status(1, 1, 100), "b:2379": status(2, 1, 98), "c:2379": status(3, 1, 99)}
    assert away.choose_transfer(statuses, "a:2379") == 3


def test_leaves_leadership_alone_when_another_member_leads():
    statuses = {"a:2379": status(1, 2, 100), "b:2379": status(2, 2, 100), "c:2379": status(3, 2, 100)}
    assert away.choose_transfer(statuses, "a:2379") is None


def test_never_moves_to_a_member_that_does_not_answer_or_disagrees_on_the_leader():
    statuses = {"a:2379": status(1, 1, 100), "b:2379": None, "c:2379": status(3, 3, 100)}
    assert away.choose_transfer(statuses, "a:2379") is None


def test_does_nothing_when_the_local_member_does_not_answer():
    statuses = {"a:2379": None, "b:2379": status(2, 2, 100)}
    assert away.choose_transfer(statuses, "a:2379") is None


def test_member_ids_beyond_63_bits_survive():
    big = 17990672492312689695
    statuses = {"a:2379": status(5, 5, 10), "b:2379": status(big, 5, 10)}
    assert away.choose_transfer(statuses, "a:2379") == big


class FakeEstate(object):
    def __init__(self, primary, statuses):
        self.args = type("Args", (), {"local": "a:2379"})()
        self.primary, self._statuses, self.moved = primary, statuses, []

    def local_is_primary(self):
        return self.primary

    def statuses(self):
        return self._statuses

    def move_leader(self, target):
        self.moved.append(target)


def test_a_replica_host_never_moves_etcd_leadership():
    estate = FakeEstate(False, {"a:2379": status(1, 1, 100), "b:2379": status(2, 1, 100)})
    assert away.check_once(estate, lambda message: None) is None and estate.moved == []


def test_the_primary_host_moves_it_and_says_where():
    said = []
    estate = FakeEstate(True, {"a:2379": status(1, 1, 100), "b:2379": status(2, 1, 100)})
    assert away.check_once(estate, said.append) == 2 and estate.moved == [2]
    assert "b:2379" in said[0]
