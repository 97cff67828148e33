# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write probe: what an application writing to the database sees during a DR event.

It inserts increasing sequence numbers through the given connection (the
load balancer's read-write port), one autocommit INSERT at a time,
reconnecting after any error, and keeps the time of every acknowledgement.
With --members it also asks every database member once a second whether it
accepts writes, so "never two writable primaries" is measured, not assumed.

It runs until --duration has passed or it receives SIGTERM/SIGINT, then
writes one JSON summary (--output, or stdout): acknowledged and failed
writes per second, the longest time with no acknowledged write and when it
was, the most writable members seen at once, and, with --verify, how many
acknowledged sequence numbers the database no longer has.

The password never appears on the command line: libpq reads PGPASSWORD or
PGPASSFILE from the environment.
"""

import argparse
import json
import signal
import sys
import threading
import time

try:
    import psycopg

    def connect(dsn):
        return psycopg.connect(dsn, autocommit=True)

    DB_ERROR = psycopg.Error
except ImportError:  # Debian hosts ship psycopg2
    import psycopg2 as psycopg

    def connect(dsn):
        conn = psycopg.connect(dsn)
        conn.autocommit = True
        return conn

    DB_ERROR = psycopg.Error


def query(conn, sql, params=None):
    cur = conn.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None
    finally:
        cur.close()


def close_quietly(conn):
    if conn is not None:
        try:
            conn.close()
        except DB_ERROR:
            pass


def longest_gap(times, start, end):
    """Longest interval with no acknowledgement within [start, end], counting
    the edges: a probe that never got an acknowledgement has one gap, all of it."""
    points = [start] + [t for t in times if start <= t <= end] + [end]
    best = (0.0, start, start)
    for before, after in zip(points, points[1:]):
        if after - before > best[0]:
            best = (after - before, before, after)
    return best


def per_second(started, ended, acks, errors, primaries):
    """Rows of [second since start, acknowledged, failed, writable members seen]."""
    rows = []
    for second in range(int(ended - started) + 1):
        low, high = started + second, started + second + 1
        seen = [count for at, count in primaries if low <= at < high]
        rows.append([second, sum(1 for t in acks if low <= t < high), sum(1 for t in errors if low <= t < high),
                     max(seen) if seen else None])
    return rows


def summarize(started, ended, acks, errors, primaries, lost=None):
    gap, gap_from, gap_to = longest_gap([at for ident, at in acks], started, ended)
    counts = [count for at, count in primaries]
    # The real RPO: from the first lost acknowledgement to the last one.
    acked_at = dict(acks)
    lost_at = sorted(acked_at[ident] for ident in lost or () if ident in acked_at)
    return {
        "started_at": started,
        "ended_at": ended,
        "acknowledged": len(acks),
        "failed": len(errors),
        "first_id": acks[0][0] if acks else None,
        "last_id": acks[-1][0] if acks else None,
        "longest_gap_seconds": round(gap, 3),
        "longest_gap_from": round(gap_from - started, 3),
        "longest_gap_to": round(gap_to - started, 3),
        "max_writable_members": max(counts) if counts else None,
        "min_writable_members": min(counts) if counts else None,
        "lost": None if lost is None else len(lost),
        "lost_ids": None if lost is None else lost[:50],
        "lost_span_seconds": None if lost is None else (round(lost_at[-1] - lost_at[0], 3) if lost_at else 0.0),
        "lost_first_at": round(lost_at[0] - started, 3) if lost_at else None,
        # Every acknowledgement's and every lost write's time (epoch seconds):
        # a drill judges each of its steps on the part of the record it covers.
        "ack_times": [round(at, 3) for ident, at in acks],
        "lost_times": None if lost is None else [round(at, 3) for at in lost_at],
        "writable_members": [[round(at, 3), count] for at, count in primaries],
        "per_second": per_second(started, ended, [at for ident, at in acks], errors, primaries),
    }


class Probe(object):
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.acks, self.errors, self.primaries = [], [], []
        self.next_id = None

    def prepare(self):
        conn = connect(self.args.dsn)
        try:
            query(conn, "CREATE TABLE IF NOT EXISTS %s (id bigint PRIMARY KEY, at timestamptz DEFAULT now())"
                  % self.args.table)
            self.next_id = query(conn, "SELECT coalesce(max(id), 0) + 1 FROM %s" % self.args.table)[0][0]
        finally:
            close_quietly(conn)

    def write(self):
        conn = None
        pause = 1.0 / self.args.rate if self.args.rate else 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = connect(self.args.dsn + " connect_timeout=1")
                ident = self.next_id
                self.next_id += 1
                query(conn, "INSERT INTO %s (id) VALUES (%%s)" % self.args.table, (ident,))
                self.acks.append((ident, time.time()))
                if pause:
                    self.stop.wait(pause)
            except DB_ERROR:
                self.errors.append(time.time())
                close_quietly(conn)
                conn = None
                self.stop.wait(0.05)
        close_quietly(conn)

    def watch_members(self):
        while not self.stop.is_set():
            at, writable = time.time(), 0
            for member in self.args.members:
                conn = None
                try:
                    conn = connect(self.args.member_dsn.format(member=member) + " connect_timeout=1")
                    writable += 0 if query(conn, "SELECT pg_is_in_recovery()")[0][0] else 1
                except DB_ERROR:
                    pass  # unreachable or refusing: not writable
                finally:
                    close_quietly(conn)
            self.primaries.append((at, writable))
            self.stop.wait(max(0.0, 1.0 - (time.time() - at)))

    def missing(self):
        ids = [ident for ident, at in self.acks]
        if not ids:
            return []
        conn = connect(self.args.dsn + " connect_timeout=5")
        try:
            found = {row[0] for row in query(conn, "SELECT id FROM %s WHERE id BETWEEN %%s AND %%s" % self.args.table,
                                             (ids[0], ids[-1]))}
        finally:
            close_quietly(conn)
        return sorted(set(ids) - found)

    def run(self):
        self.prepare()
        threads = [threading.Thread(target=self.write, daemon=True)]
        if self.args.members:
            threads.append(threading.Thread(target=self.watch_members, daemon=True))
        started = time.time()
        for thread in threads:
            thread.start()
        self.stop.wait(self.args.duration)
        self.stop.set()
        ended = time.time()
        for thread in threads:
            thread.join(5)
        lost = self.missing() if self.args.verify else None
        return summarize(started, ended, list(self.acks), list(self.errors), list(self.primaries), lost)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--dsn", required=True, help="libpq connection string without the password")
    parser.add_argument("--table", default="dr_write_probe")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to run unless stopped earlier")
    parser.add_argument("--rate", type=float, default=0, help="writes per second (0: as fast as acknowledged)")
    parser.add_argument("--members", nargs="*", default=[], help="database members to ask once a second")
    parser.add_argument("--member-dsn", default="host={member} port=5432 dbname=postgres",
                        help="libpq string for one member; {member} is replaced")
    parser.add_argument("--verify", action="store_true", help="count acknowledged ids missing at the end")
    parser.add_argument("--output", help="summary file (default: stdout)")
    args = parser.parse_args()
    if not 0 < args.duration <= 86400:
        parser.error("--duration must be between 0 and 86400 seconds")

    probe = Probe(args)
    signal.signal(signal.SIGTERM, lambda signum, frame: probe.stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: probe.stop.set())
    try:
        summary = probe.run()
    except DB_ERROR as exc:
        sys.stderr.write("dr_write_probe: cannot use %s: %s\n" % (args.dsn, str(exc).strip()))
        return 2
    text = json.dumps(summary, indent=1)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
