# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # How fulexo.dr modules reach MinIO sites through mc.
    DOCUMENTATION = r"""
options:
  mc_path:
    description: The mc (MinIO client) binary on the host the module runs on.
    type: path
    default: mc
  ca_cert:
    description: PEM file of a CA to trust for HTTPS endpoints, in addition to the system's.
    type: path
  insecure:
    description: Do not verify TLS certificates (lab only).
    type: bool
    default: false
requirements:
  - mc (MinIO client) on the host the module runs on
notes:
  - Credentials reach mc through C(MC_HOST_<alias>) environment variables and a
    throw-away mc configuration directory; nothing is written to the mc
    configuration of the user.
"""
