# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # Connection to the Patroni REST API, shared by the patroni_* modules.
    DOCUMENTATION = r"""
options:
  urls:
    description:
      - Base URLs of Patroni REST APIs (C(scheme://host:port)), tried in order
        until one answers. Give every member so that a dead one is skipped.
    type: list
    elements: str
    default: ["http://127.0.0.1:8008"]
  username:
    description:
      - REST API user (C(restapi.authentication)); needed for unsafe
        endpoints such as switchover, failover, restart and config changes.
    type: str
  password:
    description: Password of O(username).
    type: str
  ca_cert:
    description: CA certificate that verifies the REST API's TLS certificate.
    type: path
  client_cert:
    description: Client certificate, when the REST API requires one.
    type: path
  client_key:
    description: Key of O(client_cert).
    type: path
  validate_certs:
    description: Verify the REST API's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for each HTTP request.
    type: int
    default: 5
"""
