# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Connection options of the modules that connect to PostgreSQL through
    module_utils/_pg_connect.py (its CONNECTION_SPEC)."""

    CONNECTION = r"""
options:
  login_user:
    description: Role to connect as.
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user); not needed over the Unix socket with peer authentication.
    type: str
  login_unix_socket:
    description: Directory of the server's Unix socket.
    type: path
    default: /var/run/postgresql
  login_host:
    description: Host name or address to connect to over TCP instead of the Unix socket.
    type: str
  port:
    description: Server port (also the number in the socket file name).
    type: int
    default: 5432
    aliases: [login_port]
  connect_timeout:
    description: Seconds to wait for the connection.
    type: int
    default: 10
requirements:
  - psycopg2 (Debian package python3-psycopg2) or psycopg 3 on the PostgreSQL host
"""
