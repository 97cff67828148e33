#!/usr/bin/env bash
# ansible-test sanity on a copy of the tracked tree laid out as
# ansible_collections/fulexo/dr, as ansible-test requires.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cache="${FULEXO_CACHE:-/var/cache/fulexo-dr}"
venv="$repo/.venv"

# Without shellcheck, ansible-test silently skips the shell scripts.
command -v shellcheck >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null \
  || { echo "cannot install shellcheck" >&2; exit 1; }

# ansible-test downloads get-pip; give it the offline stand-in instead.
pip_version=$("$venv/bin/python" - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
mkdir -p ~/.ansible/test/cache
cp "$repo/tests/sanity/get_pip_standin.py" ~/.ansible/test/cache/get_pip_"${pip_version//./_}".py

dest="${SANITY_DEST:-$cache/sanity}/ansible_collections/fulexo/dr"
rm -rf "$dest" && mkdir -p "$dest"
(cd "$repo" && git ls-files -co --exclude-standard -z | xargs -0 cp --parents -t "$dest")
cd "$dest"
PATH="$venv/bin:$PATH" ansible-test sanity --venv --python 3.11 "$@"
