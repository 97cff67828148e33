"""A client certificate from a CA the server no longer trusts is refused;
one from the CA it trusts is accepted; a server that cannot be asked, or
whose own certificate does not check out, is neither."""

import datetime
import ipaddress
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ansible_collections.fulexo.dr.plugins.module_utils import _credentials as c


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(subject, key, issuer, issuer_key, ca=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                        critical=False)
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                               ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, cert=None, key=None):
    data = b""
    if cert is not None:
        data += cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        data += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    path.write_bytes(data)
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """An old and a new CA, each with a member certificate."""
    d = tmp_path_factory.mktemp("pki")
    files = {}
    cas = {}
    for era in ("old", "new"):
        key = ec.generate_private_key(ec.SECP256R1())
        cas[era] = (key, _cert("%s CA" % era, key, "%s CA" % era, key, ca=True))
        files[era + "_ca"] = _write(d / ("%s-ca.crt" % era), cas[era][1])
        member_key = ec.generate_private_key(ec.SECP256R1())
        member = _cert("member", member_key, "%s CA" % era, cas[era][0])
        files[era + "_cert"] = _write(d / ("%s-member.crt" % era), member)
        files[era + "_key"] = _write(d / ("%s-member.key" % era), key=member_key)
    return files


@pytest.fixture
def server(pki):
    """An HTTPS server that asks for a client certificate from the new CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["new_cert"], pki["new_key"])
    context.load_verify_locations(pki["new_ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                raw, _addr = listener.accept()
            except socket.timeout:
                continue
            try:
                with context.wrap_socket(raw, server_side=True) as conn:
                    conn.recv(1024)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


def test_a_certificate_from_the_trusted_ca_is_accepted(pki, server):
    outcome, detail = c.tls_client_outcome("127.0.0.1", server, pki["new_ca"], pki["new_cert"], pki["new_key"], 5)
    assert (outcome, detail) == (c.ACCEPTED, "HTTP/1.1 200 OK")


def test_a_certificate_from_the_replaced_ca_is_refused(pki, server):
    outcome, detail = c.tls_client_outcome("127.0.0.1", server, pki["new_ca"], pki["old_cert"], pki["old_key"], 5)
    assert outcome == c.REFUSED, detail


def test_a_server_whose_certificate_does_not_verify_is_not_asked(pki, server):
    outcome, detail = c.tls_client_outcome("127.0.0.1", server, pki["old_ca"], pki["new_cert"], pki["new_key"], 5)
    assert outcome == c.ERROR and "did not verify" in detail


def test_a_server_that_does_not_answer_is_not_a_refusal(pki):
    # Port 9 (discard) on loopback: nothing listens there.
    outcome, _detail = c.tls_client_outcome("127.0.0.1", 9, pki["new_ca"], pki["new_cert"], pki["new_key"], 2)
    assert outcome == c.ERROR


def test_a_missing_client_key_is_not_a_refusal(pki, server, tmp_path):
    outcome, detail = c.tls_client_outcome("127.0.0.1", server, pki["new_ca"], pki["new_cert"], str(tmp_path / "none"), 5)
    assert outcome == c.ERROR and "could not load" in detail


@pytest.mark.parametrize("message,outcome", [
    ("[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca (_ssl.c:2580)", c.REFUSED),
    ("[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate (_ssl.c:2580)", c.REFUSED),
    ("[SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required (_ssl.c:2580)", c.REFUSED),
    ("[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)", c.ERROR),
    ("", c.ERROR),
])
def test_only_alerts_about_the_client_certificate_are_refusals(message, outcome):
    assert c.classify_tls_alert(message) == outcome
