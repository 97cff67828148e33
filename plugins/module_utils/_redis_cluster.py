# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsing of Redis Cluster replies (CLUSTER INFO, CLUSTER NODES, redis-cli
--cluster check), the cluster summary built from them, and the plan the
redis_cluster role follows (create, add missing nodes, or refuse).

Private to the fulexo.dr collection. Pure functions: no AnsibleModule here, so
the logic is unit-tested on output recorded from the real server.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

SLOTS = 16384

# redis-cli prints an error reply on stdout, as "<CODE> <message>", and exits 0.
_ERROR_REPLY = re.compile(r"^(ERR|NOAUTH|WRONGPASS|NOPERM|LOADING|MASTERDOWN|CLUSTERDOWN|BUSY|MOVED|ASK|"
                          r"TRYAGAIN|READONLY|NOSCRIPT|EXECABORT|[A-Z]{3,}) ")
_AUTH_FAILURE = re.compile(r"NOAUTH|WRONGPASS|AUTH failed|invalid username-password", re.IGNORECASE)
_NODE_ID = re.compile(r"^[0-9a-f]{40}$")


class RedisOutputError(ValueError):
    """redis-cli printed something that is not the reply it was asked for."""


def error_reply(text):
    """The error line when redis-cli printed an error reply, else ''."""
    first = (text or "").strip().splitlines()[:1]
    if first and _ERROR_REPLY.match(first[0]) and not _NODE_ID.match(first[0].split(" ")[0]):
        return first[0].strip()
    return ""


def is_auth_failure(message):
    return bool(_AUTH_FAILURE.search(message or ""))


def split_address(address):
    """'10.0.0.1:6379' -> ('10.0.0.1', 6379); IPv6 as '[::1]:6379' or '::1:6379'."""
    host, _sep, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError("not a host:port address: %r" % address)
    return host.strip("[]"), int(port)


def parse_cluster_info(text):
    """`CLUSTER INFO` as a dict; numeric values become ints."""
    error = error_reply(text)
    if error:
        raise RedisOutputError("CLUSTER INFO failed: %s" % error)
    info = {}
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or ":" not in line:
            continue
        key, _sep, value = line.partition(":")
        info[key] = int(value) if value.lstrip("-").isdigit() else value
    if "cluster_state" not in info:
        raise RedisOutputError("CLUSTER INFO: no cluster_state in %r" % (text or "").strip()[:200])
    return info


def _parse_slots(fields):
    slots, migrating, importing = [], [], []
    for field in fields:
        if field.startswith("["):
            # Slot in transit: [slot->-target] or [slot-<-source].
            body = field.strip("[]")
            if "->-" in body:
                slot, _sep, peer = body.partition("->-")
                migrating.append({"slot": int(slot), "to": peer})
            elif "-<-" in body:
                slot, _sep, peer = body.partition("-<-")
                importing.append({"slot": int(slot), "from": peer})
            continue
        start, _sep, end = field.partition("-")
        slots.append([int(start), int(end or start)])
    return slots, migrating, importing


def parse_cluster_nodes(text):
    """`CLUSTER NODES`: one dict per line, in the order the server printed.

    Line format: <id> <ip:port@cport[,hostname]> <flags> <master> <ping-sent>
    <pong-recv> <config-epoch> <link-state> <slot> ...
    """
    error = error_reply(text)
    if error:
        raise RedisOutputError("CLUSTER NODES failed: %s" % error)
    nodes = []
    for line in (text or "").splitlines():
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 8 or not _NODE_ID.match(fields[0]):
            raise RedisOutputError("CLUSTER NODES: unexpected line %r" % line[:200])
        addr, _sep, hostname = fields[1].partition(",")
        addr, _sep, cport = addr.partition("@")
        host, _sep, port = addr.rpartition(":")
        flags = fields[2].split(",")
        slots, migrating, importing = _parse_slots(fields[8:])
        nodes.append({
            "id": fields[0],
            # A node that has not met anyone yet prints ':port' with no IP.
            "address": addr if host else "",
            "host": host,
            "port": int(port) if port.isdigit() else None,
            "cport": int(cport) if cport.isdigit() else None,
            "hostname": hostname,
            "flags": flags,
            "myself": "myself" in flags,
            "role": "master" if "master" in flags else ("replica" if "slave" in flags else "unknown"),
            "failed": "fail" in flags,
            "pfail": "fail?" in flags,
            "handshake": "handshake" in flags,
            "noaddr": "noaddr" in flags,
            "master_id": None if fields[3] == "-" else fields[3],
            "config_epoch": int(fields[6]),
            "link_state": fields[7],
            "slots": slots,
            "slot_count": sum(end - start + 1 for start, end in slots),
            "migrating": migrating,
            "importing": importing,
        })
    if not nodes:
        raise RedisOutputError("CLUSTER NODES printed nothing")
    return nodes


def parse_cluster_check(text, rc=0):
    """`redis-cli --cluster check`: ok only with rc 0 and no [ERR] line.

    Colour codes are stripped; [WARNING] lines (open slots, for example) are
    returned but do not make the check fail.
    """
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text or "")
    lines = [line.strip() for line in plain.splitlines()]
    errors = [line for line in lines if line.startswith("[ERR]")]
    warnings = [line for line in lines if line.startswith("[WARNING]")]
    return {
        "ok": rc == 0 and not errors,
        "errors": errors if errors or rc == 0 else ["redis-cli --cluster check exited %d" % rc],
        "warnings": warnings,
        "all_slots_covered": "[OK] All 16384 slots covered." in lines,
        "slots_agree": "[OK] All nodes agree about slots configuration." in lines,
    }


def _myself(nodes):
    for node in nodes:
        if node["myself"]:
            return node
    return None


def _is_fresh(view):
    """Knows only itself and serves no slot: never met a cluster (or was reset)."""
    return len(view["nodes"]) == 1 and view["nodes"][0]["slot_count"] == 0


def _components(views):
    """Group formed nodes into clusters: two nodes are in one cluster when
    one's table lists the other's ID."""
    parent = {}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    by_id = {}
    for address, view in views.items():
        parent[address] = address
        by_id[view["id"]] = address
    for address, view in views.items():
        for node in view["nodes"]:
            other = by_id.get(node["id"])
            if other and not node["handshake"]:
                parent[find(address)] = find(other)
    groups = {}
    for address in views:
        groups.setdefault(find(address), []).append(address)
    return list(groups.values())


def describe_cluster(nodes, info, expected_replicas=1, host_names=None):
    """The cluster as one member sees it: masters with their replicas and
    hosts, failed nodes, links, and anti-affinity (a replica on its master's
    host dies with it)."""
    host_names = host_names or {}

    def brief(node):
        return {
            "id": node["id"], "address": node["address"], "host": node["host"],
            "name": host_names.get(node["host"], host_names.get(node["address"], "")),
            "flags": node["flags"], "link_state": node["link_state"],
            "failed": node["failed"] or node["pfail"],
        }

    masters = []
    for node in nodes:
        if node["role"] == "master" and node["slot_count"] > 0:
            entry = brief(node)
            entry.update(slots=["%d-%d" % tuple(s) if s[0] != s[1] else str(s[0]) for s in node["slots"]],
                         slot_count=node["slot_count"], replicas=[])
            masters.append(entry)
    by_id = dict((m["id"], m) for m in masters)
    orphans = []
    for node in nodes:
        if node["role"] == "replica":
            if node["master_id"] in by_id:
                by_id[node["master_id"]]["replicas"].append(brief(node))
            else:
                orphans.append(brief(node))
    violations = []
    for master in masters:
        master["healthy_replicas"] = len([r for r in master["replicas"] if not r["failed"]])
        for replica in master["replicas"]:
            if not replica["failed"] and replica["host"] == master["host"]:
                violations.append({"master": master["address"], "replica": replica["address"],
                                   "host": master["host"], "name": master["name"]})
    covered = sum(m["slot_count"] for m in masters)
    return {
        "cluster_state": info.get("cluster_state"),
        "slots_assigned": info.get("cluster_slots_assigned", 0),
        "slots_ok": info.get("cluster_slots_ok", 0),
        "slots_pfail": info.get("cluster_slots_pfail", 0),
        "slots_fail": info.get("cluster_slots_fail", 0),
        "known_nodes": info.get("cluster_known_nodes", len(nodes)),
        "size": info.get("cluster_size", len(masters)),
        "current_epoch": info.get("cluster_current_epoch"),
        "all_slots_covered": covered == SLOTS and info.get("cluster_slots_assigned") == SLOTS,
        "masters": masters,
        "orphan_replicas": orphans,
        "empty_masters": [brief(n) for n in nodes if n["role"] == "master" and n["slot_count"] == 0
                          and not (n["failed"] or n["pfail"])],
        "failed_nodes": [brief(n) for n in nodes if n["failed"] or n["pfail"]],
        "disconnected_links": [brief(n) for n in nodes if not n["myself"] and n["link_state"] != "connected"],
        "anti_affinity_violations": violations,
        "masters_missing_replicas": [m["address"] for m in masters if m["healthy_replicas"] < expected_replicas],
    }


def choose_masters(addresses, count):
    """Spread masters over hosts: one instance per host in turn, in order."""
    by_host = []
    for address in addresses:
        host = split_address(address)[0]
        for group in by_host:
            if group[0] == host:
                group[1].append(address)
                break
        else:
            by_host.append((host, [address]))
    order = []
    depth = 0
    while len(order) < len(addresses):
        for _host, members in by_host:
            if depth < len(members):
                order.append(members[depth])
        depth += 1
    return order[:count]


def assign_replicas(masters, newcomers, expected_replicas):
    """Pick a master for each newcomer.

    masters: [{"id", "address", "host", "replicas": n}] of the formed cluster.
    Fills the masters short of replicas first, keeping each replica off its
    master's host wherever the layout allows (a bipartite matching, so an
    early greedy choice cannot strand the last newcomer on its master's host).
    Newcomers beyond the missing count join the masters with fewest replicas.
    Returns [{"address", "master_id", "master_address", "same_host"}].
    """
    counts = dict((m["id"], m["replicas"]) for m in masters)
    ordered = sorted(masters, key=lambda m: m["replicas"])
    openings = []
    for master in ordered:
        openings.extend([master] * max(expected_replicas - master["replicas"], 0))

    def host(address):
        return split_address(address)[0]

    # Kuhn's augmenting paths over edges "newcomer may serve opening on
    # another host".
    match = [None] * len(openings)

    def augment(n, seen):
        for o, opening in enumerate(openings):
            if o in seen or host(newcomers[n]) == opening["host"]:
                continue
            seen.add(o)
            if match[o] is None or augment(match[o], seen):
                match[o] = n
                return True
        return False

    for n in range(len(newcomers)):
        augment(n, set())
    chosen = {}
    for o, n in enumerate(match):
        if n is not None:
            chosen[n] = openings[o]
    free = [o for o, n in enumerate(match) if n is None]
    plan = []
    for n, address in enumerate(newcomers):
        master = chosen.get(n)
        if master is None and free:
            # Only a same-host opening is left: fill it, it is reported.
            master = openings[free.pop(0)]
        if master is None:
            master = sorted(masters, key=lambda m: (host(address) == m["host"], counts[m["id"]]))[0]
        counts[master["id"]] += 1
        plan.append({"address": address, "master_id": master["id"], "master_address": master["address"],
                     "same_host": host(address) == master["host"]})
    return plan


def layout_error(count, replicas):
    """Why `count` instances cannot give every master `replicas` replicas, or ''."""
    group = replicas + 1
    if count % group or count // group < 3:
        return ("%d instance(s) cannot form at least 3 masters with %d replica(s) each: the instance count "
                "must be a multiple of %d and at least %d" % (count, replicas, group, 3 * group))
    return ""


def summarize(configured, views, expected_replicas=1, host_names=None):
    """Join what each configured instance answered into one cluster view and
    the plan to reach the desired state.

    configured: ["ip:port", ...] in inventory order.
    views: {"ip:port": {"error": str, "info": str|None, "nodes": str|None}}
    holding the raw replies; an instance that did not answer has an error.
    """
    host_names = host_names or {}
    errors, warnings, nodes_out = [], [], []
    parsed = {}
    for address in configured:
        raw = views.get(address) or {"error": "not asked"}
        entry = {"address": address, "reachable": False, "error": raw.get("error") or "", "id": None,
                 "role": None, "fresh": None, "cluster_state": None, "auth_failed": False}
        if not entry["error"]:
            try:
                info = parse_cluster_info(raw["info"])
                nodes = parse_cluster_nodes(raw["nodes"])
                me = _myself(nodes)
                if me is None:
                    raise RedisOutputError("CLUSTER NODES has no 'myself' line")
                view = {"info": info, "nodes": nodes, "id": me["id"]}
                parsed[address] = view
                entry.update(reachable=True, id=me["id"], role=me["role"], fresh=_is_fresh(view),
                             cluster_state=info["cluster_state"])
            except RedisOutputError as exc:
                entry["error"] = str(exc)
        # An instance that answers with an auth error is up: refusing here
        # keeps a wrong password from being written over the running one.
        if entry["error"] and is_auth_failure(entry["error"]):
            entry.update(reachable=True, auth_failed=True)
        nodes_out.append(entry)

    refused = [n for n in nodes_out if n["auth_failed"]]
    if refused:
        errors.append("%s refused the password (%s): give the password the running instances use"
                      % (", ".join(n["address"] for n in refused), refused[0]["error"]))

    unreachable = [n["address"] for n in nodes_out if not n["reachable"]]
    fresh = [n["address"] for n in nodes_out if n["fresh"]]
    formed = dict((a, v) for a, v in parsed.items() if not _is_fresh(v))
    components = _components(formed) if formed else []
    components.sort(key=lambda group: configured.index(group[0]))

    cluster = None
    members = []
    if len(components) > 1:
        errors.append("the instances belong to %d different clusters (%s): a node already in another cluster "
                      "must be reset (CLUSTER RESET) or left out of the inventory"
                      % (len(components), " | ".join(", ".join(sorted(g, key=configured.index)) for g in components)))
    elif components:
        members = sorted(components[0], key=configured.index)
        source = members[0]
        cluster = describe_cluster(parsed[source]["nodes"], parsed[source]["info"], expected_replicas, host_names)
        cluster["source"] = source
        table = parsed[source]["nodes"]
        foreign = sorted(set(n["address"] for n in table if n["address"] and n["address"] not in configured
                             and not (n["failed"] or n["noaddr"] or n["handshake"])))
        if foreign:
            errors.append("the cluster of %s also holds %s, which %s not in the inventory: add %s to the "
                          "inventory, or remove %s from the cluster first (redis-cli --cluster del-node)"
                          % (source, ", ".join(foreign), "is" if len(foreign) == 1 else "are",
                             "it" if len(foreign) == 1 else "them", "it" if len(foreign) == 1 else "them"))
        gone = sorted(set(n["address"] or n["id"] for n in table if n["failed"] and n["address"] not in configured))
        if gone:
            warnings.append("failed nodes outside the inventory are still known to the cluster: %s "
                            "(CLUSTER FORGET them once they are gone for good)" % ", ".join(gone))
        for violation in cluster["anti_affinity_violations"]:
            warnings.append("replica %s runs on the same host as its master %s"
                            % (violation["replica"], violation["master"]))

    layout = layout_error(len(configured), expected_replicas)
    if layout:
        errors.append(layout)

    plan = {"action": "none", "entry": members[0] if members else None, "masters": [], "additions": []}
    if errors:
        plan["action"] = "refuse"
    elif cluster is None:
        if unreachable:
            warnings.append("cannot create the cluster while %s do not answer" % ", ".join(unreachable))
        else:
            plan.update(action="create", masters=choose_masters(configured, len(configured) // (expected_replicas + 1)))
    else:
        newcomers = [a for a in fresh if a not in members]
        if newcomers:
            masters = [{"id": m["id"], "address": m["address"], "host": m["host"], "replicas": m["healthy_replicas"]}
                       for m in cluster["masters"] if not m["failed"]]
            if not masters:
                errors.append("the cluster of %s has no healthy master to attach %s to"
                              % (members[0], ", ".join(newcomers)))
                plan["action"] = "refuse"
            else:
                plan.update(action="add", additions=assign_replicas(masters, newcomers, expected_replicas))
                for addition in plan["additions"]:
                    if addition["same_host"]:
                        warnings.append("%s joins as replica of %s on the same host: the inventory leaves no "
                                        "other host" % (addition["address"], addition["master_address"]))
    plan["errors"] = errors
    plan["warnings"] = warnings

    in_cluster = set(members)
    healthy = bool(
        cluster and not errors and not unreachable
        and cluster["cluster_state"] == "ok" and cluster["slots_ok"] == SLOTS and cluster["all_slots_covered"]
        and not cluster["failed_nodes"] and not cluster["masters_missing_replicas"]
        and in_cluster == set(configured)
    )
    result = {
        "nodes": nodes_out,
        "unreachable_nodes": unreachable,
        "fresh": fresh,
        "members": members,
        "formed": cluster is not None,
        "healthy": healthy,
        "plan": plan,
    }
    empty = describe_cluster([], {}, expected_replicas, host_names)
    empty.update(cluster_state=None, source=None)
    result.update(cluster if cluster is not None else empty)
    return result
