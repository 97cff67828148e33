# The drill's user-facing probe: GETs one URL (through the application's load
# balancer) RATE times a second until SIGTERM or DURATION, records every
# answer that is not 2xx with its time, and writes a summary JSON. Stdlib
# only: it runs on any host the drill reaches.
#
# Usage: dr_http_probe.py --url URL --rate N --duration S --output FILE
import argparse
import http.client
import json
import signal
import sys
import time
import urllib.error
import urllib.request


def get(url, timeout):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            resp.read()
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, http.client.HTTPException, OSError):
        # No answer, or one cut short (IncompleteRead, BadStatusLine): what a
        # user sees while a backend restarts. A failure to count, not a reason
        # for the probe to stop counting.
        return 0


def failing_spans(samples):
    """[from, to] of each run of failed answers: from the first failure to the next good answer (or the last sample)."""
    spans, since = [], None
    for moment, ok in samples:
        if not ok and since is None:
            since = moment
        elif ok and since is not None:
            spans.append([round(since, 3), round(moment, 3)])
            since = None
    if since is not None and samples:
        spans.append([round(since, 3), round(samples[-1][0], 3)])
    return spans


def longest_failure(samples):
    """Longest time from a failed answer to the next good one (or the last sample)."""
    return round(max([to - since for since, to in failing_spans(samples)] or [0.0]), 3)


def per_second(samples):
    """[second, requests, failed] for each second with a request, so a drill step can count its own span."""
    rows = {}
    for moment, ok in samples:
        row = rows.setdefault(int(moment), [int(moment), 0, 0])
        row[1] += 1
        row[2] += 0 if ok else 1
    return [rows[second] for second in sorted(rows)]


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--duration", type=float, default=3600)
    parser.add_argument("--output", required=True)
    parser.add_argument("--timeout", type=float, default=5)
    args = parser.parse_args(argv[1:])

    stop = []
    signal.signal(signal.SIGTERM, lambda *_args: stop.append(True))
    samples, failures, times = [], [], []
    started = time.time()
    interval = 1.0 / args.rate
    while not stop and time.time() - started < args.duration:
        sent = time.time()
        status = get(args.url, args.timeout)
        took = time.time() - sent
        ok = 200 <= status < 300
        samples.append((sent, ok))
        if ok:
            times.append(took)
        else:
            failures.append([round(sent, 3), status])
        time.sleep(max(0.0, interval - took))
    times.sort()
    summary = {
        "url": args.url,
        "started_at": started,
        "ended_at": time.time(),
        "requests": len(samples),
        "failed": len(failures),
        "failures": failures[:5000],
        "longest_failure_seconds": longest_failure(samples),
        "spans": failing_spans(samples),
        "seconds": per_second(samples),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))] * 1000, 1) if times else None,
    }
    with open(args.output, "w") as handle:
        json.dump(summary, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
