# The drill's user-facing probe: GETs one URL (through the application's load
# balancer) RATE times a second until SIGTERM or DURATION, records every
# answer that is not 2xx with its time, and writes a summary JSON. Stdlib
# only: it runs on any host the drill reaches.
#
# Usage: dr_http_probe.py --url URL --rate N --duration S --output FILE
import argparse
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
    except (urllib.error.URLError, OSError):
        return 0


def longest_failure(samples):
    """Longest time from a failed answer to the next good one (or the last sample)."""
    longest, since = 0.0, None
    for moment, ok in samples:
        if not ok and since is None:
            since = moment
        elif ok and since is not None:
            longest, since = max(longest, moment - since), None
    if since is not None and samples:
        longest = max(longest, samples[-1][0] - since)
    return round(longest, 3)


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
        "failures": failures[:500],
        "longest_failure_seconds": longest_failure(samples),
        "p99_ms": round(times[int(0.99 * (len(times) - 1))] * 1000, 1) if times else None,
    }
    with open(args.output, "w") as handle:
        json.dump(summary, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
