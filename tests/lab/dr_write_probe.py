#!/usr/bin/env python
"""Write probe for the data-centre outage test (tests/lab/dr-outage.sh).

Writes numbered rows through a DNS name, as a client of the estate does:
every write resolves the name on the given DNS server (no cache, so the
measured time excludes client TTL caching), opens a connection to the
address it got, inserts one row and commits. Each line it prints is one
attempt: ``ack SEQ EPOCH ADDRESS`` for a committed write, ``err SEQ EPOCH
ADDRESS REASON`` otherwise. Runs until the stop file exists.

The password comes from the environment (PGPASSWORD), never the command line.
"""
import argparse
import os
import sys
import time

import dns.exception
import dns.resolver
import psycopg


def resolve(resolver, name):
    try:
        answer = resolver.resolve(name, "A", tcp=True)
    except (dns.exception.DNSException, OSError) as exc:
        return None, "dns: %s" % exc.__class__.__name__
    return answer[0].address, None


def write(address, args, seq):
    with psycopg.connect(host=address, port=args.port, dbname=args.dbname, user=args.user,
                         connect_timeout=args.timeout, application_name="dr_write_probe",
                         # A site cut off mid-write never answers: give up on
                         # unacknowledged data and on a silent peer, not hang.
                         tcp_user_timeout=args.timeout * 1000, keepalives_idle=1, keepalives_interval=1,
                         keepalives_count=args.timeout) as conn:
        conn.execute("insert into %s (seq) values (%%s)" % args.table, (seq,))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dns-server", required=True)
    parser.add_argument("--dns-port", type=int, default=53)
    parser.add_argument("--name", required=True, help="the fully qualified service name")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--dbname", default="fulexo")
    parser.add_argument("--user", default="fulexo")
    parser.add_argument("--table", default="dr_outage_probe")
    parser.add_argument("--interval", type=float, default=0.1)
    parser.add_argument("--timeout", type=int, default=2)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--first-seq", type=int, default=1,
                        help="number of the first row (a second probe on the same table starts past the first's)")
    args = parser.parse_args()

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [args.dns_server]
    resolver.port = args.dns_port
    resolver.lifetime = args.timeout
    seq = args.first_seq - 1
    while not os.path.exists(args.stop_file):
        seq += 1
        address, problem = resolve(resolver, args.name)
        if address is not None:
            try:
                write(address, args, seq)
            except psycopg.Error as exc:
                problem = " ".join(str(exc).split())[:160] or exc.__class__.__name__
        if problem is None:
            print("ack %d %.3f %s" % (seq, time.time(), address), flush=True)
        else:
            print("err %d %.3f %s %s" % (seq, time.time(), address or "-", problem), flush=True)
        time.sleep(args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
