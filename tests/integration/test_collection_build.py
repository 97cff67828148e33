"""The collection builds into a tarball that installs, and whose roles and
modules resolve by FQCN from the installed copy (not from this tree)."""

import os
import subprocess
import sys

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)


def run(args, **kw):
    return subprocess.run([os.path.join(BIN, args[0])] + args[1:], capture_output=True, text=True,
                          check=True, timeout=300, **kw)


def test_build_install_and_resolve(tmp_path):
    installed = tmp_path / "collections"
    # Outside this tree and its ansible.cfg, so the working copy (linked under
    # .cache/collections) cannot stand in for the installed one.
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(installed), ANSIBLE_CONFIG=str(config))
    run(["ansible-galaxy", "collection", "build", REPO_ROOT, "--output-path", str(tmp_path)], env=env, cwd=str(tmp_path))
    tarballs = [name for name in os.listdir(tmp_path) if name.endswith(".tar.gz")]
    assert len(tarballs) == 1 and tarballs[0].startswith("fulexo-dr-")

    run(["ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", str(installed),
         str(tmp_path / tarballs[0])], env=env, cwd=str(tmp_path))
    root = installed / "ansible_collections" / "fulexo" / "dr"
    assert (root / "roles" / "etcd" / "meta" / "argument_specs.yml").is_file()
    # The lab, CI plumbing, tests and benchmarks stay out of the artefact.
    for kept_out in ("lab", ".ci", "tests", "molecule", "bench", "inventories/lab", "Makefile"):
        assert not (root / kept_out).exists(), kept_out
    assert (root / "inventories" / "example").is_dir()

    listed = run(["ansible-doc", "-l", "fulexo.dr"], env=env, cwd=str(tmp_path)).stdout
    modules = sorted(name for name in os.listdir(REPO_ROOT + "/plugins/modules") if name.endswith(".py"))
    for module in modules:
        assert "fulexo.dr." + module[:-3] in listed
    role_doc = run(["ansible-doc", "-t", "role", "fulexo.dr.etcd"], env=env, cwd=str(tmp_path)).stdout
    assert "etcd_allow_unsafe_member_count" in role_doc
