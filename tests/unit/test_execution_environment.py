"""The execution environment for AWX: ansible-builder accepts the definition,
and what it installs is what the collection is tested with (the pins of
requirements.txt, galaxy.yml's dependencies at the versions the ansible
package bundles)."""

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILDER = os.path.join(os.path.dirname(sys.executable), "ansible-builder")


def load(*parts):
    with open(os.path.join(REPO_ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def pins(path):
    out = {}
    with open(path) as handle:
        for line in handle:
            match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s#]+)", line.strip())
            if match:
                out[re.sub(r"\[.*\]", "", match.group(1)).lower()] = match.group(2)
    return out


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    if not os.path.exists(BUILDER):
        pytest.fail("ansible-builder is not installed next to %s (requirements.txt pins it)" % sys.executable)
    out = tmp_path_factory.mktemp("ee")
    run = subprocess.run([BUILDER, "create", "-f", "execution-environment.yml", "-c", str(out), "--output-filename",
                          "Containerfile"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert run.returncode == 0, "ansible-builder create failed:\n%s%s" % (run.stdout, run.stderr)
    return out


def test_the_build_context_installs_the_tested_ansible_core_and_runner(context):
    containerfile = (context / "Containerfile").read_text()
    tested = pins(os.path.join(REPO_ROOT, "requirements.txt"))
    refs = re.search(r'ANSIBLE_INSTALL_REFS="([^"]+)"', containerfile).group(1).split()
    assert sorted(refs) == sorted(["ansible-core==%s" % tested["ansible-core"],
                                   "ansible-runner==%s" % tested["ansible-runner"]])


def test_the_build_context_carries_the_python_system_and_galaxy_needs(context):
    build = context / "_build"
    assert pins(str(build / "requirements.txt")) == pins(os.path.join(REPO_ROOT, "meta", "ee", "requirements.txt"))
    assert (build / "bindep.txt").read_text() == open(os.path.join(REPO_ROOT, "meta", "ee", "bindep.txt")).read()
    assert yaml.safe_load((build / "requirements.yml").read_text()) == load("meta", "ee", "requirements.yml")


def test_every_collection_dependency_is_in_the_environment_at_the_tested_version():
    wanted = {c["name"]: c["version"] for c in load("meta", "ee", "requirements.yml")["collections"]}
    assert sorted(wanted) == sorted(load("galaxy.yml")["dependencies"])
    galaxy = shutil.which("ansible-galaxy", path=os.path.dirname(sys.executable))
    listed = subprocess.run([galaxy, "collection", "list", "--format", "yaml"], capture_output=True, text=True,
                            check=True, cwd=REPO_ROOT).stdout
    installed = {}
    for path_entries in yaml.safe_load(listed).values():
        for name, info in path_entries.items():
            installed.setdefault(name, info["version"])
    for name, version in wanted.items():
        assert installed.get(name) == version, "%s: the environment pins %s, the tests run with %s" % (
            name, version, installed.get(name))


def test_the_python_libraries_match_what_the_tests_run_with():
    """Each pin is the version the tests use: the controller's venv, or for
    the PostgreSQL driver the one the roles install on the hosts."""
    from importlib import metadata
    tested = pins(os.path.join(REPO_ROOT, "requirements.txt"))
    tested["psycopg2-binary"] = load("roles", "patroni", "defaults", "main.yml")["patroni_psycopg2_version"]
    for name, version in pins(os.path.join(REPO_ROOT, "meta", "ee", "requirements.txt")).items():
        used = tested.get(name) or metadata.version(name)
        assert used == version, "%s: the environment pins %s, the tests run with %s" % (name, version, used)
