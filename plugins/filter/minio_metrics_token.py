# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: minio_metrics_token
short_description: The bearer token Prometheus presents to MinIO's metrics endpoints
version_added: 0.1.0
description:
  - Signs, with the user's secret key, the JWT that C(mc admin prometheus
    generate) would give for that user (HS512, the access key in C(sub)).
  - The expiry is fixed rather than taken from the clock, so the same
    credentials always give the same token; rotating the secret rotates the
    token.
  - Give it a user whose only policy allows C(admin:Prometheus) (the
    P(fulexo.dr.minio#role) role's C(minio_metrics_user)), never root.
positional: secret_key, expires_at
options:
  _input:
    description: The MinIO user's access key.
    type: str
    required: true
  secret_key:
    description: That user's secret key.
    type: str
    required: true
  expires_at:
    description: When the token stops being accepted, as Unix time.
    type: int
    default: 4102444800
"""

EXAMPLES = r"""
- name: Keep the token where Prometheus reads it
  ansible.builtin.copy:
    content: "{{ 'prometheus-reader' | fulexo.dr.minio_metrics_token(vault_minio_metrics_password) }}"
    dest: /etc/prometheus/minio-metrics.token
    mode: "0640"
  no_log: true
"""

RETURN = r"""
_value:
  description: The token (three base64url parts joined by dots).
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.fulexo.dr.plugins.module_utils._minio import metrics_token


def minio_metrics_token(access_key, secret_key, expires_at=4102444800):
    try:
        return metrics_token(access_key, secret_key, expires_at)
    except ValueError as exc:
        raise AnsibleFilterError("minio_metrics_token: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"minio_metrics_token": minio_metrics_token}
