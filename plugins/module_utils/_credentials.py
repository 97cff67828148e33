# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a service accepts a credential, told apart from a service that
could not be asked: after a rotation, "the old password is refused" must
not be concluded from a server that is down."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import hmac
import json
import socket
import ssl

ACCEPTED = "accepted"
REFUSED = "refused"
ERROR = "error"


def scram_verifier_matches(password, verifier):
    """True when PostgreSQL would accept password against a stored
    SCRAM-SHA-256 verifier (pg_authid.rolpassword), as in RFC 5802 / 7677:
    SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>.
    Returns None for anything that is not such a verifier (an MD5 hash, no
    password at all), since that cannot be judged here."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return None
    try:
        iterations_salt, keys = verifier.split("$")[1:]
        iterations, salt = iterations_salt.split(":")
        stored_key = base64.b64decode(keys.split(":")[0])
        salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), base64.b64decode(salt), int(iterations))
    except (ValueError, TypeError):
        return None
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key)


def classify_postgres_login(rc, stderr):
    """psql's exit and message for a login attempt."""
    if rc == 0:
        return ACCEPTED
    text = (stderr or "").lower()
    if "password authentication failed" in text or "authentication failed for user" in text:
        return REFUSED
    # "no pg_hba.conf entry" says nothing about the password.
    return ERROR


def redis_command(*parts):
    """One command in RESP, the protocol redis-cli speaks."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part.encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def classify_redis_reply(reply):
    """The first reply line to AUTH."""
    line = (reply or "").strip()
    if line == "+OK":
        return ACCEPTED
    if line.startswith("-WRONGPASS") or line.startswith("-ERR invalid password") \
            or line.startswith("-ERR invalid username-password pair"):
        return REFUSED
    return ERROR


def classify_http_status(status):
    """The status of a request made with HTTP basic authentication."""
    if status in (401, 403):
        return REFUSED
    if 200 <= status < 400:
        return ACCEPTED
    return ERROR


# MinIO's codes for a key it does not know or a secret that does not match.
# AccessDenied is not among them: it answers a known identity that may not do
# what was asked, so the credential itself was accepted.
_S3_REFUSALS = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "The Access Key Id you provided does not exist",
                "The request signature we calculated does not match")


def classify_mc_output(rc, output):
    """`mc ls --json` run with the credential in MC_HOST_<alias>."""
    if rc == 0:
        return ACCEPTED
    text = output or ""
    if any(code in text for code in _S3_REFUSALS):
        return REFUSED
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if "AccessDenied" in json.dumps(entry) or "Access Denied" in json.dumps(entry):
            return ACCEPTED
    return ERROR


def classify_nsupdate(rc, output):
    """nsupdate's exit and output for an update signed with the key."""
    text = (output or "").upper()
    # NOTAUTH alone would also answer a zone the server does not serve.
    if any(sign in text for sign in ("BADSIG", "BADKEY", "TSIG ERROR", "TSIG VERIFY FAILURE")):
        return REFUSED
    if rc == 0:
        return ACCEPTED
    return ERROR


def nsupdate_script(server, port, zone):
    """An update that changes nothing: a prerequisite that the zone's apex
    exists, and no update section. The server checks the signature first."""
    return "server %s %d\nzone %s\nprereq yxdomain %s\nsend\n" % (server, port, zone, zone.rstrip(".") + ".")


# OpenSSL's names for the alerts a TLS server sends when it will not take
# the client's certificate (unknown CA, bad or missing certificate, ...).
_CERTIFICATE_REFUSED_ALERTS = (
    "alert unknown ca", "alert bad certificate", "alert certificate required", "alert certificate unknown",
    "alert unsupported certificate", "alert certificate expired", "alert certificate revoked",
    "alert access denied",
)


def classify_tls_alert(message):
    """An SSL error's text: refused when the server sent an alert about the
    client's certificate, otherwise the server could not be asked."""
    text = (message or "").lower()
    return REFUSED if any(alert in text for alert in _CERTIFICATE_REFUSED_ALERTS) else ERROR


def tls_client_outcome(host, port, ca_cert, client_cert, client_key, timeout, path="/version"):
    """Connects with a client certificate, the server's own certificate
    checked against ca_cert, and sends one HTTP request: any HTTP answer
    means the certificate was taken. A server that refuses it says so with
    an alert during the handshake. TLS 1.2 at most: with TLS 1.3 the server
    judges the client's certificate after the client has finished and sent
    its request, and closing on that unread request can turn the alert into
    a bare reset, which says nothing."""
    context = ssl.create_default_context(cafile=ca_cert)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(client_cert, client_key)
    except (OSError, ssl.SSLError) as exc:
        return ERROR, "could not load the client certificate %s: %s" % (client_cert, exc)
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            with context.wrap_socket(raw, server_hostname=host) as conn:
                conn.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode())
                first = conn.recv(64)
    except ssl.SSLCertVerificationError as exc:
        return ERROR, "the server's certificate did not verify against %s: %s" % (ca_cert, exc.verify_message)
    except ssl.SSLError as exc:
        return classify_tls_alert(str(exc)), str(exc)
    except (OSError, socket.timeout) as exc:
        return ERROR, "could not reach %s:%d: %s" % (host, port, exc)
    if first.startswith(b"HTTP/"):
        return ACCEPTED, first.split(b"\r\n", 1)[0].decode("ascii", "replace")
    return ERROR, "the connection closed without an answer or an alert"
