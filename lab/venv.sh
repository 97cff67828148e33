#!/usr/bin/env bash
# Creates the controller virtualenv from requirements.txt, in the cache keyed
# by the file's hash (so a fresh clone reuses it), and links it as .venv.
. "$(dirname "$0")/common.sh"

python="${PYTHON:-python3}"
"$python" -c 'import sys; assert sys.version_info[:2] >= (3, 11)' 2>/dev/null \
  || die "$python is missing or older than 3.11 (ansible-core 2.19 needs 3.11+)"
hash="$( (cat "$REPO_ROOT/requirements.txt"; "$python" -V) | sha256sum | cut -c1-12)"
venv="$FULEXO_CACHE/venv-$hash"
if [[ ! -x "$venv/bin/ansible-playbook" || ! -f "$venv/.complete" ]]; then
  log "creating virtualenv $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >/dev/null
  "$venv/bin/pip" install -q -r "$REPO_ROOT/requirements.txt" \
    || die "pip install -r requirements.txt failed (see pip's message above)"
  touch "$venv/.complete"
else
  log "virtualenv $venv present"
fi
ln -sfn "$venv" "$REPO_ROOT/.venv"
# Mitogen's strategy plugins at a path that does not name the Python version
# (ANSIBLE_STRATEGY_PLUGINS in the Makefile and tests/run-all.sh).
mitogen_dir="$("$venv/bin/python" -c 'import ansible_mitogen, os; print(os.path.dirname(ansible_mitogen.__file__))')" \
  || die "ansible_mitogen is not importable in $venv (requirements.txt pins mitogen)"
mkdir -p "$REPO_ROOT/.cache"
ln -sfn "$mitogen_dir" "$REPO_ROOT/.cache/ansible_mitogen"
