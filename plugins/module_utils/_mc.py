# -*- coding: utf-8 -*-
# Copyright: Fulexo SRE
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running mc (the MinIO client) for the collection's modules.

Private to the fulexo.dr collection. The parsing of what mc prints is in
_minio.py (pure, unit-tested); this file only runs the binary.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import shutil
import subprocess
import tempfile

from ansible_collections.fulexo.dr.plugins.module_utils._minio import (
    MinioOutputError,
    mc_host_url,
    parse_json_lines,
    parse_versions,
)

# The argument spec of one MinIO site, shared by the modules that take sites.
SITE_SPEC = dict(
    name=dict(type="str", required=True),
    url=dict(type="str", required=True),
    access_key=dict(type="str", required=True, no_log=False),
    secret_key=dict(type="str", required=True, no_log=True),
)

_CHUNK = 1024 * 1024
_TAIL = 8192


class Mc:
    """mc with per-site credentials in MC_HOST_* and a private config dir."""

    def __init__(self, module, config_dir):
        self.module = module
        self.base = [module.get_bin_path(module.params["mc_path"], required=True), "--json"]
        if module.params["insecure"]:
            self.base.append("--insecure")
        self.env = {"MC_CONFIG_DIR": config_dir, "MC_NO_COLOR": "1"}
        if module.params["ca_cert"]:
            cas = os.path.join(config_dir, "certs", "CAs")
            os.makedirs(cas)
            shutil.copy(module.params["ca_cert"], os.path.join(cas, "ca.crt"))

    def add_site(self, alias, site):
        self.env["MC_HOST_%s" % alias] = mc_host_url(site["url"], site["access_key"], site["secret_key"])

    def run(self, *args, **kwargs):
        rc, out, err = self.module.run_command(self.base + list(args), environ_update=self.env, **kwargs)
        return rc, out, err

    def sha256(self, path, version_id):
        """(hex sha256, bytes read) of one object version, streamed by `mc cat`.

        Not run_command: it keeps the whole output in memory, and a base
        backup's tar partitions run to gigabytes. Raises MinioOutputError
        with mc's message when the version cannot be read.
        """
        env = dict(os.environ)
        env.update(self.env)
        digest, size, tail = hashlib.sha256(), 0, b""
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen(self.base + ["cat", "--version-id", version_id, path],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors, env=env)
            try:
                while True:
                    block = proc.stdout.read(_CHUNK)
                    if not block:
                        break
                    digest.update(block)
                    size += len(block)
                    # With --json mc prints its error on stdout; the tail is kept to report it.
                    tail = block[-_TAIL:] if len(block) >= _TAIL else (tail + block)[-_TAIL:]
            finally:
                proc.stdout.close()
                rc = proc.wait()
            if rc != 0:
                errors.seek(0)
                raise MinioOutputError(_cat_error(path, version_id, rc, tail, errors.read()))
        return digest.hexdigest(), size

    def read(self, path, version_id):
        """The text of one (small) object version, by `mc cat`."""
        rc, out, err = self.run("cat", "--version-id", version_id, path)
        if rc != 0:
            raise MinioOutputError(_cat_error(path, version_id, rc, out, err))
        return out


def _cat_error(path, version_id, rc, out, err):
    if isinstance(out, bytes):
        out = out.decode("utf-8", "replace")
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    last = [line for line in out.splitlines() if line.startswith("{")][-1:]
    try:
        parse_json_lines("\n".join(last), "cat")
    except MinioOutputError as exc:
        return "cannot read %s version %s: %s" % (path, version_id, exc)
    return "cannot read %s version %s: %s" % (path, version_id, err.strip() or "mc cat exited %d" % rc)


def list_versions(mc, alias, bucket, prefix):
    """(versions, error): versions is None when the site could not be listed."""
    rc, out, err = mc.run("ls", "--versions", "--recursive", "%s/%s/%s" % (alias, bucket, prefix))
    try:
        versions = parse_versions(out, prefix)
    except MinioOutputError as exc:
        return None, str(exc)
    if rc != 0:
        return None, (err.strip() or "mc ls exited %d" % rc)
    return versions, ""
