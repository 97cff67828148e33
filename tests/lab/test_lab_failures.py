"""The lab's set-up scripts stop with a clear reason, and leave nothing
half-made behind, when the engine, the mirror or a Go build fails."""

import os
import shutil
import subprocess

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LAB = os.path.join(REPO_ROOT, "lab")


def run(script, env):
    return subprocess.run(["bash", script], capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ, **env))


def fake(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def test_engine_that_cannot_start_is_reported(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake(bin_dir, "docker", "exit 1")
    fake(bin_dir, "dockerd", "echo 'failed to start daemon: no cgroup mount found' >&2; exit 1")
    out = run(os.path.join(LAB, "engine.sh"),
              {"PATH": "%s:%s" % (bin_dir, os.environ["PATH"]), "FULEXO_LOG_DIR": str(tmp_path)})
    assert out.returncode == 1
    assert "dockerd exited during start-up" in out.stderr
    assert "no cgroup mount found" in out.stderr


def test_unreachable_mirror_makes_no_image(tmp_path):
    repo = "fulexo-dr/test-unreachable-mirror"
    out = run(os.path.join(LAB, "image.sh"), {
        "FULEXO_CACHE": str(tmp_path), "LAB_IMAGE_REPO": repo,
        # Port 9 on loopback refuses at once: no traffic leaves the machine.
        "LAB_DEBIAN_MIRROR": "http://127.0.0.1:9/debian"})
    assert out.returncode == 1
    assert "debootstrap failed" in out.stderr and "no image was made" in out.stderr
    assert out.stdout == ""
    images = subprocess.run(["docker", "image", "ls", "-q", repo], capture_output=True, text=True, check=True)
    assert images.stdout.strip() == ""
    assert not os.path.exists(tmp_path / "images") or os.listdir(tmp_path / "images") == []


def test_failed_go_build_names_the_binary_and_leaves_no_artifact(tmp_path):
    lab = tmp_path / "lab"
    shutil.copytree(LAB, lab)
    pins = (lab / "versions.env").read_text().splitlines()
    bogus = "v0.0.0-20990101000000-000000000000"
    (lab / "versions.env").write_text("\n".join(
        "MC_VERSION=" + bogus if line.startswith("MC_VERSION=") else line for line in pins) + "\n")
    cache = tmp_path / "cache"
    out = subprocess.run(
        ["bash", str(lab / "build-binaries.sh"), "mc"], capture_output=True, text=True, timeout=300, check=False,
        env=dict(os.environ, FULEXO_CACHE=str(cache), LAB_OPTIONAL_BINARIES="",
                 GOPATH=str(tmp_path / "go"), GOCACHE=str(tmp_path / "gocache")))
    assert out.returncode == 1
    assert "build of mc (github.com/minio/mc@%s) FAILED" % bogus in out.stderr
    assert "could not build: mc" in out.stderr
    assert not (cache / "bin" / ("mc-" + bogus)).exists()
    assert not (cache / "bin" / "mc").exists()


def test_packages_layer_on_a_missing_base_makes_no_image(tmp_path):
    repo = "fulexo-dr/test-prebake-missing-base"
    out = subprocess.run(["bash", os.path.join(LAB, "prebake.sh"), "fulexo-dr/no-such-base:0"], capture_output=True,
                         text=True, timeout=120, check=False,
                         env=dict(os.environ, FULEXO_CACHE=str(tmp_path), LAB_PREBAKED_REPO=repo))
    assert out.returncode == 1
    assert "cannot start a container from fulexo-dr/no-such-base:0" in out.stderr
    assert out.stdout == ""
    images = subprocess.run(["docker", "image", "ls", "-q", repo], capture_output=True, text=True, check=True)
    assert images.stdout.strip() == ""
