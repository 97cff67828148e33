#!/usr/bin/env python
"""A webhook receiver on loopback for the drill's notices, and their check.

    notice_receiver.py serve --port-file F --out NOTICES.jsonl
        listens on 127.0.0.1 (a free port, written to F) and appends every
        POST body as one JSON line, until it is terminated;
    notice_receiver.py check NOTICES.jsonl --outcome passed
        exits 1 unless exactly one start notice and one end notice with that
        outcome arrived, in that order, each with its subject and text.
"""

import argparse
import http.server
import json
import os
import sys


def serve(args):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with open(args.out, "ab") as handle:
                handle.write(body.replace(b"\n", b" ") + b"\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file, "w") as handle:
        handle.write(str(server.server_port))
    server.serve_forever()


def check(args):
    try:
        notices = []
        if os.path.exists(args.notices):  # the receiver writes the file at the first notice
            with open(args.notices) as handle:
                notices = [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError) as exc:
        print("drill notices: cannot read %s: %s" % (args.notices, exc))
        return 1
    events = [n.get("event") for n in notices]
    problems = []
    if events != ["started", "finished"]:
        problems.append("expected a start and an end notice, got %s" % (events or "none"))
    for notice in notices:
        if not notice.get("subject") or not notice.get("text") or not notice.get("level"):
            problems.append("the %s notice lacks its subject, text or level" % notice.get("event"))
    ended = [n for n in notices if n.get("event") == "finished"]
    if ended and ended[-1].get("outcome") != args.outcome:
        problems.append("the end notice says %r, the drill's outcome was %r" % (ended[-1].get("outcome"), args.outcome))
    if problems:
        print("drill notices: " + "; ".join(problems))
        return 1
    for notice in notices:
        print("drill notice received: %s (%s, notify %s)" % (notice["subject"], notice["level"],
                                                             ", ".join(notice.get("notify") or [])))
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve")
    run.add_argument("--port-file", required=True)
    run.add_argument("--out", required=True)
    judge = sub.add_parser("check")
    judge.add_argument("notices")
    judge.add_argument("--outcome", required=True)
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
