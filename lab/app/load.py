"""Steady load through the load balancer, every answer recorded.

Places a few orders, then for DURATION seconds reads them back (GET
/orders/<id>, idempotent) from THREADS threads, and places one order every
--write-every seconds (POST, not idempotent: nginx never resends it). Prints
one JSON summary: counts, each failure with its time since the start, and
latency percentiles. Stdlib only: it runs inside any lab container.

Usage: load.py BASE_URL DURATION [--threads N] [--write-every S]
"""

import argparse
import json
import sys
import threading
import time
import urllib.error
import urllib.request


def call(base, method, path, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), resp.headers.get("X-Upstream", "")
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers.get("X-Upstream", "")
    except (urllib.error.URLError, OSError) as err:
        return 0, str(err).encode(), ""


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("duration", type=float)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--write-every", type=float, default=0.5)
    args = parser.parse_args(argv[1:])

    customer = "load-%d" % int(time.time() * 1000)
    ids = []
    for n in range(5):
        status, raw, _upstream = call(args.base, "POST", "/orders", {"customer": customer, "item": "load %d" % n, "quantity": 1})
        if status != 201:
            print(json.dumps({"error": "cannot place the seed orders: %s %s" % (status, raw[:200].decode(errors="replace"))}))
            return 1
        ids.append(json.loads(raw)["id"])

    lock = threading.Lock()
    records = {"read": [], "write": []}
    placed = []
    started, started_epoch = time.monotonic(), time.time()
    deadline = started + args.duration

    def record(kind, status, took, upstream, path):
        with lock:
            records[kind].append((time.monotonic() - started, status, took, upstream, path))

    def reader(offset):
        n = offset
        while time.monotonic() < deadline:
            path = "/orders/%s" % ids[n % len(ids)]
            t = time.monotonic()
            status, _body, upstream = call(args.base, "GET", path)
            record("read", status, time.monotonic() - t, upstream, path)
            n += 1

    def writer():
        n = 0
        while time.monotonic() < deadline:
            t = time.monotonic()
            status, raw, upstream = call(args.base, "POST", "/orders",
                                         {"customer": customer, "item": "write %d" % n, "quantity": 1})
            record("write", status, time.monotonic() - t, upstream, "/orders")
            if status == 201:
                with lock:
                    placed.append(json.loads(raw)["id"])
            n += 1
            time.sleep(max(0.0, args.write_every - (time.monotonic() - t)))

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(args.threads)]
    if args.write_every > 0:
        threads.append(threading.Thread(target=writer))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    summary = {"customer": customer, "started_epoch": round(started_epoch, 3), "seconds": round(time.monotonic() - started, 1), "placed_order_ids": placed}
    for kind, rows in records.items():
        ok = [r for r in rows if 200 <= r[1] < 300]
        failed = [r for r in rows if not 200 <= r[1] < 300]
        summary[kind] = {
            "total": len(rows), "ok": len(ok), "failed": len(failed),
            "failures": [{"t": round(r[0], 2), "epoch": round(started_epoch + r[0], 3), "status": r[1], "upstream": r[3], "path": r[4]} for r in failed[:50]],
            "p50_ms": round(percentile([r[2] for r in ok], 0.5) * 1000, 1) if ok else None,
            "p99_ms": round(percentile([r[2] for r in ok], 0.99) * 1000, 1) if ok else None,
            "upstreams": sorted({r[3] for r in ok if r[3]}),
        }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
