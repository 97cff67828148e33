#!/usr/bin/env python
"""Alertmanager webhook receiver for the monitoring scenario: listens on
127.0.0.1:PORT and appends every POST body, with the time it arrived, as one
JSON line to OUT.    alert_receiver.py PORT OUT"""

import http.server
import json
import sys
import time


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        with open(sys.argv[2], "a") as handle:
            handle.write(json.dumps({"received_at": time.time(), "payload": body}) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args):
        pass


http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
