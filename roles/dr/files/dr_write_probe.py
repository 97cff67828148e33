# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write probe: what an application writing to the database sees during a DR event.

It inserts increasing sequence numbers through the given connection (the
load balancer's read-write port), one autocommit INSERT at a time,
reconnecting after any error, and keeps the time of every acknowledgement.
With --members it also asks every database member once a second whether it
accepts writes, so "never two writable primaries" is measured, not assumed.

With --resolve NAME it connects where a DNS name points, as a client of a
service name does across a DR site activation: before every (re)connection
it asks --dns-server for NAME's A record itself (no resolver cache, so
client TTL caching is not in the measured times), and the summary says how
many writes each address acknowledged and when.

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
import random
import signal
import socket
import struct
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


def dns_query(name, ident):
    """A DNS query for NAME's A record (RFC 1035), recursion not asked for."""
    labels = b"".join(struct.pack("B", len(label)) + label.encode("ascii") for label in name.rstrip(".").split("."))
    return struct.pack(">HHHHHH", ident, 0, 1, 0, 0, 0) + labels + b"\x00" + struct.pack(">HH", 1, 1)


def _skip_name(message, offset):
    """Offset just past the (possibly compressed) name at OFFSET."""
    while True:
        length = message[offset]
        if length >= 0xC0:  # a pointer ends the name
            return offset + 2
        if length == 0:
            return offset + 1
        offset += 1 + length


def dns_answer(message, ident):
    """The first A record's address in a DNS response, or raise ValueError
    saying why there is none (another id, an error code, no A record)."""
    got_ident, flags, questions, answers = struct.unpack(">HHHH", message[:8])
    if got_ident != ident:
        raise ValueError("answer to another query")
    if flags & 0x000F:
        raise ValueError("DNS error code %d" % (flags & 0x000F))
    offset = 12
    for _question in range(questions):
        offset = _skip_name(message, offset) + 4
    for _answer in range(answers):
        offset = _skip_name(message, offset)
        rtype, _rclass, _ttl, length = struct.unpack(">HHIH", message[offset:offset + 10])
        offset += 10
        if rtype == 1 and length == 4:
            return socket.inet_ntoa(message[offset:offset + 4])
        offset += length
    raise ValueError("no A record")


def resolve(name, server, port=53, timeout=2.0):
    """NAME's address as SERVER says now, over TCP (no cache in between)."""
    ident = random.randint(0, 0xFFFF)
    query_bytes = dns_query(name, ident)
    with socket.create_connection((server, port), timeout=timeout) as conn:
        conn.sendall(struct.pack(">H", len(query_bytes)) + query_bytes)
        data = b""
        while len(data) < 2 or len(data) < 2 + struct.unpack(">H", data[:2])[0]:
            chunk = conn.recv(4096)
            if not chunk:
                raise ValueError("the DNS server closed the connection")
            data += chunk
    return dns_answer(data[2:2 + struct.unpack(">H", data[:2])[0]], ident)


def by_address(acks):
    """Acknowledged writes per address they went to: count, first and last time."""
    out = {}
    for _ident, at, address in acks:
        entry = out.setdefault(address, {"count": 0, "first_at": at, "last_at": at})
        entry["count"] += 1
        entry["last_at"] = at
    return {address: {"count": e["count"], "first_at": round(e["first_at"], 3), "last_at": round(e["last_at"], 3)}
            for address, e in out.items()}


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


def summarize(started, ended, acks, errors, primaries, lost=None, addresses=None):
    """ADDRESSES: (id, time, address) of each acknowledgement, when the probe
    followed a DNS name."""
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
        "acks_by_address": None if addresses is None else by_address(addresses),
    }


class Probe(object):
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.acks, self.errors, self.primaries = [], [], []
        self.addresses = [] if args.resolve else None
        self.next_id = None
        self.log_file = open(args.log, "a") if args.log else None  # pylint: disable=consider-using-with

    def log(self, line):
        """One line per write attempt, flushed, for a test that watches it live."""
        if self.log_file is not None:
            self.log_file.write(line + "\n")
            self.log_file.flush()

    def target(self):
        """The connection string now: with --resolve, to where the name points."""
        if not self.args.resolve:
            return self.args.dsn, None
        address = resolve(self.args.resolve, self.args.dns_server, self.args.dns_port)
        # The last keyword wins in a libpq string.
        return "%s host=%s" % (self.args.dsn, address), address

    def prepare(self):
        conn = connect(self.target()[0])
        try:
            query(conn, "CREATE TABLE IF NOT EXISTS %s (id bigint PRIMARY KEY, at timestamptz DEFAULT now())"
                  % self.args.table)
            self.next_id = query(conn, "SELECT coalesce(max(id), 0) + 1 FROM %s" % self.args.table)[0][0]
        finally:
            close_quietly(conn)

    def write(self):
        conn = None
        pause = 1.0 / self.args.rate if self.args.rate else 0
        address = None
        while not self.stop.is_set():
            ident = None
            try:
                if conn is None:
                    address = None
                    dsn, address = self.target()
                    # A peer cut off the network sends no reset: give up on
                    # unacknowledged data and on a silent peer after 2 s
                    # instead of waiting for TCP's retransmissions.
                    conn = connect(dsn + " connect_timeout=1 keepalives_idle=1 keepalives_interval=1 keepalives_count=2"
                                   " tcp_user_timeout=2000")
                ident = self.next_id
                self.next_id += 1
                query(conn, "INSERT INTO %s (id) VALUES (%%s)" % self.args.table, (ident,))
                self.acks.append((ident, time.time()))
                if self.addresses is not None:
                    self.addresses.append((ident, self.acks[-1][1], address))
                self.log("ack %d %.3f %s" % (ident, self.acks[-1][1], address or "-"))
                if pause:
                    self.stop.wait(pause)
            except (DB_ERROR, OSError, ValueError) as exc:  # the database, or the name's lookup
                self.errors.append(time.time())
                self.log("err %s %.3f %s %s" % (ident if ident is not None else "-", self.errors[-1], address or "-",
                                                " ".join(str(exc).split())[:160] or exc.__class__.__name__))
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
        conn = connect(self.target()[0] + " connect_timeout=5")
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
        if self.log_file is not None:
            self.log_file.close()
        lost = self.missing() if self.args.verify else None
        return summarize(started, ended, list(self.acks), list(self.errors), list(self.primaries), lost,
                         None if self.addresses is None else list(self.addresses))


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
    parser.add_argument("--resolve", metavar="NAME",
                        help="connect where this DNS name points, asked of --dns-server before every connection")
    parser.add_argument("--dns-server", help="DNS server to ask for --resolve's name")
    parser.add_argument("--dns-port", type=int, default=53)
    parser.add_argument("--log", help="append a line per write attempt: 'ack ID EPOCH ADDRESS' or 'err ID EPOCH ADDRESS REASON'")
    args = parser.parse_args()
    if args.resolve and not args.dns_server:
        parser.error("--resolve needs --dns-server")
    if not 0 < args.duration <= 86400:
        parser.error("--duration must be between 0 and 86400 seconds")

    probe = Probe(args)
    signal.signal(signal.SIGTERM, lambda signum, frame: probe.stop.set())
    signal.signal(signal.SIGINT, lambda signum, frame: probe.stop.set())
    try:
        summary = probe.run()
    except (DB_ERROR, OSError, ValueError) as exc:
        where = args.dsn if not args.resolve else "%s (%s on %s)" % (args.dsn, args.resolve, args.dns_server)
        sys.stderr.write("dr_write_probe: cannot use %s: %s\n" % (where, str(exc).strip()))
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
