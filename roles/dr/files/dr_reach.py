# Whether hosts answer on TCP ports, as seen from the host it runs on: the
# incident playbooks' proof that an isolated host is cut off. A port that
# accepts or refuses (RST) means the host is reachable, even with its service
# stopped; only silence (SYN dropped) or no route means it is isolated.
# Stdlib only. Prints one JSON object.
#
# Usage: dr_reach.py [--timeout S] HOST:PORT...
import argparse
import concurrent.futures
import errno
import json
import socket
import sys

REACHABLE = ("open", "refused")


def probe(host, port, timeout):
    """open, refused, silent (no answer before the timeout), unreachable or unresolved."""
    try:
        address = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)[0]
    except socket.gaierror:
        return "unresolved"
    sock = socket.socket(address[0], socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(address[4])
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "silent"
    except OSError as err:
        if err.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EPERM, errno.EACCES):
            return "unreachable"
        raise
    finally:
        sock.close()


def split_target(text):
    host, _colon, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("targets are HOST:PORT, not %r" % text)
    return host.strip("[]"), int(port)


def verdict(results):
    """Per host: isolated when none of its ports answered at all."""
    hosts = {}
    for item in results:
        hosts.setdefault(item["host"], []).append(item)
    return {host: {"isolated": not any(p["state"] in REACHABLE for p in ports),
                   "answered": ["%d %s" % (p["port"], p["state"]) for p in ports if p["state"] in REACHABLE]}
            for host, ports in hosts.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("targets", nargs="+")
    args = parser.parse_args(argv)
    try:
        targets = [split_target(t) for t in args.targets]
    except ValueError as err:
        parser.error(str(err))
    # All at once: a silent port costs the whole timeout.
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(64, len(targets))) as pool:
        states = list(pool.map(lambda target: probe(target[0], target[1], args.timeout), targets))
    results = [{"host": h, "port": p, "state": state} for (h, p), state in zip(targets, states)]
    print(json.dumps({"results": results, "hosts": verdict(results)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
