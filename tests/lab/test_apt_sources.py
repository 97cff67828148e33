"""The lab takes its Debian mirror and security mirror from the host's apt
sources, in either format, and reports none when the host has none."""

import os
import subprocess
import sys

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(REPO_ROOT, "lab", "apt_sources.py")


def mirrors(apt_etc, suite="bookworm"):
    out = subprocess.run([sys.executable, SCRIPT, suite], capture_output=True, text=True, check=True,
                         env=dict(os.environ, APT_ETC=str(apt_etc)))
    return out.stdout.splitlines()


def test_deb822_sources_with_a_disabled_entry_and_comments(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "a-disabled.sources").write_text(
        "Types: deb\nURIs: http://old.example.invalid/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n")
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\n# a snapshot, kept for reference\nURIs: http://mirror.example.invalid/debian/\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n\n"
        "Types: deb deb-src\nURIs: http://security.example.invalid/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n")
    assert mirrors(tmp_path) == ["http://mirror.example.invalid/debian", "http://security.example.invalid/debian-security"]


def test_one_line_sources_with_options(tmp_path):
    (tmp_path / "sources.list").write_text(
        "# deb http://commented.example.invalid/debian bookworm main\n"
        "deb-src http://src.example.invalid/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/debian.gpg] http://local.example.invalid/debian bookworm main\n"
        "deb http://local.example.invalid/security bookworm-security main\n")
    assert mirrors(tmp_path) == ["http://local.example.invalid/debian", "http://local.example.invalid/security"]


def test_no_source_for_the_suite_gives_empty_lines(tmp_path):
    (tmp_path / "sources.list").write_text("deb http://mirror.example.invalid/debian trixie main\n")
    assert mirrors(tmp_path) == ["", ""]
