# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keep the etcd leader off the host of the database primary.

When etcd runs on the database hosts, the primary's host often leads etcd
too: the member next to the etcd leader tends to win Patroni's leader race.
If that host dies, etcd first elects a new leader, and a new etcd leader
renews every lease for its full TTL. The dead primary's leader key then
outlives the crash by the election time plus the whole ttl, instead of at
most ttl, and the failover takes several seconds longer.

This loop runs on each database host that is also an etcd member. Whenever
the local Patroni is the primary and the local etcd member leads, it hands
etcd leadership to the most caught-up other member (etcd's MoveLeader, a
planned raft leader transfer: no election timeout, no lost writes). It does
nothing otherwise, and it never acts on a member that does not answer.
It uses etcd's HTTP gateway and the member's own client certificate.
"""

import argparse
import json
import ssl
import sys
import time
import urllib.error
import urllib.request


def as_int(value):
    """The gateway prints uint64 fields as strings."""
    return int(value) if value not in (None, "") else None


def choose_transfer(statuses, local):
    """Given {endpoint: status dict or None} and the local endpoint, return
    the member id (int) etcd leadership should move to, or None to leave it.

    Leadership moves only when the local member answers and leads, and only
    to a member that answers, agrees on the leader and is the most caught up
    of those (highest applied raft index)."""
    mine = statuses.get(local)
    if not mine:
        return None
    leader = as_int(mine.get("leader"))
    if leader is None or as_int((mine.get("header") or {}).get("member_id")) != leader:
        return None
    candidates = []
    for endpoint, status in statuses.items():
        if endpoint == local or not status or as_int(status.get("leader")) != leader:
            continue
        member = as_int((status.get("header") or {}).get("member_id"))
        if member is not None and member != leader:
            candidates.append((as_int(status.get("raftAppliedIndex")) or 0, member))
    return max(candidates)[1] if candidates else None


class Estate(object):
    def __init__(self, args):
        self.args = args
        self.etcd_tls = None
        if args.protocol == "https":
            self.etcd_tls = ssl.create_default_context(cafile=args.cacert)
            self.etcd_tls.load_cert_chain(args.cert, args.key)
        self.patroni_tls = ssl.create_default_context(cafile=args.patroni_cafile or None)

    def _post(self, endpoint, path, body):
        request = urllib.request.Request("%s://%s%s" % (self.args.protocol, endpoint, path),
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.args.timeout, context=self.etcd_tls) as response:
            return json.loads(response.read().decode() or "{}")

    def local_is_primary(self):
        try:
            kwargs = {"context": self.patroni_tls} if self.args.patroni_url.startswith("https") else {}
            with urllib.request.urlopen(self.args.patroni_url.rstrip("/") + "/primary",
                                        timeout=self.args.timeout, **kwargs) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError, ValueError):
            return False  # a replica answers 503; a Patroni that does not answer is no primary to protect

    def statuses(self):
        out = {}
        for endpoint in self.args.endpoints:
            try:
                out[endpoint] = self._post(endpoint, "/v3/maintenance/status", {})
            except (urllib.error.URLError, OSError, ValueError):
                out[endpoint] = None
        return out

    def move_leader(self, target):
        self._post(self.args.local, "/v3/maintenance/transfer-leadership", {"targetID": str(target)})


def check_once(estate, log):
    if not estate.local_is_primary():
        return None
    statuses = estate.statuses()
    target = choose_transfer(statuses, estate.args.local)
    if target is None:
        return None
    to = next(e for e, s in statuses.items() if s and as_int(s["header"]["member_id"]) == target)
    estate.move_leader(target)
    log("the database primary runs here and so did the etcd leader: moved etcd leadership to %s (%s)"
        % (to, format(target, "x")))
    return target


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--local", required=True, help="this host's etcd client endpoint, host:port")
    parser.add_argument("--endpoints", nargs="+", required=True, help="every etcd member's client endpoint")
    parser.add_argument("--protocol", choices=["http", "https"], default="https")
    parser.add_argument("--cacert")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--patroni-url", required=True, help="this member's Patroni REST API base URL")
    parser.add_argument("--patroni-cafile", default="")
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--once", action="store_true", help="check once and exit")
    args = parser.parse_args()
    if args.local not in args.endpoints:
        parser.error("--local %s is not one of --endpoints" % args.local)

    estate = Estate(args)

    def log(message):
        sys.stdout.write(message + "\n")
        sys.stdout.flush()

    last_error = None
    while True:
        try:
            check_once(estate, log)
            last_error = None
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            # Said once per distinct error, not every interval.
            if str(exc) != last_error:
                log("could not check or move the etcd leader: %s" % exc)
                last_error = str(exc)
        if args.once:
            return 0
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
