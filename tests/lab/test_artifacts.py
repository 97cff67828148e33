"""The lab's Go-built binaries are the pinned ones, intact, and they run."""

import hashlib
import os
import subprocess

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CACHE = os.environ.get("FULEXO_CACHE", "/var/cache/fulexo-dr")


def pins():
    values = {}
    with open(os.path.join(REPO_ROOT, "lab", "versions.env")) as handle:
        for line in handle:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
    return values


PINS = pins()
BINARIES = [("minio", "minio", PINS["MINIO_VERSION"]), ("mc", "mc", PINS["MC_VERSION"]),
            ("walg", "wal-g", PINS["WALG_VERSION"])]


def manifest(path):
    with open(path) as handle:
        return dict(line.strip().split("=", 1) for line in handle if "=" in line)


@pytest.mark.parametrize("name,binary,version", BINARIES, ids=[b[0] for b in BINARIES])
def test_binary_is_pinned_intact_and_runs(name, binary, version):
    directory = os.path.join(CACHE, "bin", "%s-%s" % (name, version))
    if not os.path.isdir(directory) and os.path.exists(os.path.join(CACHE, "bin", name + ".unavailable")):
        with open(os.path.join(CACHE, "bin", name + ".unavailable")) as handle:
            pytest.skip("%s could not be built here: %s" % (name, handle.read().strip()))
    recorded = manifest(os.path.join(directory, "MANIFEST"))
    assert recorded["version"] == version
    with open(os.path.join(directory, binary), "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == recorded["sha256"]
    out = subprocess.run([os.path.join(directory, binary), "--version"], capture_output=True, text=True,
                         timeout=30, check=True)
    assert "version" in out.stdout.lower()
