#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: credential_check
short_description: Tell whether a service accepts a credential, without changing anything
version_added: 0.1.0
description:
  - Asks one service whether it accepts one credential and answers
    C(accepted), C(refused) or C(error) (the service could not be asked, or
    its answer says nothing about the credential). After a rotation this is
    how a playbook shows that the old secret is refused and the new one
    works, without taking a server that is down for a refusal.
  - O(kind=postgres_verifier) reads the role's SCRAM-SHA-256 verifier from
    C(pg_authid) over the local socket and checks the password against it,
    as the server would at login. It works for roles that may only log in
    by replication or not over the network at all (the superuser).
  - O(kind=postgres_login) logs in with C(psql) over the network.
  - O(kind=redis) sends C(AUTH) (with O(user), an ACL user).
  - O(kind=http) makes one request with HTTP basic authentication, for
    example to Patroni's REST API (C(POST /reload), which only re-reads the
    member's configuration file) or HAProxy's statistics page. 401 and 403
    mean refused.
  - O(kind=s3) lists with C(mc) (MinIO). An unknown key or a wrong secret is
    refused; C(AccessDenied) means the identity was accepted but may not list.
  - O(kind=dns_update) sends an RFC 2136 update signed with the TSIG key
    that has only a prerequisite (the zone exists) and no change.
  - O(kind=tls_client) connects with a client certificate (for example an
    etcd member's, on its client or peer port) and sends one HTTP request.
    The server's own certificate must check out against O(ca_cert). An alert
    about the client's certificate (unknown CA, bad certificate) means
    refused; any HTTP answer means accepted. O(password) is not used.
author: Fulexo SRE (@fulexo-sre)
extends_documentation_fragment:
  - fulexo.dr.attributes.read_only
options:
  kind:
    description: What to ask.
    type: str
    required: true
    choices: [postgres_verifier, postgres_login, redis, http, s3, dns_update, tls_client]
  user:
    description:
      - The role (postgres kinds), ACL user (redis; empty for the default
        user), basic-auth user (http) or access key (s3).
    type: str
    default: ""
  password:
    description:
      - The secret to check (password, secret key, TSIG secret).
      - Required for every kind but O(kind=tls_client).
    type: str
  host:
    description: Address of the server (postgres_login, redis, dns_update, tls_client).
    type: str
    default: 127.0.0.1
  port:
    description: Its port; the service's usual one when not given.
    type: int
  database:
    description: Database to log in to (postgres_login).
    type: str
    default: postgres
  login_user:
    description: Role that reads C(pg_authid) over the socket (postgres_verifier).
    type: str
    default: postgres
  login_unix_socket:
    description: Socket directory (postgres_verifier).
    type: path
    default: /var/run/postgresql
  psql_path:
    description: The psql binary.
    type: path
    default: psql
  url:
    description: The URL to request (http), or the endpoint (s3, for example C(http://127.0.0.1:9000)).
    type: str
  method:
    description: HTTP method (http).
    type: str
    default: GET
  body:
    description: Request body (http).
    type: str
  bucket:
    description: Bucket (and prefix) to list (s3); the bucket list when empty.
    type: str
    default: ""
  mc_path:
    description: The MinIO client binary (s3).
    type: path
    default: mc
  zone:
    description: Zone to send the update to (dns_update).
    type: str
  key_name:
    description: TSIG key name (dns_update).
    type: str
  key_algorithm:
    description: TSIG algorithm (dns_update).
    type: str
    default: hmac-sha256
  nsupdate_path:
    description: The nsupdate binary (dns_update).
    type: path
    default: nsupdate
  client_cert:
    description: PEM file of the client certificate to check (tls_client).
    type: path
  client_key:
    description: PEM file of its private key (tls_client).
    type: path
  ca_cert:
    description: PEM file of the CA(s) the server's certificate must check out against (tls_client).
    type: path
  timeout:
    description: Seconds to wait for the service.
    type: int
    default: 5
  expect:
    description:
      - Fail unless the outcome is this one. C(any) reports every outcome
        without failing.
    type: str
    default: any
    choices: [accepted, refused, any]
notes:
  - The secret is never returned, and it is passed to tools through their
    environment or a private temporary file, never on a command line.
"""

EXAMPLES = r"""
- name: A member certificate from the replaced etcd CA is refused
  fulexo.dr.credential_check:
    kind: tls_client
    host: 10.0.0.11
    port: 2379
    ca_cert: /etc/etcd/pki/ca.crt
    client_cert: /etc/etcd/pki/retired/member.crt
    client_key: /etc/etcd/pki/retired/member.key
    expect: refused

- name: The old application password is refused
  fulexo.dr.credential_check:
    kind: postgres_verifier
    user: fulexo
    password: "{{ old_app_password }}"
    expect: refused
  no_log: true

- name: The new Patroni REST API password works
  fulexo.dr.credential_check:
    kind: http
    url: http://10.0.0.11:8008/reload
    method: POST
    user: patroni
    password: "{{ patroni_restapi_password }}"
    expect: accepted
  no_log: true
"""

RETURN = r"""
outcome:
  description: C(accepted), C(refused) or C(error).
  returned: always
  type: str
  sample: refused
detail:
  description: What the service said (never the secret).
  returned: always
  type: str
  sample: "psql: FATAL: password authentication failed for user \"fulexo\""
"""

import os
import shutil
import socket
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import quote
from ansible.module_utils.urls import open_url

from ansible_collections.fulexo.dr.plugins.module_utils._credentials import (
    ACCEPTED,
    ERROR,
    REFUSED,
    classify_http_status,
    classify_mc_output,
    classify_nsupdate,
    classify_postgres_login,
    classify_redis_reply,
    nsupdate_script,
    redis_command,
    scram_verifier_matches,
    tls_client_outcome,
)

_DEFAULT_PORTS = {"postgres_login": 5432, "redis": 6379, "dns_update": 53, "tls_client": 2379}


def check_postgres_verifier(module, params):
    rc, out, err = module.run_command(
        [params["psql_path"], "-XAtq", "-h", params["login_unix_socket"], "-U", params["login_user"],
         "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-v", "role=" + params["user"]],
        data="SELECT coalesce(rolpassword, '') FROM pg_authid WHERE rolname = :'role';")
    if rc != 0:
        return ERROR, "could not read the verifier: %s" % (err.strip().splitlines() or ["exit %d" % rc])[-1]
    verifier = out.strip()
    if not verifier:
        return ERROR, "role %s has no password or does not exist" % params["user"]
    matches = scram_verifier_matches(params["password"], verifier)
    if matches is None:
        return ERROR, "role %s's password is not stored as SCRAM-SHA-256; cannot be checked" % params["user"]
    return (ACCEPTED, "matches the stored verifier") if matches else (REFUSED, "does not match the stored verifier")


def check_postgres_login(module, params):
    conninfo = "host=%s port=%d dbname=%s user=%s connect_timeout=%d sslmode=prefer" % (
        params["host"], params["port"], params["database"], params["user"], params["timeout"])
    rc, out, err = module.run_command([params["psql_path"], "-XAtq", conninfo, "-c", "SELECT 1"],
                                      environ_update={"PGPASSWORD": params["password"]})
    return classify_postgres_login(rc, err), (err.strip().splitlines() or ["logged in"])[-1]


def check_redis(module, params):
    args = ["AUTH"] + ([params["user"]] if params["user"] else []) + [params["password"]]
    try:
        with socket.create_connection((params["host"], params["port"]), timeout=params["timeout"]) as conn:
            conn.sendall(redis_command(*args))
            reply = conn.makefile("rb").readline().decode("utf-8", "replace")
    except (OSError, socket.timeout) as exc:
        return ERROR, "could not reach %s:%d: %s" % (params["host"], params["port"], exc)
    return classify_redis_reply(reply), reply.strip()


def check_http(module, params):
    try:
        response = open_url(params["url"], method=params["method"], data=params["body"],
                            headers={"Content-Type": "application/json"} if params["body"] else None,
                            url_username=params["user"], url_password=params["password"], force_basic_auth=True,
                            timeout=params["timeout"], validate_certs=False)
        status = response.getcode()
    except HTTPError as exc:
        status = exc.code
    except (URLError, OSError) as exc:
        return ERROR, "could not reach %s: %s" % (params["url"], exc)
    return classify_http_status(status), "HTTP %d" % status


def check_s3(module, params):
    scheme, rest = params["url"].split("://", 1)
    config_dir = tempfile.mkdtemp(prefix="fulexo-credential-check-")
    try:
        rc, out, err = module.run_command(
            [params["mc_path"], "ls", "--json", "probe/" + params["bucket"]],
            environ_update={"MC_CONFIG_DIR": config_dir,
                            "MC_HOST_probe": "%s://%s:%s@%s" % (scheme, quote(params["user"], safe=""),
                                                                quote(params["password"], safe=""), rest)})
    finally:
        shutil.rmtree(config_dir, ignore_errors=True)
    output = out + "\n" + err
    outcome = classify_mc_output(rc, output)
    detail = "listed" if rc == 0 else (output.strip().splitlines() or ["exit %d" % rc])[-1]
    return outcome, detail.replace(params["password"], "********")


def check_dns_update(module, params):
    handle, key_file = tempfile.mkstemp(prefix="fulexo-credential-check-", suffix=".key")
    try:
        with os.fdopen(handle, "w") as key:
            key.write('key "%s" {\n    algorithm %s;\n    secret "%s";\n};\n'
                      % (params["key_name"], params["key_algorithm"], params["password"]))
        rc, out, err = module.run_command(
            [params["nsupdate_path"], "-k", key_file, "-t", str(params["timeout"])],
            data=nsupdate_script(params["host"], params["port"], params["zone"]))
    finally:
        os.unlink(key_file)
    output = (out + "\n" + err).strip()
    return classify_nsupdate(rc, output), (output.splitlines() or ["update accepted"])[-1]


def check_tls_client(module, params):
    return tls_client_outcome(params["host"], params["port"], params["ca_cert"], params["client_cert"],
                              params["client_key"], params["timeout"])


CHECKS = {
    "postgres_verifier": check_postgres_verifier,
    "postgres_login": check_postgres_login,
    "redis": check_redis,
    "http": check_http,
    "s3": check_s3,
    "dns_update": check_dns_update,
    "tls_client": check_tls_client,
}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            kind=dict(type="str", required=True, choices=sorted(CHECKS)),
            user=dict(type="str", default=""),
            password=dict(type="str", no_log=True),
            host=dict(type="str", default="127.0.0.1"),
            port=dict(type="int"),
            database=dict(type="str", default="postgres"),
            login_user=dict(type="str", default="postgres"),
            login_unix_socket=dict(type="path", default="/var/run/postgresql"),
            psql_path=dict(type="path", default="psql"),
            url=dict(type="str"),
            method=dict(type="str", default="GET"),
            body=dict(type="str"),
            bucket=dict(type="str", default=""),
            mc_path=dict(type="path", default="mc"),
            zone=dict(type="str"),
            key_name=dict(type="str", no_log=False),
            key_algorithm=dict(type="str", default="hmac-sha256"),
            nsupdate_path=dict(type="path", default="nsupdate"),
            client_cert=dict(type="path"),
            client_key=dict(type="path", no_log=False),
            ca_cert=dict(type="path"),
            timeout=dict(type="int", default=5),
            expect=dict(type="str", default="any", choices=["accepted", "refused", "any"]),
        ),
        required_if=[
            ("kind", "http", ["url"]),
            ("kind", "s3", ["url"]),
            ("kind", "dns_update", ["zone", "key_name"]),
            ("kind", "postgres_verifier", ["user", "password"]),
            ("kind", "postgres_login", ["user", "password"]),
            ("kind", "redis", ["password"]),
            ("kind", "http", ["password"]),
            ("kind", "s3", ["password"]),
            ("kind", "dns_update", ["password"]),
            ("kind", "tls_client", ["client_cert", "client_key", "ca_cert"]),
        ],
        supports_check_mode=True,
    )
    params = dict(module.params)
    if params["port"] is None:
        params["port"] = _DEFAULT_PORTS.get(params["kind"], 0)
    outcome, detail = CHECKS[params["kind"]](module, params)
    result = dict(changed=False, outcome=outcome, detail=detail)
    expect = params["expect"]
    if expect != "any" and outcome != expect:
        subject = params["client_cert"] if params["kind"] == "tls_client" else params["user"] or "the default user"
        what = "%s credential for %s" % (params["kind"], subject)
        if outcome == ERROR:
            module.fail_json(msg="could not tell whether the %s is %s: %s" % (what, expect, detail), **result)
        module.fail_json(msg="the %s was %s, expected %s: %s" % (what, outcome, expect, detail), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
