#!/usr/bin/env python
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Failover benchmark: what a client writing through the load balancer feels.

A writer inserts ids through the load balancer's read-write port as fast as
it can (one autocommit INSERT at a time, reconnecting on any error) and
records every id whose INSERT was acknowledged. Each trial then either asks
Patroni for a planned switchover or kills the leader's host, waits for a new
leader, and afterwards counts:

- unavailable: the longest gap between two acknowledged writes around the
  event (seconds during which no write succeeded);
- lost: acknowledged ids that the new leader does not have.

Each trial starts from a settled cluster (whole, and in quorum mode every
replica in the quorum set), and a kill waits a random part of one loop_wait
first (--seed repeats the draw): a dead leader's key lives on for ttl minus
the time since the leader last renewed it, so a kill that always came at the
same point of the leader's HA loop would measure one point of that range.

Trials run in asynchronous replication, synchronous_mode, or
synchronous_mode strict (--modes), and
under each timing profile given with --profile NAME='{"ttl": ...}' (Patroni
dynamic settings applied with PATCH /config before its trials), so settings
are compared before and after a change in one run of the lab. This is a
measurement tool, not a test: it asserts nothing, it prints a table and
writes a JSON file to the results dir.

Example (the molecule/patroni lab, from the controller):

    .venv/bin/python bench/failover.py --lb 172.22.0.5 --password molecule-app \
        --api http://172.22.0.2:8008 http://172.22.0.3:8008 http://172.22.0.4:8008 \
        --rest-password molecule-restapi --trials 3 \
        --kill-cmd 'docker kill {member}' --start-cmd 'docker start {member}'
"""

import argparse
import base64
import json
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import psycopg


class Patroni(object):
    def __init__(self, urls, user, password, timeout=3):
        self.urls, self.timeout = [u.rstrip("/") for u in urls], timeout
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.auth = {"Authorization": "Basic " + token}

    def _call(self, url, method="GET", body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method,
                                     headers=dict(self.auth, **({"Content-Type": "application/json"} if data else {})))
        try:
            with urllib.request.urlopen(req, timeout=self.timeout if method == "GET" else 60) as resp:
                raw = resp.read().decode()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read().decode(), exc.code
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw

    def cluster(self):
        for base in self.urls:
            try:
                status, data = self._call(base + "/cluster")
                if status == 200 and isinstance(data, dict):
                    return data
            except OSError:
                continue
        return None

    def any_call(self, path, method, body):
        for base in self.urls:
            try:
                return self._call(base + path, method, body)
            except OSError:
                continue
        raise RuntimeError("no Patroni member answered %s %s" % (method, path))


def leader_of(cluster):
    leaders = [m for m in (cluster or {}).get("members", []) if m.get("role") in ("leader", "master")]
    return leaders[0] if len(leaders) == 1 and leaders[0].get("state") == "running" else None


def healthy(cluster, size):
    members = (cluster or {}).get("members", [])
    return (leader_of(cluster) is not None and len(members) == size
            and all(m.get("state") == "streaming" for m in members if m.get("role") not in ("leader", "master")))


def loop_wait_of(patroni):
    status, config = patroni.any_call("/config", "GET", None)
    return float((config if status == 200 and isinstance(config, dict) else {}).get("loop_wait") or 10)


def settled(cluster, size, mode):
    """Whole, and in quorum mode every replica already in the quorum set: a
    replica that has just rejoined streams before the leader's next HA loop
    adds it to /sync, and a leader killed in that window makes its successor
    keep the dead member as its only synchronous standby for a further
    loop_wait (Patroni postpones quorum changes after a promotion). A trial
    starts from the steady state a production cluster is in."""
    if not healthy(cluster, size):
        return False
    if mode != "quorum":
        return True
    return all(m.get("role") == "quorum_standby" for m in cluster["members"] if m.get("role") not in ("leader", "master"))


def wait(predicate, timeout, interval=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


class Writer(threading.Thread):
    """Inserts increasing ids; keeps (id, monotonic time) of every acknowledgement."""

    def __init__(self, dsn, table, start_id):
        super(Writer, self).__init__(daemon=True)
        self.dsn, self.table, self.next_id = dsn, table, start_id
        self.acked, self.errors = [], 0
        self.stop = threading.Event()

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=1)
                ident = self.next_id
                self.next_id += 1
                conn.execute("INSERT INTO %s (id) VALUES (%%s)" % self.table, (ident,))
                self.acked.append((ident, time.monotonic()))
            except psycopg.Error:
                self.errors += 1
                if conn is not None:
                    try:
                        conn.close()
                    except psycopg.Error:
                        pass
                conn = None
                time.sleep(0.05)
        if conn is not None:
            conn.close()


def longest_gap(acked, since):
    """Longest time between consecutive acknowledgements at or after `since`
    (including the one just before it)."""
    times = [entry[1] for entry in acked]
    before = [t for t in times if t < since]
    window = ([before[-1]] if before else []) + [t for t in times if t >= since]
    return max((b - a for a, b in zip(window, window[1:])), default=float("nan"))


def run_command(template, member):
    return subprocess.run(shlex.split(template.format(member=member)), check=True, capture_output=True,
                          text=True).stdout


def etcd_leader_address(status_json):
    """Address (host part of the client URL) of the etcd member that leads,
    from `etcdctl endpoint status -w json`; None when no endpoint names one."""
    for entry in json.loads(status_json or "[]"):
        status = entry.get("Status") or {}
        if status.get("leader") and status.get("header", {}).get("member_id") == status["leader"]:
            endpoint = entry.get("Endpoint", "")
            return endpoint.split("://", 1)[-1].rsplit(":", 1)[0]
    return None


def etcd_member_ids(status_json):
    """{address: member id in hex (as etcdctl move-leader takes it)} from
    `etcdctl endpoint status -w json`."""
    ids = {}
    for entry in json.loads(status_json or "[]"):
        member = ((entry.get("Status") or {}).get("header") or {}).get("member_id")
        if member is not None:
            ids[entry.get("Endpoint", "").split("://", 1)[-1].rsplit(":", 1)[0]] = "%x" % member
    return ids


def lease_remaining(timetolive_output):
    """Seconds left on a lease, from `etcdctl lease timetolive` ('... remaining(13s)'); None when not said."""
    match = re.search(r"remaining\((-?\d+)s\)", timetolive_output or "")
    return int(match.group(1)) if match else None


def writes_per_second(acked, start, end):
    """Acknowledged writes per second in [start, end): the steady rate before the event."""
    count = sum(1 for entry in acked if start <= entry[1] < end)
    return count / (end - start) if end > start else float("nan")


MODE_LABELS = {"async": "async", "sync": "synchronous_mode", "strict": "synchronous_mode strict",
               "quorum": "synchronous_mode quorum"}


def set_mode(patroni, mode, size):
    sync = mode in ("sync", "strict", "quorum")
    status, answer = patroni.any_call("/config", "PATCH", {
        "synchronous_mode": "quorum" if mode == "quorum" else sync, "synchronous_mode_strict": mode == "strict"})
    if status != 200:
        raise RuntimeError("PATCH /config answered %s: %s" % (status, answer))

    def settled():
        cluster = patroni.cluster()
        has_sync = any(m.get("role") in ("sync_standby", "quorum_standby") for m in (cluster or {}).get("members", []))
        return healthy(cluster, size) and has_sync == sync
    if not wait(settled, 60):
        raise RuntimeError("cluster did not settle in %s mode" % mode)


def original_mode(config):
    """The bench mode that puts a cluster's replication setting back."""
    if config.get("synchronous_mode") == "quorum":
        return "quorum"
    if config.get("synchronous_mode"):
        return "strict" if config.get("synchronous_mode_strict") else "sync"
    return "async"


def config_holds(config, settings):
    """Whether the dynamic configuration has every value of `settings`;
    nested sections (postgresql.parameters) are compared key by key, and a
    None value means the key is absent (how PATCH /config removes one)."""
    for key, value in settings.items():
        if isinstance(value, dict):
            if not config_holds((config or {}).get(key) or {}, value):
                return False
        elif (config or {}).get(key) != value:
            return False
    return True


def restoring_patch(original, settings):
    """The PATCH /config body that puts back what `settings` changed: the
    original value of each key, or None (removal) where it had none."""
    patch = {}
    for key, value in settings.items():
        before = (original or {}).get(key)
        if isinstance(value, dict) and isinstance(before, dict):
            patch[key] = restoring_patch(before, value)
        else:
            patch[key] = before
    return patch


def set_profile(patroni, settings, size):
    status, answer = patroni.any_call("/config", "PATCH", settings)
    if status != 200:
        raise RuntimeError("PATCH /config answered %s: %s" % (status, answer))
    # Every member must run with the new timings before a trial measures them.
    if not wait(lambda: healthy(patroni.cluster(), size) and config_holds(
            patroni.any_call("/config", "GET", None)[1], settings), 60):
        raise RuntimeError("cluster did not settle with %s" % settings)
    time.sleep(max(settings.get("loop_wait") or 10, 2) * 2)


def profile_arg(text):
    name, settings = text.split("=", 1) if "=" in text else (text, "")
    try:
        value = json.loads(settings)
    except ValueError:
        raise argparse.ArgumentTypeError("--profile wants NAME='{\"ttl\": 10, ...}', got %r" % text)
    if not name or not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--profile wants NAME='{\"ttl\": 10, ...}', got %r" % text)
    return name, value


def trial(args, patroni, scenario, mode, number, next_id):
    cluster = patroni.cluster()
    size = len(cluster["members"])

    def settled_cluster():
        current = patroni.cluster()
        return current if settled(current, size, mode) else None
    cluster = wait(settled_cluster, args.rejoin_timeout)
    if not cluster:
        raise RuntimeError("cluster did not settle before trial %s/%s/%d" % (scenario, mode, number))
    old = leader_of(cluster)["name"]
    old_host = leader_of(cluster).get("host")
    # Whether the killed host also led etcd: a new etcd leader renews every
    # lease for a full TTL, which delays the dead leader key's expiry.
    etcd_leader_killed = None
    if args.etcd_status_cmd and scenario == "kill":
        survivors = [m for m in cluster["members"] if m["name"] != old]
        try:
            status = run_command(args.etcd_status_cmd, survivors[0]["name"])
            etcd_leader_killed = etcd_leader_address(status) == old_host
            if etcd_leader_killed and args.etcd_move_leader_cmd:
                # What dedicated etcd hosts would give: the dying host does not lead etcd.
                target = etcd_member_ids(status)[survivors[0].get("host")]
                run_command(args.etcd_move_leader_cmd.replace("{target}", target), survivors[0]["name"])
                etcd_leader_killed = etcd_leader_address(
                    run_command(args.etcd_status_cmd, survivors[0]["name"])) == old_host
        except (subprocess.CalledProcessError, ValueError, KeyError):
            etcd_leader_killed = None  # etcd not whole yet: the trial is still measured, just not split
    # The HA loop that puts a rejoined replica into the quorum set also
    # renews the leader's lease, so a kill right after settling would always
    # meet a fresh key. A crash comes at any point of the loop: wait a random
    # part of one loop_wait (recorded) before breaking anything.
    phase = args.random.uniform(0, loop_wait_of(patroni)) if scenario == "kill" else 0.0
    time.sleep(phase)
    writer = Writer(args.dsn, args.table, next_id)
    writer.start()
    time.sleep(args.warmup)
    key_remaining = None
    if args.lease_cmd and scenario == "kill":
        survivor = [m for m in cluster["members"] if m["name"] != old][0]["name"]
        try:
            key_remaining = lease_remaining(run_command(args.lease_cmd, survivor))
        except subprocess.CalledProcessError:
            key_remaining = None
    event = time.monotonic()
    if scenario == "switchover":
        status, answer = patroni.any_call("/switchover", "POST", {"leader": old})
        if status != 200:
            raise RuntimeError("switchover answered %s: %s" % (status, answer))
    else:
        run_command(args.kill_cmd, old)
    new = wait(lambda: (leader_of(patroni.cluster()) or {}).get("name") not in (None, old) and
               leader_of(patroni.cluster())["name"], args.timeout)
    leader_seen = time.monotonic() - event
    # Keep writing until writes flow again through the load balancer.
    wait(lambda: writer.acked and writer.acked[-1][1] > event + leader_seen, args.timeout)
    time.sleep(args.cooldown)
    writer.stop.set()
    writer.join()
    if scenario == "kill":
        run_command(args.start_cmd, old)
    if not wait(lambda: healthy(patroni.cluster(), size), args.rejoin_timeout, interval=1):
        print("warning: cluster not whole again after trial %s/%s/%d" % (scenario, mode, number), file=sys.stderr)

    acked = [entry[0] for entry in writer.acked]
    with psycopg.connect(args.dsn, autocommit=True, connect_timeout=3) as conn:
        found = {row[0] for row in conn.execute(
            "SELECT id FROM %s WHERE id >= %%s AND id < %%s" % args.table, (next_id, writer.next_id))}
    lost = sorted(set(acked) - found)
    return {
        "scenario": scenario, "mode": mode, "trial": number, "old_leader": old, "new_leader": new,
        "unavailable_seconds": round(longest_gap(writer.acked, event), 3),
        "leader_after_seconds": round(leader_seen, 3),
        "writes_per_second": round(writes_per_second(writer.acked, event - args.warmup / 2, event), 1),
        "etcd_leader_killed": etcd_leader_killed, "phase_delay_seconds": round(phase, 3),
        "key_remaining_seconds": key_remaining,
        "acknowledged": len(acked), "lost": len(lost), "lost_ids": lost[:20], "errors": writer.errors,
    }, writer.next_id


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--lb", required=True, help="load balancer address")
    parser.add_argument("--rw-port", type=int, default=5000)
    parser.add_argument("--user", default="fulexo")
    parser.add_argument("--password", default=os.environ.get("PGPASSWORD", ""))
    parser.add_argument("--dbname", default="fulexo")
    parser.add_argument("--table", default="bench_failover")
    parser.add_argument("--api", nargs="+", required=True, help="Patroni REST API base URLs")
    parser.add_argument("--rest-user", default="patroni")
    parser.add_argument("--rest-password", default=os.environ.get("PATRONI_RESTAPI_PASSWORD", ""))
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["async", "sync"], choices=["async", "sync", "strict", "quorum"],
                        help="async; sync: synchronous_mode; strict: synchronous_mode with synchronous_mode_strict")
    parser.add_argument("--scenarios", nargs="+", default=["switchover", "kill"], choices=["switchover", "kill"])
    parser.add_argument("--kill-cmd", default="docker kill {member}", help="kills the host of {member}")
    parser.add_argument("--start-cmd", default="docker start {member}", help="brings the host of {member} back")
    parser.add_argument("--etcd-status-cmd", default="",
                        help="prints `etcdctl endpoint status -w json` on the host of {member} (a survivor); "
                             "records whether each kill also took the etcd leader")
    parser.add_argument("--etcd-move-leader-cmd", default="",
                        help="runs `etcdctl move-leader {target}` on the host of {member}; with it, a kill never "
                             "takes the etcd leader too (as with dedicated etcd hosts)")
    parser.add_argument("--lease-cmd", default="",
                        help="prints `etcdctl lease timetolive` of the leader key's lease on the host of {member} "
                             "(a survivor), read just before each kill: how long the dead leader's key still had")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed of the random delay before each kill (repeat a run's kill phases)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--cooldown", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=90.0)
    parser.add_argument("--rejoin-timeout", type=float, default=180.0)
    parser.add_argument("--profile", action="append", type=profile_arg, default=[], dest="profiles",
                        help="NAME='{json}': Patroni dynamic settings for a set of trials; repeat to compare")
    parser.add_argument("--results-dir", default=os.environ.get("FULEXO_RESULTS_DIR", "./results"))
    args = parser.parse_args()
    args.random = random.Random(args.seed)
    args.dsn = "host=%s port=%d dbname=%s user=%s password=%s" % (
        args.lb, args.rw_port, args.dbname, args.user, args.password)

    patroni = Patroni(args.api, args.rest_user, args.rest_password)
    size = len(patroni.cluster()["members"])
    with psycopg.connect(args.dsn, autocommit=True, connect_timeout=3) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS %s (id bigint PRIMARY KEY, at timestamptz DEFAULT now())"
                     % args.table)
        next_id = (conn.execute("SELECT coalesce(max(id), 0) + 1 FROM %s" % args.table).fetchone()[0])

    rows = []
    original = patroni.any_call("/config", "GET", None)[1]
    profiles = args.profiles or [("as configured", {})]
    try:
        for profile, settings in profiles:
            if settings:
                set_profile(patroni, settings, size)
            for mode in args.modes:
                set_mode(patroni, mode, size)
                for scenario in args.scenarios:
                    for number in range(1, args.trials + 1):
                        row, next_id = trial(args, patroni, scenario, mode, number, next_id)
                        row["profile"] = profile
                        rows.append(row)
                        print("%-13s %-10s %-5s #%d %s -> %s: unavailable %.2f s, leader after %.2f s, %d acked "
                              "(%.0f/s before), %d lost%s%s" % (
                                  profile, scenario, mode, number, row["old_leader"], row["new_leader"],
                                  row["unavailable_seconds"], row["leader_after_seconds"], row["acknowledged"],
                                  row["writes_per_second"], row["lost"],
                                  ", etcd leader killed too" if row["etcd_leader_killed"] else "",
                                  "" if row["key_remaining_seconds"] is None
                                  else ", key had %d s left" % row["key_remaining_seconds"]), flush=True)
    finally:
        # The cluster is left with the timings and mode it had.
        changed = {}
        for name, settings in profiles:
            changed.update(settings)
        if changed:
            set_profile(patroni, restoring_patch(original, changed), size)
        set_mode(patroni, original_mode(original), size)

    print("\n| profile | scenario | mode | trials | unavailable s (median / max) | new leader after s (median) "
          "| writes/s before (median) | acked writes | lost acked writes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for profile, settings in profiles:
        for mode in args.modes:
            for scenario in args.scenarios:
                sel = [r for r in rows if r["profile"] == profile and r["mode"] == mode and r["scenario"] == scenario]
                if not sel:
                    continue
                gaps = [r["unavailable_seconds"] for r in sel]
                print("| %s | %s | %s | %d | %.2f / %.2f | %.2f | %.0f | %d | %d |" % (
                    profile, scenario, MODE_LABELS[mode], len(sel),
                    statistics.median(gaps), max(gaps), statistics.median(r["leader_after_seconds"] for r in sel),
                    statistics.median(r["writes_per_second"] for r in sel),
                    sum(r["acknowledged"] for r in sel), sum(r["lost"] for r in sel)))
                known = [r for r in sel if r.get("key_remaining_seconds") is not None]
                if known:
                    after = [r["unavailable_seconds"] - r["key_remaining_seconds"] for r in known]
                    print("|   of which the dead key's remaining life | | | %d | %.2f / %.2f | | | | |" % (
                        len(known), statistics.median(r["key_remaining_seconds"] for r in known),
                        max(r["key_remaining_seconds"] for r in known)))
                    print("|   and the rest (race, promotion, load balancer) | | | %d | %.2f / %.2f | | | | |" % (
                        len(known), statistics.median(after), max(after)))
                split = [r for r in sel if r["etcd_leader_killed"] is not None]
                for killed, label in ((True, "with"), (False, "without")):
                    part = [r["unavailable_seconds"] for r in split if r["etcd_leader_killed"] is killed]
                    if part:
                        print("|   %s the etcd leader | | | %d | %.2f / %.2f | | | | |" % (
                            label, len(part), statistics.median(part), max(part)))
    for profile, settings in profiles:
        print("%s: %s" % (profile, json.dumps(settings, sort_keys=True) if settings else "the cluster's own settings"))
    os.makedirs(args.results_dir, exist_ok=True)
    path = os.path.join(args.results_dir, "bench-failover-%s.json" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    with open(path, "w") as handle:
        json.dump(rows, handle, indent=2)
    print("\nwritten: %s" % path)


if __name__ == "__main__":
    main()
