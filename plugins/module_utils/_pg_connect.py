# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A PostgreSQL connection for the collection's modules, through psycopg2
(Debian's python3-psycopg2, what the hosts have) or psycopg 3.

Private to the fulexo.dr collection. The connection is in autocommit mode;
a module opens its transactions with explicit BEGIN statements, which both
drivers then pass through unchanged.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.fulexo.dr.plugins.module_utils import _pg_integrity as pgi

DRIVER_IMPORT_ERROR = None
try:
    import psycopg2 as driver
except ImportError:
    try:
        import psycopg as driver
    except ImportError:
        driver = None
        DRIVER_IMPORT_ERROR = traceback.format_exc()

# The options every module that connects takes (argument_spec entries).
CONNECTION_SPEC = dict(
    login_user=dict(type="str", default="postgres"),
    login_password=dict(type="str", no_log=True),
    login_unix_socket=dict(type="path", default="/var/run/postgresql"),
    login_host=dict(type="str"),
    port=dict(type="int", default=5432, aliases=["login_port"]),
    connect_timeout=dict(type="int", default=10),
)


class PgConnectError(Exception):
    pass


def driver_error(exc):
    """A driver's error on one line."""
    return " ".join(str(exc).split()) or exc.__class__.__name__


def sqlstate(exc):
    """The SQLSTATE of a driver error (psycopg2: pgcode, psycopg 3: sqlstate), or None."""
    return getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)


class Session(object):
    """One autocommit connection."""

    def __init__(self, conn):
        self.conn = conn

    def query(self, sql, params=None):
        """Rows of a statement ([] for one that returns none)."""
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()

    def execute(self, sql, params=None):
        """A statement's row count (rows inserted, for an INSERT)."""
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.rowcount
        finally:
            cursor.close()

    def close(self):
        try:
            self.conn.close()
        except Exception:  # pylint: disable=broad-except
            pass


def connect(params, dbname, application_name):
    """A Session to dbname with the CONNECTION_SPEC options in params."""
    if driver is None:
        raise PgConnectError("neither psycopg2 nor psycopg is installed")
    kwargs = dict(host=params["login_host"] or params["login_unix_socket"], port=params["port"],
                  user=params["login_user"], dbname=dbname, connect_timeout=params["connect_timeout"],
                  application_name=application_name)
    if params["login_password"]:
        kwargs["password"] = params["login_password"]
    try:
        conn = driver.connect(**kwargs)
        conn.autocommit = True
    except Exception as exc:  # the drivers' base Error, and OSError from the socket
        raise PgConnectError("cannot connect to database %s at %s as %s: %s"
                             % (dbname, pgi.describe_target(params["login_host"], params["login_unix_socket"],
                                                            params["port"]),
                                params["login_user"], driver_error(exc)))
    return Session(conn)
