"""The lab's stand-in for the company's API and worker (issue #12).

    python3 fulexo_lab_app.py api|worker|migrate

A small orders service: what drills measure through nginx, what degraded
mode switches features off in, and what the database and cache failovers
are felt by. Configuration comes from the environment only (load_config,
FlagStore). Standard library plus Debian 12's python3-psycopg2 and
python3-redis, both imported only when used so the unit tests run without
them.
"""

import csv
import hashlib
import hmac
import importlib
import io
import json
import logging
import os
import re
import select
import signal
import socket
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FLAG_DEFAULTS = {
    "cache": True, "analytics": True, "bulk_exports": True, "background_sync": True,
    "order_viewing": True, "basic_search": True, "customer_login": True,
    "reads_from_replica": False, "max_replica_lag_seconds": 3600,
}
CACHE_TTL = 300
CACHE_BACKOFF = 2.0     # seconds the cache is skipped after an error
TOKEN_TTL = 3600
SEARCH_LIMIT = 50
BATCH = 20
IDLE_POLL = 0.5
MAX_BACKOFF = 5.0
DRAIN_SECONDS = 5.0
MAX_BODY = 64 * 1024
MAX_INT4 = 2 ** 31 - 1
MAX_INT8 = 2 ** 63 - 1
SCHEMA_LOCK = 0x66756C6578  # "fulex": any constant the other instances share

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS orders (
    id bigserial PRIMARY KEY,
    customer text NOT NULL,
    item text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL);
CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer, id);
CREATE TABLE IF NOT EXISTS order_jobs (
    id bigserial PRIMARY KEY,
    order_id bigint NOT NULL REFERENCES orders (id),
    kind text NOT NULL CHECK (kind IN ('fulfil', 'sync')),
    created_at timestamptz NOT NULL DEFAULT now(),
    processed_at timestamptz,
    processed_by text);
CREATE INDEX IF NOT EXISTS order_jobs_pending ON order_jobs (id) WHERE processed_at IS NULL;
"""
ORDER_COLUMNS = "id, customer, item, quantity, created_at, created_by"
# On a primary: false, then NULL (no WAL receiver); replica_fresh reads that as no lag.
REPLICA_STATE_SQL = """SELECT pg_is_in_recovery(),
    pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(),
    EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"""
# Claiming and "processing" are one statement: the work itself is a stand-in.
# SKIP LOCKED lets the workers on both hosts claim disjoint batches.
CLAIM_SQL = """UPDATE order_jobs SET processed_at = now(), processed_by = %(instance)s
WHERE id IN (SELECT id FROM order_jobs
             WHERE processed_at IS NULL AND (kind <> 'sync' OR %(sync)s)
             ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id, order_id, kind"""

_log_lock = threading.Lock()


def log(message):
    # One write per line, under a lock, so request threads never interleave.
    with _log_lock:
        sys.stdout.write(time.strftime("%Y-%m-%dT%H:%M:%S ") + message + "\n")
        sys.stdout.flush()


def short(exc):
    """First line of an error, for logs and answers: never a traceback."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


# --- Configuration -----------------------------------------------------------

def parse_hostport(text, default_port=None):
    """'host:port' or '[v6]:port' -> (host, port); ValueError otherwise."""
    text = text.strip()
    match = re.fullmatch(r"\[([^\]]+)\](?::(\d+))?|([^:\[\]]+)(?::(\d+))?", text)
    if not match:
        raise ValueError("not host:port: %r" % text)
    host = match.group(1) or match.group(3)
    port = match.group(2) or match.group(4) or default_port
    if port is None or not 0 < int(port) < 65536:
        raise ValueError("no valid port in %r" % text)
    return host, int(port)


def parse_nodes(text):
    """FULEXO_APP_REDIS_NODES: comma-separated host:port, empty items ignored."""
    return [parse_hostport(part, 6379) for part in (text or "").split(",") if part.strip()]


def load_config(role, env, hostname, pid):
    listen = parse_hostport(env.get("FULEXO_APP_LISTEN") or "0.0.0.0:8080")
    default_instance = "%s:%s" % (hostname, listen[1] if role == "api" else pid)
    return {
        "role": role,
        "instance": env.get("FULEXO_APP_INSTANCE") or default_instance,
        "listen": listen,
        "dsn": env.get("FULEXO_APP_DB_DSN", ""),
        "read_dsn": env.get("FULEXO_APP_DB_READ_DSN", ""),
        "redis_nodes": parse_nodes(env.get("FULEXO_APP_REDIS_NODES", "")),
        "redis_user": env.get("FULEXO_APP_REDIS_USER") or None,
        "redis_password": env.get("FULEXO_APP_REDIS_PASSWORD") or None,
        "flags_file": env.get("FULEXO_APP_FLAGS_FILE", ""),
        "secret": env.get("FULEXO_APP_SECRET", ""),
    }


def redact_dsn(dsn):
    """The DSN fit for a log line: password=... and URI passwords masked."""
    dsn = re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]+)", r"\1***", dsn)
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", dsn)


def connect_options(dsn):
    """psycopg2.connect keyword arguments the DSN does not set itself: a dead
    host must fail a request in seconds, not after the kernel's minutes."""
    defaults = {"connect_timeout": 2, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 2}
    return {key: value for key, value in defaults.items() if key not in dsn}


# --- Feature flags -------------------------------------------------------------

def parse_flags(text):
    """The flags file's text -> the full flag set; ValueError says what is wrong."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    unknown = sorted(set(data) - set(FLAG_DEFAULTS))
    if unknown:
        raise ValueError("unknown flags: " + ", ".join(unknown))
    for key, value in data.items():
        if isinstance(FLAG_DEFAULTS[key], bool):
            if not isinstance(value, bool):
                raise ValueError("%s must be true or false" % key)
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError("%s must be a number >= 0" % key)
    return {**FLAG_DEFAULTS, **data}


class FlagStore:
    """Flags re-read when the file changes. The signature includes the inode
    and size, not only the mtime: an atomic replace or a write caught half-way
    within one timestamp tick still counts as a change."""

    def __init__(self, path):
        self.path = path
        self.flags = dict(FLAG_DEFAULTS)
        self._signature = object()
        self._lock = threading.Lock()

    def current(self):
        if not self.path:
            return self.flags
        try:
            st = os.stat(self.path)
            signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            signature = None
        except OSError as exc:
            signature = ("error", short(exc))
        with self._lock:
            if signature != self._signature:
                self._signature = signature
                self._reload(signature)
            return self.flags

    def _reload(self, signature):
        if signature is None:
            self.flags = dict(FLAG_DEFAULTS)
            log("flags: %s missing, using the defaults" % self.path)
            return
        try:
            with open(self.path, encoding="utf-8") as handle:
                flags = parse_flags(handle.read())
        except (OSError, ValueError) as exc:
            log("flags: %s ignored, keeping the last good flags: %s" % (self.path, short(exc)))
            return
        changed = {k: v for k, v in flags.items() if self.flags.get(k) != v}
        self.flags = flags
        log("flags: loaded %s, changed %s" % (self.path, json.dumps(changed, sort_keys=True)))


# --- Pure request logic --------------------------------------------------------

def _text_field(body, name):
    value = body.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError("%s must be a non-empty string" % name)
    if len(value) > 200:
        raise ValueError("%s must be at most 200 characters" % name)
    return value.strip()


def validate_order(body):
    """POST /orders body -> (customer, item, quantity); ValueError for a 400."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    customer, item = _text_field(body, "customer"), _text_field(body, "item")
    quantity = body.get("quantity")
    # bool is an int in Python; true is not a quantity.
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 < quantity <= MAX_INT4:
        raise ValueError("quantity must be a whole number from 1 to %d" % MAX_INT4)
    return customer, item, quantity


def parse_search(query):
    """GET /orders query string -> (customer, q or None); ValueError for a 400."""
    params = parse_qs(query)
    customer = (params.get("customer") or [""])[0].strip()
    if not customer:
        raise ValueError("customer is required")
    return customer, (params.get("q") or [""])[0] or None


def make_token(secret, customer, now):
    expires = int(now) + TOKEN_TTL
    message = ("%s|%d" % (customer, expires)).encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return {"token": digest, "customer": customer, "expires": expires}


def health_verdict(checks):
    """(HTTP status, "ok"|"fail"): healthy only when every check passed."""
    healthy = all(check.get("ok") is True for check in checks.values())
    return (200, "ok") if healthy else (503, "fail")


def timed_check(probe):
    """Run probe(); a check result {"ok", "ms", "error"?} with any details it returns."""
    started = time.monotonic()
    try:
        details = probe() or {}
        result = {"ok": True}
    except Exception as exc:   # a health check reports, never raises
        details, result = {}, {"ok": False, "error": short(exc)}
    result["ms"] = round((time.monotonic() - started) * 1000, 1)
    return {**result, **details}


def cluster_state_ok(info):
    """CLUSTER INFO, parsed into a dict, from one node."""
    return isinstance(info, dict) and info.get("cluster_state") == "ok"


def replica_fresh(state, max_lag):
    """state: (in_recovery, caught_up, lag_seconds) from REPLICA_STATE_SQL."""
    in_recovery, caught_up, lag = state
    if not in_recovery:
        return True      # the read endpoint reached a primary: nothing to lag behind
    if caught_up:
        return True      # all received WAL replayed; with no writes the replay
        #                  timestamp ages, so its lag alone would mislead
    return lag is not None and float(lag) <= max_lag


def summarise_jobs(rows):
    """(kind, processed, pending) rows -> the /analytics jobs block."""
    jobs = {"processed": 0, "pending": 0, "by_kind": {}}
    for kind, processed, pending in rows:
        jobs["by_kind"][kind] = {"processed": processed, "pending": pending}
        jobs["processed"] += processed
        jobs["pending"] += pending
    return jobs


def order_dict(row):
    order = dict(zip(("id", "customer", "item", "quantity", "created_at", "created_by"), row))
    if hasattr(order["created_at"], "isoformat"):
        order["created_at"] = order["created_at"].isoformat()
    return order


def orders_csv(orders):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "customer", "item", "quantity", "created_at", "created_by"])
    for order in orders:
        writer.writerow([order["id"], order["customer"], order["item"], order["quantity"],
                         order["created_at"], order["created_by"]])
    return out.getvalue()


def next_backoff(previous):
    return min(MAX_BACKOFF, max(IDLE_POLL, previous * 2))


# --- Database ------------------------------------------------------------------

class DatabaseUnavailable(Exception):
    """Any driver error, already shortened to one line."""


class Database:
    """A connection per request: after a failover the next request reaches the
    new primary, with no pooled connection to the old one to weed out."""

    def __init__(self, dsn, read_dsn=""):
        self.dsn, self.read_dsn = dsn, read_dsn
        self.schema_ready = False
        self._last_source = None

    def _connect(self, dsn):
        psycopg2 = importlib.import_module("psycopg2")
        try:
            return psycopg2.connect(dsn, **connect_options(dsn))
        except psycopg2.Error as exc:
            raise DatabaseUnavailable(short(exc)) from None

    @contextmanager
    def _transaction(self, conn):
        """Commit on success, roll back on error, always close."""
        psycopg2 = importlib.import_module("psycopg2")
        try:
            with conn:
                with conn.cursor() as cur:
                    yield cur
        except psycopg2.Error as exc:
            raise DatabaseUnavailable(short(exc)) from None
        finally:
            conn.close()

    def ensure_schema(self):
        # The lock: concurrent CREATE TABLE IF NOT EXISTS can still collide on
        # the catalogue when several instances start at once. The transaction-
        # scoped form is released at commit even if this process dies.
        with self._transaction(self._connect(self.dsn)) as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            cur.execute(SCHEMA_SQL)
        self.schema_ready = True

    def _primary(self):
        if not self.schema_ready:   # the start-up migration may have met a database down
            self.ensure_schema()
        return self._connect(self.dsn)

    def _reader(self, flags):
        """(connection, "primary"|"replica") for a read, per the flags. The
        replica is checked on the connection the read then uses."""
        if not (self.read_dsn and flags["reads_from_replica"]):
            self._last_source = None
            return self._primary(), "primary"
        try:
            conn = self._connect(self.read_dsn)
            try:
                with conn.cursor() as cur:
                    cur.execute(REPLICA_STATE_SQL)
                    state = cur.fetchone()
            except Exception as exc:
                conn.close()
                raise DatabaseUnavailable(short(exc)) from None
            if replica_fresh(state, flags["max_replica_lag_seconds"]):
                self._note_source("replica", "")
                return conn, "replica"
            conn.close()
            lag = "unknown" if state[2] is None else "%.1f s" % float(state[2])
            self._note_source("primary", "replica lag %s, limit %s s" % (lag, flags["max_replica_lag_seconds"]))
        except DatabaseUnavailable as exc:
            self._note_source("primary", "replica unavailable: %s" % exc)
        return self._primary(), "primary"

    def _note_source(self, source, reason):
        # One line when the read source changes, not one per request.
        if source != self._last_source:
            log("reads: from the %s%s" % (source, " (%s)" % reason if reason else ""))
        self._last_source = source

    def ping(self):
        with self._transaction(self._connect(self.dsn)) as cur:
            cur.execute("SELECT 1")

    def create_order(self, customer, item, quantity, instance):
        with self._transaction(self._primary()) as cur:   # the order and both jobs, or none
            cur.execute("INSERT INTO orders (customer, item, quantity, created_by) VALUES (%s, %s, %s, %s) "
                        "RETURNING " + ORDER_COLUMNS, (customer, item, quantity, instance))
            order = order_dict(cur.fetchone())
            cur.execute("INSERT INTO order_jobs (order_id, kind) VALUES (%s, 'fulfil'), (%s, 'sync')",
                        (order["id"], order["id"]))
        return order

    def get_order(self, order_id, flags):
        conn, source = self._reader(flags)
        with self._transaction(conn) as cur:
            cur.execute("SELECT " + ORDER_COLUMNS + " FROM orders WHERE id = %s", (order_id,))
            row = cur.fetchone()
        return (order_dict(row) if row else None), source

    def search_orders(self, customer, q, flags):
        conn, source = self._reader(flags)
        with self._transaction(conn) as cur:
            cur.execute("SELECT " + ORDER_COLUMNS + " FROM orders WHERE customer = %s "
                        "AND (%s::text IS NULL OR strpos(lower(item), lower(%s)) > 0) "
                        "ORDER BY id DESC LIMIT %s", (customer, q, q, SEARCH_LIMIT))
            rows = cur.fetchall()
        return [order_dict(row) for row in rows], source

    def analytics(self, flags):
        conn, source = self._reader(flags)
        with self._transaction(conn) as cur:
            cur.execute("SELECT count(*) FROM orders")
            orders = cur.fetchone()[0]
            cur.execute("SELECT kind, count(processed_at), count(*) - count(processed_at) "
                        "FROM order_jobs GROUP BY kind ORDER BY kind")
            jobs = summarise_jobs(cur.fetchall())
        return {"orders": orders, "jobs": jobs}, source

    def export_orders(self, flags):
        conn, source = self._reader(flags)
        with self._transaction(conn) as cur:
            cur.execute("SELECT " + ORDER_COLUMNS + " FROM orders ORDER BY id")
            rows = cur.fetchall()
        return [order_dict(row) for row in rows], source

    def claim_jobs(self, instance, include_sync, limit=BATCH):
        with self._transaction(self._primary()) as cur:
            cur.execute(CLAIM_SQL, {"instance": instance, "sync": include_sync, "limit": limit})
            return cur.fetchall()


# --- Cache -----------------------------------------------------------------------

class CacheError(Exception):
    pass


class CacheSkipped(CacheError):
    """Not tried, during the back-off: not worth a log line per request."""


class Cache:
    """Redis Cluster through redis-py. redis-py 4.3 retries a dead node for
    seconds per command, so after an error the cache is skipped for
    CACHE_BACKOFF seconds, then one request at a time tries it again: a cache
    outage costs a few slow requests, not all of them."""

    def __init__(self, nodes, username=None, password=None, clock=time.monotonic):
        self.nodes, self.username, self.password = nodes, username, password
        self.clock = clock
        self._client = None
        self._skip_until = 0.0
        self._failing = False
        self._lock = threading.Lock()

    def _options(self):
        return {"username": self.username, "password": self.password, "decode_responses": True,
                "socket_timeout": 1, "socket_connect_timeout": 1}

    def _cluster(self):
        if self._client is None:
            cluster = importlib.import_module("redis.cluster")
            self._client = cluster.RedisCluster(
                startup_nodes=[cluster.ClusterNode(host, port) for host, port in self.nodes],
                # One attempt: the back-off in _call, not redis-py, decides when to retry.
                cluster_error_retry_attempts=1, **self._options())
        return self._client

    def _call(self, operation):
        if not self.nodes:
            raise CacheError("FULEXO_APP_REDIS_NODES is empty")
        with self._lock:
            now = self.clock()
            if now < self._skip_until:
                raise CacheSkipped("skipped for %.1f s after a cache error" % (self._skip_until - now))
            if self._failing:   # this request probes; the others keep skipping meanwhile
                self._skip_until = now + CACHE_BACKOFF
        try:
            result = operation(self._cluster())
        except Exception as exc:   # whatever fails, the request goes on to the database
            with self._lock:
                # A fresh client next time: redis-py 4.3.4's own re-initialisation
                # after losing a node fails ("cannot pickle '_thread.lock'").
                self._client, self._failing = None, True
                self._skip_until = self.clock() + CACHE_BACKOFF
            raise CacheError(short(exc)) from None
        with self._lock:
            self._failing, self._skip_until = False, 0.0
        return result

    def get(self, key):
        return self._call(lambda rc: rc.get(key))

    def set(self, key, value, ttl=CACHE_TTL):
        return self._call(lambda rc: rc.set(key, value, ex=ttl))

    def check(self):
        """Health: the first startup node that answers must report cluster_state
        ok. A plain connection per node, outside redis-py's cluster retries and
        the back-off, so /health says how the cluster is now."""
        if not self.nodes:
            raise CacheError("FULEXO_APP_REDIS_NODES is empty")
        redis = importlib.import_module("redis")
        errors = []
        for host, port in self.nodes:
            try:
                with redis.Redis(host=host, port=port, **self._options()) as node:
                    info = node.execute_command("CLUSTER INFO")
            except Exception as exc:   # try the next node
                errors.append("%s:%s %s" % (host, port, short(exc)))
                continue
            if not cluster_state_ok(info):
                state = info.get("cluster_state") if isinstance(info, dict) else info
                raise CacheError("%s:%s says cluster_state %s" % (host, port, state))
            return {"node": "%s:%s" % (host, port)}
        raise CacheError("; ".join(errors))


# --- HTTP API ----------------------------------------------------------------------

class HttpError(Exception):
    def __init__(self, status, body):
        super().__init__(body.get("error"))
        self.status, self.body = status, body


class App:
    def __init__(self, config, flags, db, cache, clock=time.time):
        self.config, self.flags, self.db, self.cache, self.clock = config, flags, db, cache, clock
        self.instance = config["instance"]

    # Each handler returns (status, body, headers); body is a dict or a str (CSV).
    def health(self, request, flags):
        checks = {"database": timed_check(self.db.ping)}
        checks["cache"] = timed_check(self.cache.check) if flags["cache"] else {"ok": True, "disabled": True}
        status, verdict = health_verdict(checks)
        return status, {"status": verdict, "instance": self.instance, "checks": checks, "flags": flags}, {}

    def create_order(self, request, flags):
        try:
            customer, item, quantity = validate_order(request.json())
        except ValueError as exc:
            raise HttpError(400, {"error": str(exc)}) from None
        order = self.db.create_order(customer, item, quantity, self.instance)
        if flags["cache"]:
            key = "fulexo:order:%d" % order["id"]
            self._try_cache("storing " + key, lambda: self.cache.set(key, json.dumps(order)))
        return 201, order, {"Location": "/orders/%d" % order["id"]}

    def _try_cache(self, what, call):
        """(worked, result): a cache failure never fails the request. Logged,
        except while the cache is skipped after one."""
        try:
            return True, call()
        except CacheError as exc:
            if not isinstance(exc, CacheSkipped):
                log("cache: %s failed: %s" % (what, exc))
            return False, None

    def get_order(self, request, flags, order_id):
        order_id = int(order_id)
        if order_id > MAX_INT8:
            raise HttpError(404, {"error": "no such order"})
        key, state = "fulexo:order:%d" % order_id, "disabled"
        if flags["cache"]:
            worked, cached = self._try_cache("reading " + key, lambda: self.cache.get(key))
            state = "miss" if worked else "error"
            if cached is not None:
                try:   # no X-Read-From: the database was not read
                    return 200, json.loads(cached), {"X-Cache": "hit"}
                except ValueError:
                    log("cache: %s is not JSON, replacing it" % key)
        order, source = self.db.get_order(order_id, flags)
        headers = {"X-Cache": state, "X-Read-From": source}
        if order is None:
            return 404, {"error": "no such order", "id": order_id}, headers
        if state == "miss":
            self._try_cache("storing " + key, lambda: self.cache.set(key, json.dumps(order)))
        return 200, order, headers

    def search(self, request, flags):
        try:
            customer, q = parse_search(request.query)
        except ValueError as exc:
            raise HttpError(400, {"error": str(exc)}) from None
        orders, source = self.db.search_orders(customer, q, flags)
        return 200, {"customer": customer, "q": q, "orders": orders}, {"X-Read-From": source}

    def login(self, request, flags):
        body = request.json()
        try:
            customer = _text_field(body if isinstance(body, dict) else {}, "customer")
        except ValueError as exc:
            raise HttpError(400, {"error": str(exc)}) from None
        if not self.config["secret"]:
            raise HttpError(503, {"error": "login not configured: FULEXO_APP_SECRET is empty"})
        return 200, make_token(self.config["secret"], customer, self.clock()), {}

    def analytics(self, request, flags):
        body, source = self.db.analytics(flags)
        return 200, body, {"X-Read-From": source}

    def export(self, request, flags):
        orders, source = self.db.export_orders(flags)
        return 200, orders_csv(orders), {"X-Read-From": source, "Content-Type": "text/csv; charset=utf-8",
                                         "Content-Disposition": 'attachment; filename="orders.csv"'}

    ROUTES = [  # method, path pattern, handler name, flag (None: always on)
        ("GET", r"/health", "health", None),
        ("POST", r"/orders", "create_order", None),
        ("GET", r"/orders/(\d+)", "get_order", "order_viewing"),
        ("GET", r"/orders", "search", "basic_search"),
        ("POST", r"/login", "login", "customer_login"),
        ("GET", r"/analytics", "analytics", "analytics"),
        ("GET", r"/exports/orders", "export", "bulk_exports"),
    ]

    def dispatch(self, request):
        """request has .method, .path, .query, .json() -> (status, body, headers)."""
        flags = self.flags.current()
        for method, pattern, name, flag in self.ROUTES:
            match = re.fullmatch(pattern, request.path)
            if match and method == request.method:
                break
        else:
            return 404, {"error": "not found", "path": request.path}, {}
        if flag and not flags[flag]:
            return 503, {"error": "disabled in degraded mode", "feature": flag}, {}
        try:
            return getattr(self, name)(request, flags, *match.groups())
        except HttpError as exc:
            return exc.status, exc.body, {}
        except DatabaseUnavailable as exc:
            log("database: %s %s: %s" % (request.method, request.path, exc))
            return 503, {"error": "database unavailable", "instance": self.instance}, {}


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.0, one request per connection: no idle keep-alive connection
    # holds a thread when SIGTERM asks the server to drain.
    timeout = 10
    server_version = "fulexo-lab-app"
    # Headers and body go out in two writes; with Nagle on, the second waits
    # for the client's delayed ACK, some 40 ms added to every answer.
    disable_nagle_algorithm = True

    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def json(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HttpError(400, {"error": "bad Content-Length"}) from None
        if length > MAX_BODY:
            raise HttpError(413, {"error": "the body is over %d bytes" % MAX_BODY})
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError as exc:
            raise HttpError(400, {"error": "invalid JSON: %s" % short(exc)}) from None

    def _handle(self, method):
        started = time.monotonic()
        app = self.server.app
        parts = urlsplit(self.path)
        self.method, self.query = method, parts.query
        self.path = parts.path   # routes match the path alone
        try:
            status, body, headers = app.dispatch(self)
        except HttpError as exc:
            status, body, headers = exc.status, exc.body, {}
        except Exception as exc:   # logged; the client gets no traceback
            log("error: %s %s: %s: %s" % (method, self.path, type(exc).__name__, short(exc)))
            status, body, headers = 500, {"error": "internal error", "instance": app.instance}, {}
        data = (body if isinstance(body, str) else json.dumps(body, default=str)).encode()
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Instance", app.instance)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError as exc:   # the client left: its problem, not a server error
            log("%s %s: client went away: %s" % (method, self.path, short(exc)))
        log("%s %s %d %.1fms %s" % (method, self.path, status, (time.monotonic() - started) * 1000, app.instance))

    def log_message(self, format, *args):
        pass   # one line per request comes from _handle instead


class Server(ThreadingHTTPServer):
    daemon_threads = True   # threads still busy after the drain do not hold the exit

    def __init__(self, address, app):
        super().__init__(address, Handler)
        self.app = app
        self.inflight = 0
        self._idle = threading.Condition()

    def process_request(self, request, client_address):
        with self._idle:
            self.inflight += 1
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._idle:
                self.inflight -= 1
                self._idle.notify_all()

    def drain(self, seconds=DRAIN_SECONDS):
        """After the accept loop stopped: take the connections already queued
        in the backlog (closing the socket would reset them, and nginx does not
        retry a POST), close the socket, wait for in-flight requests."""
        self.timeout = 0
        while select.select([self.socket], [], [], 0)[0]:
            self.handle_request()
        self.server_close()
        with self._idle:
            return self._idle.wait_for(lambda: self.inflight == 0, seconds)


class Stop:
    """Set by SIGTERM. A plain attribute, not a threading.Event: Event.set
    takes a lock, and a signal handler runs in the main thread, which may be
    holding that very lock at the moment the signal lands."""

    def __init__(self):
        self.requested = False

    def set(self, *signal_args):
        self.requested = True

    def is_set(self):
        return self.requested

    def wait(self, seconds):
        # Short sleeps: time.sleep resumes after a signal (PEP 475).
        deadline = time.monotonic() + seconds
        while not self.requested and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.requested


def serve(server, stop):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    thread.start()
    while not stop.wait(3600):
        pass
    server.shutdown()
    if not server.drain():
        log("api: %d requests still running after %.0f s, exiting anyway" % (server.inflight, DRAIN_SECONDS))


# --- Worker ------------------------------------------------------------------------

def run_worker(db, flags, instance, stop, wait=None):
    """Claim and process batches until stop is set; database errors back off."""
    wait = wait or stop.wait
    backoff = 0.0
    while not stop.is_set():
        include_sync = flags.current()["background_sync"]
        try:
            jobs = db.claim_jobs(instance, include_sync)
        except DatabaseUnavailable as exc:
            backoff = next_backoff(backoff)
            log("worker: database: %s; retrying in %.1f s" % (exc, backoff))
            wait(backoff)
            continue
        if backoff:
            log("worker: database reachable again")
        backoff = 0.0
        if jobs:
            kinds = {}
            for job in jobs:
                kinds[job[2]] = kinds.get(job[2], 0) + 1
            log("worker: processed %d jobs %s %s" % (len(jobs), json.dumps(kinds, sort_keys=True), instance))
        if len(jobs) < BATCH:   # a full batch: more are probably waiting
            wait(IDLE_POLL)


# --- Entry point ---------------------------------------------------------------------

def main(argv, env=None):
    if len(argv) != 2 or argv[1] not in ("api", "worker", "migrate"):
        print("usage: fulexo_lab_app.py api|worker|migrate", file=sys.stderr)
        return 2
    role, env = argv[1], os.environ if env is None else env
    try:
        config = load_config(role, env, socket.gethostname(), os.getpid())
    except ValueError as exc:
        print("configuration: %s" % exc, file=sys.stderr)
        return 2
    try:
        importlib.import_module("psycopg2")
    except ImportError:
        print("psycopg2 is missing: install python3-psycopg2", file=sys.stderr)
        return 1
    # redis-py 4.3 logs every retried connection error with a traceback.
    logging.getLogger("redis").setLevel(logging.CRITICAL)
    db = Database(config["dsn"], config["read_dsn"])
    log("%s %s starting: database %r, read database %r, cache %s, flags %s" % (
        role, config["instance"], redact_dsn(config["dsn"]), redact_dsn(config["read_dsn"]),
        ",".join("%s:%s" % node for node in config["redis_nodes"]) or "none", config["flags_file"] or "none"))
    try:
        db.ensure_schema()
    except DatabaseUnavailable as exc:
        if role == "migrate":
            log("migrate: %s" % exc)
            return 1
        log("migrate: %s; tried again at the first query" % exc)
    if role == "migrate":
        log("migrate: schema ready")
        return 0

    stop = Stop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, stop.set)
    flags = FlagStore(config["flags_file"])
    flags.current()
    if role == "worker":
        run_worker(db, flags, config["instance"], stop)
    else:
        cache = Cache(config["redis_nodes"], config["redis_user"], config["redis_password"])
        try:
            server = Server(config["listen"], App(config, flags, db, cache))
        except OSError as exc:
            log("api: cannot listen on %s:%s: %s" % (config["listen"] + (exc,)))
            return 1
        log("api: listening on %s:%s" % config["listen"])
        serve(server, stop)
    log("%s %s stopped" % (role, config["instance"]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
