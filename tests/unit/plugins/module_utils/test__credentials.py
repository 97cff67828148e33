"""Telling a refused credential from a service that could not be asked."""

import base64
import hashlib
import hmac

import pytest

from ansible_collections.fulexo.dr.plugins.module_utils import _credentials as c


def verifier(password, salt=b"0123456789abcdef", iterations=4096):
    """A pg_authid SCRAM-SHA-256 verifier, built as PostgreSQL builds it."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return "SCRAM-SHA-256$%d:%s$%s:%s" % (
        iterations, base64.b64encode(salt).decode(), base64.b64encode(hashlib.sha256(client_key).digest()).decode(),
        base64.b64encode(server_key).decode())


def test_scram_verifier_accepts_its_password_only():
    stored = verifier("new-secret")
    assert c.scram_verifier_matches("new-secret", stored) is True
    assert c.scram_verifier_matches("old-secret", stored) is False


@pytest.mark.parametrize("stored", ["", None, "md5c4ca4238a0b923820dcc509a6f75849b", "SCRAM-SHA-256$x$y"])
def test_what_is_not_a_scram_verifier_cannot_be_judged(stored):
    assert c.scram_verifier_matches("anything", stored) is None


@pytest.mark.parametrize("rc,stderr,outcome", [
    (0, "", c.ACCEPTED),
    (2, 'psql: error: connection to server at "10.0.0.5", port 5000 failed: FATAL:  password authentication '
        'failed for user "fulexo"', c.REFUSED),
    (2, 'psql: error: FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "postgres"', c.ERROR),
    (2, 'psql: error: connection to server at "10.0.0.5", port 5000 failed: Connection refused', c.ERROR),
])
def test_postgres_login(rc, stderr, outcome):
    assert c.classify_postgres_login(rc, stderr) == outcome


@pytest.mark.parametrize("reply,outcome", [
    ("+OK\r\n", c.ACCEPTED),
    ("-WRONGPASS invalid username-password pair or user is disabled.\r\n", c.REFUSED),
    ("-ERR invalid password\r\n", c.REFUSED),
    ("-ERR AUTH <password> called without any password configured for the default user.\r\n", c.ERROR),
    ("", c.ERROR),
])
def test_redis_auth_reply(reply, outcome):
    assert c.classify_redis_reply(reply) == outcome


def test_redis_command_is_resp():
    assert c.redis_command("AUTH", "app", "pässword") == b"*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$9\r\np\xc3\xa4ssword\r\n"


@pytest.mark.parametrize("status,outcome", [(200, c.ACCEPTED), (302, c.ACCEPTED), (401, c.REFUSED),
                                            (403, c.REFUSED), (404, c.ERROR), (503, c.ERROR)])
def test_http_status(status, outcome):
    assert c.classify_http_status(status) == outcome


@pytest.mark.parametrize("rc,output,outcome", [
    (0, '{"status":"success","key":"fulexo-backups/"}', c.ACCEPTED),
    (1, '{"status":"error","error":{"message":"Unable to list folder.","cause":{"error":{"Code":"InvalidAccessKeyId",'
        '"Message":"The Access Key Id you provided does not exist in our records."}}}}', c.REFUSED),
    (1, '{"status":"error","error":{"cause":{"error":{"Code":"SignatureDoesNotMatch"}}}}', c.REFUSED),
    # Known identity, no right to list the buckets: the secret was accepted.
    (1, '{"status":"error","error":{"message":"Unable to list folder.","cause":{"error":{"Code":"AccessDenied",'
        '"Message":"Access Denied."}}}}', c.ACCEPTED),
    (1, '{"status":"error","error":{"message":"Unable to list folder.","cause":{"message":"dial tcp 10.0.0.7:9000: '
        'connect: connection refused"}}}', c.ERROR),
])
def test_mc_output(rc, output, outcome):
    assert c.classify_mc_output(rc, output) == outcome


@pytest.mark.parametrize("rc,output,outcome", [
    (0, "", c.ACCEPTED),
    (2, "; TSIG error with server: tsig verify failure\nupdate failed: NOTAUTH(BADSIG)", c.REFUSED),
    (2, "update failed: NOTAUTH", c.ERROR),
    (1, "; Communication with 10.0.0.3#53 failed: timed out", c.ERROR),
])
def test_nsupdate(rc, output, outcome):
    assert c.classify_nsupdate(rc, output) == outcome


def test_nsupdate_script_changes_nothing():
    script = c.nsupdate_script("10.0.0.3", 53, "fulexo.lab")
    assert script.splitlines() == ["server 10.0.0.3 53", "zone fulexo.lab", "prereq yxdomain fulexo.lab.", "send"]
    assert "update" not in script
