"""Print the Debian mirror and the security mirror this host's apt uses for a
suite, one per line (an empty line when there is none), so the lab image
gets its packages and security updates from wherever the host does and no
mirror host is written in the repository.

Reads sources.list and sources.list.d/ (one-line *.list and deb822
*.sources) under APT_ETC (default /etc/apt).
Usage: apt_sources.py <suite>     e.g. apt_sources.py bookworm
"""

import glob
import os
import sys


def one_line_entries(text):
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        # Options in brackets: [arch=amd64 signed-by=...]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            yield words[0], [words[1]]


def deb822_entries(text):
    for paragraph in text.split("\n\n"):
        fields, key = {}, None
        for line in paragraph.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            key, value = line.split(":", 1) if ":" in line else (line, "")
            key = key.strip().lower()
            fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
            continue
        for uri in fields.get("uris", "").split():
            yield uri, fields.get("suites", "").split()


def entries(apt_etc):
    files = [os.path.join(apt_etc, "sources.list")] + sorted(glob.glob(os.path.join(apt_etc, "sources.list.d", "*")))
    for path in files:
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
        if path.endswith(".sources"):
            yield from deb822_entries(text)
        elif path.endswith(".list") or path.endswith("sources.list"):
            yield from one_line_entries(text)


def mirrors(suite, apt_etc="/etc/apt"):
    """(mirror, security mirror) for the suite; '' where the host has none."""
    main = security = ""
    for uri, suites in entries(apt_etc):
        if not main and suite in suites:
            main = uri.rstrip("/")
        if not security and suite + "-security" in suites:
            security = uri.rstrip("/")
    return main, security


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    for uri in mirrors(argv[1], os.environ.get("APT_ETC", "/etc/apt")):
        print(uri)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
