# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The drill's safety gate: is the estate whole enough to break a piece of it?

Private to the fulexo.dr collection. Pure functions over what the info
modules (etcd_cluster_info, patroni_cluster_info, redis_cluster_info,
minio_replication_status) returned, so every refusal is unit-tested. The
module drill_preflight calls them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

ESTATES = ("lab", "staging", "production")


class PreflightInputError(ValueError):
    pass


def _unreadable(info, key):
    """The error of an info module run that failed or never ran, or None.

    `key` is a field the module always returns when it worked: a result
    without it (a failure registered with failed_when: false) is an error.
    """
    if not isinstance(info, dict):
        return "no answer"
    if info.get("skipped"):
        return "not reached in this run (--limit, or the host is not in the inventory)"
    if info.get("unreachable"):
        return "host unreachable: %s" % (info.get("msg") or "no answer")
    if info.get("failed") or key not in info:
        return info.get("msg") or "the check failed without a message"
    return None


def estate_problems(estate, production_confirmed):
    """A drill breaks things for real: the inventory must say where it runs."""
    estate = (estate or "").strip().lower()
    if not estate:
        return ["this inventory does not say which estate it is: set dr_estate (lab, staging or production) in "
                "its group_vars/all before running a drill"]
    if estate not in ESTATES:
        return ["dr_estate is %r; it must be one of %s" % (estate, ", ".join(ESTATES))]
    if estate == "production" and not production_confirmed:
        return ["this inventory is production: the drill crashes a database primary and stops services for real; "
                "run it only in an announced window, with -e dr_drill_production_confirmed=true"]
    return []


def etcd_problems(name, info, min_failure_tolerance):
    error = _unreadable(info, "member_count")
    if error:
        return ["etcd %s: %s" % (name, error)]
    problems = []
    healthy, count = int(info.get("healthy_count") or 0), int(info.get("member_count") or 0)
    unhealthy = [m.get("name") or m.get("id") for m in info.get("members") or [] if not m.get("healthy")]
    if not info.get("has_quorum"):
        problems.append("etcd %s has no quorum (%d/%d healthy)" % (name, healthy, count))
    elif healthy < count:
        problems.append("etcd %s: %d/%d members healthy (down: %s)"
                        % (name, healthy, count, ", ".join(str(u) for u in unhealthy) or "unknown"))
    tolerance = int(info.get("failure_tolerance") or 0)
    if info.get("has_quorum") and tolerance < min_failure_tolerance:
        problems.append("etcd %s tolerates %d member failure(s), the drill needs %d (losing its leader would stop it)"
                        % (name, tolerance, min_failure_tolerance))
    return problems


def patroni_problems(info, lag_limit, expected_members=None):
    error = _unreadable(info, "leader")
    if error:
        return ["Patroni: %s" % error]
    problems = []
    leader = info.get("leader")
    if not leader:
        problems.append("Patroni: no single leader")
    elif not info.get("leader_running"):
        problems.append("Patroni: leader %s is not running PostgreSQL" % leader)
    if info.get("paused"):
        problems.append("Patroni: the cluster is paused (maintenance mode); resume it first")
    streaming = set(info.get("streaming_replicas") or [])
    for member in info.get("replicas") or []:
        if member not in streaming:
            problems.append("Patroni: replica %s does not stream from the leader" % member)
    for member in info.get("members") or []:
        lag = member.get("lag")
        if member.get("name") in streaming and isinstance(lag, int) and lag > lag_limit:
            problems.append("Patroni: replica %s lags %d bytes (limit %d)" % (member.get("name"), lag, lag_limit))
    if expected_members is not None:
        seen = set(m.get("name") for m in info.get("members") or [])
        missing = sorted(set(expected_members) - seen)
        if missing:
            problems.append("Patroni: member(s) %s not in the cluster" % ", ".join(missing))
    return problems


def _node(item):
    if isinstance(item, dict):
        return str(item.get("hostname") or item.get("address") or item.get("id") or item)
    return str(item)


def redis_problems(info):
    error = _unreadable(info, "formed")
    if error:
        return ["Redis Cluster: %s" % error]
    problems = []
    if not info.get("formed"):
        return ["Redis Cluster: not formed"]
    if info.get("cluster_state") != "ok":
        problems.append("Redis Cluster: state %s" % info.get("cluster_state"))
    if not info.get("all_slots_covered") or int(info.get("slots_ok") or 0) < 16384:
        problems.append("Redis Cluster: %s of 16384 slots served" % info.get("slots_ok"))
    for key, what in (("failed_nodes", "failed node(s)"), ("unreachable_nodes", "unreachable node(s)"),
                      ("masters_missing_replicas", "master(s) without a replica")):
        items = info.get(key) or []
        if items:
            problems.append("Redis Cluster: %s %s" % (what, ", ".join(_node(i) for i in items)))
    return problems


def minio_problems(info):
    error = _unreadable(info, "unreachable_targets")
    if error:
        return ["backup storage: %s" % error]
    problems = []
    unreachable = info.get("unreachable_targets") or []
    if unreachable:
        problems.append("backup storage: site(s) %s do not answer" % ", ".join(unreachable))
    if int(info.get("failed_total") or 0):
        problems.append("backup storage: %d version(s) failed to replicate" % int(info["failed_total"]))
    return problems


def preflight(estate, production_confirmed, etcd=(), patroni=None, redis=None, minio=None,
              lag_limit=10485760, patroni_members=None):
    """Every reason not to break anything, in the order an operator fixes them.

    etcd: [{name, info, min_failure_tolerance}]; patroni, redis, minio: an
    info module's result, or None when the estate has no such tier.
    """
    problems = estate_problems(estate, production_confirmed)
    for cluster in etcd or ():
        if "name" not in cluster:
            raise PreflightInputError("each etcd entry needs a name")
        problems += etcd_problems(cluster["name"], cluster.get("info"), int(cluster.get("min_failure_tolerance", 1)))
    if patroni is not None:
        problems += patroni_problems(patroni, int(lag_limit), patroni_members)
    if redis is not None:
        problems += redis_problems(redis)
    if minio is not None:
        problems += minio_problems(minio)
    return problems


def refusal_message(problems):
    return "the estate is not whole, so nothing was broken: " + "; ".join(problems)
