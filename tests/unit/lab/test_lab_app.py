"""lab/app/fulexo_lab_app.py, the lab's stand-in API and worker: its pure
logic, its database and cache layers against fake drivers, and the HTTP
server on the loopback with a fake database and cache. No PostgreSQL, no
Redis, and neither psycopg2 nor redis needs to be installed."""

import hashlib
import hmac
import http.client
import importlib.util
import json
import os
import select
import socket
import sys
import threading
import time
import types

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SPEC = importlib.util.spec_from_file_location("fulexo_lab_app", os.path.join(REPO_ROOT, "lab", "app", "fulexo_lab_app.py"))
app = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(app)


@pytest.fixture(autouse=True)
def logged(monkeypatch):
    """The app's log lines, kept instead of printed."""
    lines = []
    monkeypatch.setattr(app, "log", lines.append)
    return lines


# --- Flags ---------------------------------------------------------------------

def test_flags_file_overrides_only_what_it_names():
    flags = app.parse_flags('{"cache": false, "max_replica_lag_seconds": 30}')
    assert flags["cache"] is False and flags["max_replica_lag_seconds"] == 30
    assert flags["analytics"] is True and flags["reads_from_replica"] is False
    assert set(flags) == set(app.FLAG_DEFAULTS)


@pytest.mark.parametrize("text, message", [
    ('{"cahce": false}', "unknown flags: cahce"),
    ('{"cache": "no"}', "cache must be true or false"),
    ('{"cache": 0}', "cache must be true or false"),
    ('{"max_replica_lag_seconds": true}', "max_replica_lag_seconds must be a number"),
    ('{"max_replica_lag_seconds": -1}', "max_replica_lag_seconds must be a number"),
    ('["cache"]', "not a JSON object"),
])
def test_flags_file_mistakes_are_refused_with_the_reason(text, message):
    with pytest.raises(ValueError, match=message):
        app.parse_flags(text)


def test_flags_file_that_is_not_json_is_refused():
    with pytest.raises(ValueError):
        app.parse_flags('{"cache": false')


def test_flag_store_follows_the_file_and_keeps_the_last_good_flags(tmp_path, logged, monkeypatch):
    path = tmp_path / "flags.json"
    store = app.FlagStore(str(path))
    assert store.current() == app.FLAG_DEFAULTS          # missing: defaults

    path.write_text('{"analytics": false}')
    assert store.current()["analytics"] is False

    path.write_text('{"analytics": false, "bogus": 1}')   # bad: the last good stays
    del logged[:]
    assert store.current()["analytics"] is False
    assert store.current()["analytics"] is False
    assert len(logged) == 1 and "unknown flags: bogus" in logged[0]

    path.write_text('{"analytics": true, "cache": false}')
    flags = store.current()
    assert flags["analytics"] is True and flags["cache"] is False

    path.unlink()
    assert store.current() == app.FLAG_DEFAULTS


def test_flag_store_does_not_reread_an_unchanged_file(tmp_path, monkeypatch):
    path = tmp_path / "flags.json"
    path.write_text('{"cache": false}')
    store = app.FlagStore(str(path))
    parsed = []
    real = app.parse_flags
    monkeypatch.setattr(app, "parse_flags", lambda text: parsed.append(text) or real(text))
    for attempt in range(5):
        assert store.current()["cache"] is False
    assert len(parsed) == 1


def test_flag_store_notices_a_same_size_rewrite_within_one_mtime(tmp_path):
    path = tmp_path / "flags.json"
    path.write_text('{"cache": false}')
    store = app.FlagStore(str(path))
    assert store.current()["cache"] is False
    stamp = os.stat(path).st_mtime_ns
    replacement = tmp_path / "new.json"
    replacement.write_text('{"cache": true}\n')
    os.utime(replacement, ns=(stamp, stamp))
    os.replace(replacement, path)                      # an atomic replace, same mtime
    assert store.current()["cache"] is True


# --- Pure request logic -------------------------------------------------------

def test_health_is_ok_only_when_every_check_passed():
    ok = {"ok": True, "ms": 1.0}
    assert app.health_verdict({"database": ok, "cache": {"ok": True, "disabled": True}}) == (200, "ok")
    assert app.health_verdict({"database": ok, "cache": {"ok": False, "ms": 3.0, "error": "x"}}) == (503, "fail")
    assert app.health_verdict({"database": {"ok": False}, "cache": ok}) == (503, "fail")


def test_timed_check_reports_the_first_line_of_a_failure_and_the_time():
    def probe():
        raise RuntimeError("connection refused\n\tIs the server running?")
    result = app.timed_check(probe)
    assert result["ok"] is False and result["error"] == "connection refused" and result["ms"] >= 0
    assert app.timed_check(lambda: {"node": "r1:6379"}) == {"ok": True, "ms": pytest.approx(0, abs=50),
                                                            "node": "r1:6379"}


def test_a_valid_order_is_trimmed():
    assert app.validate_order({"customer": " acme ", "item": "bolt", "quantity": 3}) == ("acme", "bolt", 3)


@pytest.mark.parametrize("body, message", [
    ([], "JSON object"),
    ({"item": "bolt", "quantity": 1}, "customer must be a non-empty string"),
    ({"customer": "  ", "item": "bolt", "quantity": 1}, "customer must be a non-empty string"),
    ({"customer": "a", "item": "x" * 201, "quantity": 1}, "item must be at most 200"),
    ({"customer": "a", "item": "bolt", "quantity": 0}, "quantity must be a whole number"),
    ({"customer": "a", "item": "bolt", "quantity": True}, "quantity must be a whole number"),
    ({"customer": "a", "item": "bolt", "quantity": "2"}, "quantity must be a whole number"),
    ({"customer": "a", "item": "bolt", "quantity": 1.5}, "quantity must be a whole number"),
    ({"customer": "a", "item": "bolt", "quantity": 2 ** 31}, "quantity must be a whole number"),
])
def test_invalid_orders_are_refused_with_a_reason(body, message):
    with pytest.raises(ValueError, match=message):
        app.validate_order(body)


def test_search_needs_a_customer_and_takes_an_optional_substring():
    assert app.parse_search("customer=acme%20ltd&q=bo") == ("acme ltd", "bo")
    assert app.parse_search("customer=acme") == ("acme", None)
    with pytest.raises(ValueError, match="customer is required"):
        app.parse_search("q=bo")


def test_token_is_the_hmac_of_customer_and_expiry_an_hour_ahead():
    token = app.make_token("s3cret", "acme", 1000.7)
    assert token["expires"] == 4600 and token["customer"] == "acme"
    assert token["token"] == hmac.new(b"s3cret", b"acme|4600", hashlib.sha256).hexdigest()
    assert app.make_token("s3cret", "acme2", 1000)["token"] != app.make_token("s3cret", "acme", 1000)["token"]
    assert app.make_token("other", "acme", 1000.7)["token"] != token["token"]


def test_redis_nodes_parse_with_default_port_and_ipv6():
    assert app.parse_nodes(" r1:6379, r2:7000 ,r3,,[fd00::1]:6380") == [
        ("r1", 6379), ("r2", 7000), ("r3", 6379), ("fd00::1", 6380)]
    assert app.parse_nodes("") == []
    for bad in ("r1:0", "r1:70000", "r1:port", "a:b:c"):
        with pytest.raises(ValueError):
            app.parse_nodes(bad)


def test_config_defaults_and_instance_names():
    config = app.load_config("api", {}, "app1", 42)
    assert config["listen"] == ("0.0.0.0", 8080) and config["instance"] == "app1:8080"
    assert config["redis_user"] is None and config["redis_nodes"] == []
    assert app.load_config("worker", {"FULEXO_APP_LISTEN": "127.0.0.1:9000"}, "app1", 42)["instance"] == "app1:42"
    config = app.load_config("api", {"FULEXO_APP_LISTEN": "127.0.0.1:9000", "FULEXO_APP_INSTANCE": "app1-api-9000",
                                     "FULEXO_APP_REDIS_NODES": "r1:6379", "FULEXO_APP_REDIS_USER": "app"}, "h", 1)
    assert config["listen"] == ("127.0.0.1", 9000) and config["instance"] == "app1-api-9000"
    assert config["redis_nodes"] == [("r1", 6379)] and config["redis_user"] == "app"


def test_dsn_passwords_never_reach_a_log_line():
    assert app.redact_dsn("host=lb port=5000 password=hunter2 user=app") == "host=lb port=5000 password=*** user=app"
    assert app.redact_dsn("host=lb password = 'a b\\'c' user=app") == "host=lb password = *** user=app"
    assert app.redact_dsn("postgresql://app:hunter2@lb:5000/fulexo") == "postgresql://app:***@lb:5000/fulexo"
    assert "hunter2" not in app.redact_dsn("postgresql://lb/fulexo?user=app&password=hunter2&sslmode=off")
    assert app.redact_dsn("host=lb user=app") == "host=lb user=app"


def test_connect_timeout_is_two_seconds_unless_the_dsn_says():
    assert app.connect_options("host=lb")["connect_timeout"] == 2
    assert "connect_timeout" not in app.connect_options("host=lb connect_timeout=5")


@pytest.mark.parametrize("state, max_lag, fresh", [
    ((False, None, None), 10, True),           # the read endpoint is a primary
    ((True, True, 86400.0), 10, True),         # caught up, no writes for a day
    ((True, False, 5.0), 10, True),
    ((True, False, 11.0), 10, False),
    ((True, False, None), 10, False),          # replaying, never replayed a transaction
    ((True, None, 3.0), 10, True),             # no WAL receiver: the timestamp decides
])
def test_replica_is_used_when_caught_up_or_within_the_lag(state, max_lag, fresh):
    assert app.replica_fresh(state, max_lag) is fresh


def test_cluster_state_must_be_ok():
    assert app.cluster_state_ok({"cluster_state": "ok", "cluster_slots_ok": "16384"})
    assert not app.cluster_state_ok({"cluster_state": "fail"})
    assert not app.cluster_state_ok("cluster_state:ok")


def test_jobs_summary_adds_up_the_kinds():
    assert app.summarise_jobs([("fulfil", 5, 1), ("sync", 2, 4)]) == {
        "processed": 7, "pending": 5,
        "by_kind": {"fulfil": {"processed": 5, "pending": 1}, "sync": {"processed": 2, "pending": 4}}}


def test_csv_export_quotes_what_needs_quoting():
    text = app.orders_csv([{"id": 1, "customer": "acme, ltd", "item": 'say "hi"', "quantity": 2,
                            "created_at": "2024-01-01T00:00:00+00:00", "created_by": "app1"}])
    assert text.splitlines() == ["id,customer,item,quantity,created_at,created_by",
                                 '1,"acme, ltd","say ""hi""",2,2024-01-01T00:00:00+00:00,app1']


def test_backoff_doubles_up_to_five_seconds():
    delays, delay = [], 0.0
    for step in range(6):
        delay = app.next_backoff(delay)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


# --- Database layer against a fake psycopg2 -------------------------------------

class FakePg(types.ModuleType):
    """psycopg2's connect/Error, with connections that record what ran."""

    class Error(Exception):
        pass

    def __init__(self, answer, refuse=()):
        super().__init__("psycopg2")
        self.answer, self.refuse, self.connections = answer, refuse, []

    def connect(self, dsn, **options):
        if dsn in self.refuse:
            raise self.Error("connection to server failed: Connection refused\n\tIs the server running?")
        conn = FakeConn(self, dsn, options)
        self.connections.append(conn)
        return conn


class FakeConn:
    def __init__(self, pg, dsn, options):
        self.pg, self.dsn, self.options = pg, dsn, options
        self.executed, self.commits, self.rollbacks, self.closed = [], 0, 0, False

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        if kind is None:
            self.commits += 1
        else:
            self.rollbacks += 1

    def cursor(self):
        return FakeCursor(self)

    def close(self):
        self.closed = True


class FakeCursor:
    def __init__(self, conn):
        self.conn, self.rows = conn, []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def execute(self, sql, params=None):
        self.conn.executed.append(sql)
        self.rows = self.conn.pg.answer(self.conn.dsn, sql, params)

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return self.rows


ROW = (7, "acme", "bolt", 3, "2024-01-01T00:00:00+00:00", "app1")
LAGGING, FRESH = ((True, False, 90.0),), ((True, False, 1.0),)


def fake_pg(monkeypatch, replica_state=FRESH, refuse=(), fail_on=None):
    def answer(dsn, sql, params):
        if fail_on and fail_on in sql:
            raise pg.Error("server closed the connection unexpectedly\nThis probably means...")
        if "pg_is_in_recovery" in sql:
            return replica_state
        if "FROM orders WHERE id" in sql or "INSERT INTO orders" in sql:
            return [ROW]
        return []
    pg = FakePg(answer, refuse)
    monkeypatch.setitem(sys.modules, "psycopg2", pg)
    return pg


def test_an_order_and_its_two_jobs_are_one_transaction_after_the_schema(monkeypatch):
    pg = fake_pg(monkeypatch)
    db = app.Database("host=rw")
    order = db.create_order("acme", "bolt", 3, "app1")
    assert order["id"] == 7 and order["customer"] == "acme"
    schema, work = pg.connections
    assert "pg_advisory_xact_lock" in schema.executed[0] and "CREATE TABLE IF NOT EXISTS orders" in schema.executed[1]
    assert [sql.split(" (")[0] for sql in work.executed] == ["INSERT INTO orders", "INSERT INTO order_jobs"]
    assert "'fulfil'" in work.executed[1] and "'sync'" in work.executed[1]
    assert (work.commits, work.rollbacks, work.closed) == (1, 0, True)
    assert work.options["connect_timeout"] == 2
    db.create_order("acme", "bolt", 3, "app1")
    assert len(pg.connections) == 3                   # the schema only once


def test_a_driver_error_rolls_back_closes_and_becomes_one_line(monkeypatch):
    pg = fake_pg(monkeypatch, fail_on="INSERT INTO order_jobs")
    db = app.Database("host=rw")
    db.schema_ready = True
    with pytest.raises(app.DatabaseUnavailable) as raised:
        db.create_order("acme", "bolt", 3, "app1")
    assert str(raised.value) == "server closed the connection unexpectedly"
    assert (pg.connections[0].commits, pg.connections[0].rollbacks, pg.connections[0].closed) == (0, 1, True)


def test_a_refused_connection_is_database_unavailable(monkeypatch):
    fake_pg(monkeypatch, refuse=("host=rw",))
    with pytest.raises(app.DatabaseUnavailable, match="Connection refused$"):
        app.Database("host=rw").ping()


@pytest.mark.parametrize("flags, replica_state, refuse, source", [
    ({}, FRESH, (), "primary"),                                   # flag off
    ({"reads_from_replica": True}, FRESH, (), "replica"),
    ({"reads_from_replica": True}, LAGGING, (), "primary"),
    ({"reads_from_replica": True, "max_replica_lag_seconds": 120}, LAGGING, (), "replica"),
    ({"reads_from_replica": True}, FRESH, ("host=ro",), "primary"),
])
def test_reads_go_to_the_replica_only_when_asked_and_fresh(monkeypatch, flags, replica_state, refuse, source):
    pg = fake_pg(monkeypatch, replica_state=replica_state, refuse=refuse)
    db = app.Database("host=rw", "host=ro")
    db.schema_ready = True
    order, used = db.get_order(7, {**app.FLAG_DEFAULTS, "max_replica_lag_seconds": 60, **flags})
    assert order["id"] == 7 and used == source
    reader = [conn for conn in pg.connections if any("FROM orders WHERE id" in sql for sql in conn.executed)]
    assert [conn.dsn for conn in reader] == ["host=" + ("ro" if source == "replica" else "rw")]
    assert all(conn.closed for conn in pg.connections)


def test_reads_without_a_read_dsn_stay_on_the_primary(monkeypatch):
    fake_pg(monkeypatch)
    db = app.Database("host=rw")
    db.schema_ready = True
    assert db.get_order(7, {**app.FLAG_DEFAULTS, "reads_from_replica": True})[1] == "primary"


def test_worker_claims_skip_sync_jobs_when_background_sync_is_off(monkeypatch):
    seen = []
    pg = FakePg(lambda dsn, sql, params: seen.append(params) or [(1, 7, "fulfil")])
    monkeypatch.setitem(sys.modules, "psycopg2", pg)
    db = app.Database("host=rw")
    db.schema_ready = True
    assert db.claim_jobs("w1", False) == [(1, 7, "fulfil")]
    assert seen == [{"instance": "w1", "sync": False, "limit": 20}]
    assert "FOR UPDATE SKIP LOCKED" in pg.connections[0].executed[0]


# --- Cache against a fake redis --------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def fake_cluster(monkeypatch, store, made):
    class RedisCluster:
        def __init__(self, startup_nodes, **options):
            made.append((startup_nodes, options))

        def get(self, key):
            if store.get("__broken__"):
                raise ConnectionError("Error 111 connecting to r1:6379. Connection refused.")
            return store.get(key)

        def set(self, key, value, ex=None):
            store[key] = (value, ex)

    module = types.ModuleType("redis.cluster")
    module.RedisCluster, module.ClusterNode = RedisCluster, lambda host, port: (host, port)
    monkeypatch.setitem(sys.modules, "redis.cluster", module)


def test_cache_client_gets_the_nodes_credentials_and_one_second_timeouts(monkeypatch):
    store, made = {}, []
    fake_cluster(monkeypatch, store, made)
    cache = app.Cache([("r1", 6379), ("r2", 6379)], "app", "pw")
    cache.set("fulexo:order:7", "{}")
    assert cache.get("fulexo:order:8") is None
    assert store["fulexo:order:7"] == ("{}", 300)
    (nodes, options), = made                      # one client, reused
    assert nodes == [("r1", 6379), ("r2", 6379)]
    assert options["username"] == "app" and options["password"] == "pw"
    assert options["socket_timeout"] == 1 and options["socket_connect_timeout"] == 1


def test_after_a_cache_error_the_cache_is_skipped_then_probed_by_one_request(monkeypatch):
    store, made, clock = {"__broken__": True}, [], Clock()
    fake_cluster(monkeypatch, store, made)
    cache = app.Cache([("r1", 6379)], clock=clock)
    with pytest.raises(app.CacheError, match="Connection refused"):
        cache.get("k")
    clock.now += 1
    with pytest.raises(app.CacheSkipped):
        cache.get("k")
    assert len(made) == 1                           # skipped: the cluster was not tried
    clock.now += app.CACHE_BACKOFF
    store["__broken__"] = False
    store["k"] = "v"
    assert cache.get("k") == "v"                    # the probe, on a fresh client
    assert len(made) == 2
    assert cache.get("k") == "v"                    # healthy again: no more skipping


def test_while_one_request_probes_the_others_skip(monkeypatch):
    store, made, clock = {"__broken__": True}, [], Clock()
    fake_cluster(monkeypatch, store, made)
    cache = app.Cache([("r1", 6379)], clock=clock)
    with pytest.raises(app.CacheError):
        cache.get("k")
    clock.now += app.CACHE_BACKOFF
    started, release = threading.Event(), threading.Event()
    slow = types.SimpleNamespace(get=lambda key: started.set() or release.wait(5) and "v")
    monkeypatch.setattr(cache, "_cluster", lambda: slow)
    prober = threading.Thread(target=cache.get, args=("k",))
    prober.start()
    assert started.wait(5)
    with pytest.raises(app.CacheSkipped):
        cache.get("k")
    release.set()
    prober.join(5)
    assert cache.get("k") == "v"


def test_cache_health_asks_the_first_node_that_answers(monkeypatch):
    answers = {"r1": OSError("Timeout connecting"), "r2": "CLUSTER_OK", "r3": None}

    class Redis:
        def __init__(self, host, port, **options):
            self.host = host

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def execute_command(self, *args):
            assert args == ("CLUSTER INFO",)
            answer = answers[self.host]
            if isinstance(answer, Exception):
                raise answer
            return {"cluster_state": "ok" if answer == "CLUSTER_OK" else "fail"}

    monkeypatch.setitem(sys.modules, "redis", types.SimpleNamespace(Redis=Redis))
    nodes = [("r1", 6379), ("r2", 6379), ("r3", 6379)]
    assert app.Cache(nodes).check() == {"node": "r2:6379"}
    answers["r2"] = None
    with pytest.raises(app.CacheError, match="r2:6379 says cluster_state fail"):
        app.Cache(nodes).check()
    answers.update(r2=OSError("refused"), r3=OSError("refused"))
    with pytest.raises(app.CacheError, match="r1:6379 Timeout connecting; r2:6379 refused; r3:6379 refused"):
        app.Cache(nodes).check()
    with pytest.raises(app.CacheError, match="is empty"):
        app.Cache([]).check()


# --- The HTTP API on the loopback, with a fake database and cache ------------------

class FakeDb:
    def __init__(self):
        self.orders, self.fail, self.source, self.blocked = {}, None, "primary", None

    def _check(self):
        if self.fail:
            raise app.DatabaseUnavailable(self.fail)

    def ping(self):
        self._check()

    def create_order(self, customer, item, quantity, instance):
        self._check()
        order = {"id": len(self.orders) + 1, "customer": customer, "item": item, "quantity": quantity,
                 "created_at": "2024-01-01T00:00:00+00:00", "created_by": instance}
        self.orders[order["id"]] = order
        return order

    def get_order(self, order_id, flags):
        if self.blocked:
            entered, release = self.blocked
            entered.set()
            release.wait(10)
        self._check()
        return self.orders.get(order_id), self.source

    def search_orders(self, customer, q, flags):
        self._check()
        found = [o for o in self.orders.values() if o["customer"] == customer and (q is None or q in o["item"])]
        return found, self.source

    def analytics(self, flags):
        self._check()
        return {"orders": len(self.orders), "jobs": app.summarise_jobs([])}, self.source

    def export_orders(self, flags):
        self._check()
        return list(self.orders.values()), self.source


class FakeCache:
    def __init__(self):
        self.store, self.broken, self.checked = {}, False, 0

    def get(self, key):
        if self.broken:
            raise app.CacheError("cluster down")
        return self.store.get(key)

    def set(self, key, value, ttl=app.CACHE_TTL):
        if self.broken:
            raise app.CacheError("cluster down")
        self.store[key] = value

    def check(self):
        self.checked += 1
        if self.broken:
            raise app.CacheError("r1:6379 says cluster_state fail")
        return {"node": "r1:6379"}


class Flags:
    def __init__(self, **overrides):
        self.flags = {**app.FLAG_DEFAULTS, **overrides}

    def current(self):
        return self.flags


class Api:
    def __init__(self):
        self.db, self.cache, self.flags = FakeDb(), FakeCache(), Flags()
        config = {"instance": "test-api", "secret": "s3cret"}
        self.app = app.App(config, self.flags, self.db, self.cache, clock=lambda: 1000)
        self.server = app.Server(("127.0.0.1", 0), self.app)
        self.port = self.server.server_address[1]

    def call(self, method, path, body=None, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        text = resp.read().decode()
        conn.close()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return resp.status, payload, resp


@pytest.fixture
def api():
    api = Api()
    thread = threading.Thread(target=api.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield api
    api.server.shutdown()
    api.server.server_close()


def test_placing_an_order_answers_201_and_caches_it(api, logged):
    status, order, resp = api.call("POST", "/orders", {"customer": "acme", "item": "bolt", "quantity": 2})
    assert status == 201 and order["id"] == 1 and order["created_by"] == "test-api"
    assert resp.getheader("Location") == "/orders/1" and resp.getheader("X-Instance") == "test-api"
    assert json.loads(api.cache.store["fulexo:order:1"]) == order
    # The line is written once the answer is sent: give the server thread a moment.
    deadline = time.monotonic() + 5
    while not any(entry.startswith("POST /orders 201 ") for entry in logged) and time.monotonic() < deadline:
        time.sleep(0.01)
    line = [entry for entry in logged if entry.startswith("POST /orders 201 ")]
    assert len(line) == 1 and line[0].endswith("ms test-api")


def test_a_broken_cache_does_not_fail_an_order(api, logged):
    api.cache.broken = True
    status, order, resp = api.call("POST", "/orders", {"customer": "acme", "item": "bolt", "quantity": 2})
    assert status == 201 and api.db.orders[1] == order
    assert any("cache: storing fulexo:order:1 failed: cluster down" in entry for entry in logged)


@pytest.mark.parametrize("raw, message", [
    (b'{"customer": "acme"', "invalid JSON"),
    (b'{"customer": "acme", "item": "bolt", "quantity": 0}', "quantity must be"),
    (b'', "the body must be a JSON object"),
])
def test_bad_orders_answer_400_with_the_reason(api, raw, message):
    status, body, resp = api.call("POST", "/orders", raw=raw)
    assert status == 400 and message in body["error"]
    assert api.db.orders == {}


def test_viewing_an_order_reads_through_the_cache(api):
    api.db.orders[1] = {"id": 1, "customer": "acme", "item": "bolt", "quantity": 2,
                        "created_at": "t", "created_by": "x"}
    status, order, resp = api.call("GET", "/orders/1")
    assert status == 200 and order["customer"] == "acme"
    assert resp.getheader("X-Cache") == "miss" and resp.getheader("X-Read-From") == "primary"
    api.db.orders[1]["customer"] = "changed in the database"
    status, order, resp = api.call("GET", "/orders/1")
    assert order["customer"] == "acme" and resp.getheader("X-Cache") == "hit"

    api.cache.broken = True
    api.db.source = "replica"
    status, order, resp = api.call("GET", "/orders/1")
    assert status == 200 and order["customer"] == "changed in the database"
    assert resp.getheader("X-Cache") == "error" and resp.getheader("X-Read-From") == "replica"

    api.flags.flags["cache"] = False
    status, body, resp = api.call("GET", "/orders/1")
    assert status == 200 and resp.getheader("X-Cache") == "disabled"


def test_cache_errors_are_logged_but_not_while_the_cache_is_skipped(api, logged, monkeypatch):
    api.db.orders[1] = {"id": 1}
    raised = [app.CacheError("Connection refused"), app.CacheSkipped("skipped for 1.0 s")]

    def get(key):
        raise raised.pop(0)
    monkeypatch.setattr(api.cache, "get", get)
    api.cache.broken = True                     # the set after a miss must not matter
    for attempt in range(2):
        assert api.call("GET", "/orders/1")[2].getheader("X-Cache") == "error"
    assert [entry for entry in logged if entry.startswith("cache:")] == [
        "cache: reading fulexo:order:1 failed: Connection refused"]


def test_garbage_in_the_cache_is_replaced_from_the_database(api):
    api.db.orders[1] = {"id": 1, "customer": "acme"}
    api.cache.store["fulexo:order:1"] = "{not json"
    status, order, resp = api.call("GET", "/orders/1")
    assert status == 200 and order["customer"] == "acme" and resp.getheader("X-Cache") == "miss"
    assert json.loads(api.cache.store["fulexo:order:1"]) == order


def test_a_missing_order_is_404_and_not_cached(api):
    status, body, resp = api.call("GET", "/orders/42")
    assert status == 404 and body["id"] == 42 and resp.getheader("X-Cache") == "miss"
    assert api.cache.store == {}
    assert api.call("GET", "/orders/%d" % 2 ** 63)[0] == 404


@pytest.mark.parametrize("flag, method, path, body", [
    ("order_viewing", "GET", "/orders/1", None),
    ("basic_search", "GET", "/orders?customer=acme", None),
    ("customer_login", "POST", "/login", {"customer": "acme"}),
    ("analytics", "GET", "/analytics", None),
    ("bulk_exports", "GET", "/exports/orders", None),
])
def test_a_feature_switched_off_answers_503_with_its_name(api, flag, method, path, body):
    assert api.call(method, path, body)[0] != 503
    api.flags.flags[flag] = False
    status, answer, resp = api.call(method, path, body)
    assert status == 503 and answer == {"error": "disabled in degraded mode", "feature": flag}


def test_placing_orders_and_health_have_no_flag(api):
    api.flags.flags.update({key: False for key, value in app.FLAG_DEFAULTS.items() if value is True})
    assert api.call("POST", "/orders", {"customer": "a", "item": "b", "quantity": 1})[0] == 201
    assert api.call("GET", "/health")[0] == 200


def test_database_errors_answer_503_without_details(api, logged):
    api.db.fail = "connection to server at \"10.0.0.5\", port 5000 failed"
    status, body, resp = api.call("POST", "/orders", {"customer": "acme", "item": "bolt", "quantity": 1})
    assert status == 503 and body == {"error": "database unavailable", "instance": "test-api"}
    assert any("database: POST /orders: connection to server" in entry for entry in logged)


def test_an_unexpected_error_is_500_without_a_traceback(api, monkeypatch):
    monkeypatch.setattr(api.db, "analytics", lambda flags: 1 / 0)
    status, body, resp = api.call("GET", "/analytics")
    assert status == 500 and body == {"error": "internal error", "instance": "test-api"}


def test_unknown_paths_and_methods_are_404(api):
    assert api.call("GET", "/nope")[0] == 404
    assert api.call("POST", "/health")[0] == 404
    assert api.call("GET", "/orders/abc")[0] == 404


def test_health_reports_each_check_and_fails_on_either(api):
    status, body, resp = api.call("GET", "/health")
    assert status == 200 and body["status"] == "ok" and body["instance"] == "test-api"
    assert body["checks"]["database"]["ok"] is True and body["checks"]["cache"]["node"] == "r1:6379"
    assert body["flags"] == app.FLAG_DEFAULTS

    api.cache.broken = True
    status, body, resp = api.call("GET", "/health")
    assert status == 503 and body["status"] == "fail" and "cluster_state fail" in body["checks"]["cache"]["error"]

    api.flags.flags["cache"] = False
    checked = api.cache.checked
    status, body, resp = api.call("GET", "/health")
    assert status == 200 and body["checks"]["cache"] == {"ok": True, "disabled": True}
    assert api.cache.checked == checked

    api.db.fail = "timeout expired"
    status, body, resp = api.call("GET", "/health")
    assert status == 503 and body["checks"]["database"]["error"] == "timeout expired"


def test_search_login_analytics_and_export(api):
    for item in ("bolt", "nut", "big bolt"):
        api.call("POST", "/orders", {"customer": "acme", "item": item, "quantity": 1})
    api.call("POST", "/orders", {"customer": "other", "item": "bolt", "quantity": 1})
    status, body, resp = api.call("GET", "/orders?customer=acme&q=bolt")
    assert status == 200 and [o["item"] for o in body["orders"]] == ["bolt", "big bolt"]
    assert resp.getheader("X-Read-From") == "primary"
    assert api.call("GET", "/orders?q=bolt")[0] == 400

    status, body, resp = api.call("POST", "/login", {"customer": "acme"})
    assert status == 200 and body == app.make_token("s3cret", "acme", 1000)
    assert api.call("POST", "/login", {"customer": ""})[0] == 400
    api.app.config["secret"] = ""
    assert api.call("POST", "/login", {"customer": "acme"})[0] == 503

    assert api.call("GET", "/analytics")[1]["orders"] == 4
    status, text, resp = api.call("GET", "/exports/orders")
    assert status == 200 and resp.getheader("Content-Type").startswith("text/csv")
    assert len(text.splitlines()) == 5


def test_sigterm_drain_lets_the_request_in_flight_finish_and_refuses_new_ones():
    api = Api()
    api.flags.flags["cache"] = False
    api.db.orders[1] = {"id": 1, "customer": "acme"}
    entered, release = threading.Event(), threading.Event()
    api.db.blocked = (entered, release)
    stop = app.Stop()
    serving = threading.Thread(target=app.serve, args=(api.server, stop))
    serving.start()
    answers = []
    client = threading.Thread(target=lambda: answers.append(api.call("GET", "/orders/1")[:2]))
    client.start()
    assert entered.wait(5)
    stop.set()
    deadline = time.monotonic() + 5
    refused = False
    while not refused and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", api.port), timeout=1).close()
            time.sleep(0.05)
        except ConnectionRefusedError:
            refused = True
    assert refused, "the listening socket stayed open"
    assert serving.is_alive()                       # still waiting for the request in flight
    release.set()
    client.join(5)
    serving.join(5)
    assert answers == [(200, {"id": 1, "customer": "acme"})] and not serving.is_alive()


def test_drain_answers_connections_already_queued_in_the_backlog():
    api = Api()                                     # listening, accept loop never started
    answers = []
    client = threading.Thread(target=lambda: answers.append(
        api.call("POST", "/orders", {"customer": "acme", "item": "bolt", "quantity": 1})[0]))
    client.start()
    assert select.select([api.server.socket], [], [], 5)[0]
    time.sleep(0.1)                                 # the request itself on its way too
    assert api.server.drain(5) is True
    client.join(5)
    assert answers == [201] and 1 in api.db.orders


# --- Worker and entry point ----------------------------------------------------------

def test_worker_backs_off_on_database_errors_and_polls_when_idle():
    outcomes = [app.DatabaseUnavailable("down"), app.DatabaseUnavailable("down"),
                [(i, i, "fulfil") for i in range(20)], [(21, 21, "sync")], []]
    calls, waits = [], []
    stop = app.Stop()
    flags = Flags(background_sync=False)

    class Db:
        def claim_jobs(self, instance, include_sync):
            calls.append((instance, include_sync))
            outcome = outcomes.pop(0)
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

    def wait(seconds):
        waits.append(seconds)
        if not outcomes:
            stop.set()

    app.run_worker(Db(), flags, "w1", stop, wait=wait)
    assert calls == [("w1", False)] * 5
    # Back-off 0.5 then 1 s; a full batch goes straight on; a short or empty one waits 0.5 s.
    assert waits == [0.5, 1.0, 0.5, 0.5]


def test_worker_stops_before_claiming_when_asked():
    stop = app.Stop()
    stop.set()

    class Db:
        def claim_jobs(self, *args):
            raise AssertionError("claimed after stop")

    app.run_worker(Db(), Flags(), "w1", stop, wait=lambda s: None)


def test_stop_wait_returns_early_once_set():
    stop = app.Stop()
    threading.Timer(0.1, stop.set).start()
    started = time.monotonic()
    assert stop.wait(5) is True and time.monotonic() - started < 2
    assert app.Stop().wait(0.05) is False


def test_command_line_needs_a_known_role(capsys):
    assert app.main(["fulexo_lab_app.py"]) == 2
    assert app.main(["fulexo_lab_app.py", "serve"]) == 2
    assert "api|worker|migrate" in capsys.readouterr().err
    assert app.main(["fulexo_lab_app.py", "api"], env={"FULEXO_APP_LISTEN": "nohost:port"}) == 2


def test_migrate_exits_1_when_the_database_is_down_and_0_when_it_is_up(monkeypatch, logged):
    fake_pg(monkeypatch, refuse=("host=down password=hunter2",))
    assert app.main(["x", "migrate"], env={"FULEXO_APP_DB_DSN": "host=down password=hunter2"}) == 1
    assert app.main(["x", "migrate"], env={"FULEXO_APP_DB_DSN": "host=up password=hunter2"}) == 0
    assert not any("hunter2" in entry for entry in logged)
    assert any("password=***" in entry for entry in logged)
