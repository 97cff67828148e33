"""Smoke tests of the lab application through its load balancer.

The plan's "run smoke tests" (section 8): what a customer does first, each
step one JSON line, exit 1 if any failed. The features degraded mode keeps
(health, order viewing, basic search, customer login, placing an order) are
always checked; --full also checks the ones it switches off (analytics,
bulk exports).

Usage: smoke.py BASE_URL [--full]
"""

import json
import sys
import time
import urllib.error
import urllib.request


def request(base, method, path, body=None, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    except (urllib.error.URLError, OSError) as err:
        return 0, {"error": str(err)}, time.monotonic() - started
    try:
        payload = json.loads(raw) if raw else None
    except ValueError:
        payload = raw.decode(errors="replace")[:200]
    return status, payload, time.monotonic() - started


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    base, full = argv[1], "--full" in argv[2:]
    customer = "smoke-%d" % int(time.time() * 1000)
    failures = 0

    def step(name, method, path, expect, body=None, check=None):
        nonlocal failures
        status, payload, took = request(base, method, path, body)
        ok = status == expect and (check is None or bool(check(payload)))
        failures += not ok
        print(json.dumps({"step": name, "ok": ok, "status": status, "expected": expect,
                          "ms": round(took * 1000, 1), **({} if ok else {"answer": payload})}))
        return payload if ok else None

    step("load balancer health", "GET", "/health", 200)
    step("application health through the pool", "GET", "/health/app", 200,
         check=lambda p: isinstance(p, dict) and p.get("status") == "ok")
    order = step("place an order", "POST", "/orders", 201,
                 body={"customer": customer, "item": "smoke test", "quantity": 1},
                 check=lambda p: isinstance(p, dict) and "id" in p)
    if order:
        step("view the order", "GET", "/orders/%s" % order["id"], 200,
             check=lambda p: isinstance(p, dict) and p.get("customer") == customer)
    step("search the customer's orders", "GET", "/orders?customer=%s" % customer, 200)
    step("customer login", "POST", "/login", 200, body={"customer": customer},
         check=lambda p: isinstance(p, dict) and p.get("token"))
    if full:
        step("analytics", "GET", "/analytics", 200)
        step("bulk export", "GET", "/exports/orders", 200)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
