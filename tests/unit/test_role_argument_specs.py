"""Every role documents each default in meta/argument_specs.yml, and nothing more.

The spec is what validates user input, so a default missing from it is an
unvalidated variable, and a spec entry without a default is a doc that lies.
"""

import glob
import os

import pytest
import yaml

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROLES = sorted(
    os.path.basename(os.path.dirname(os.path.dirname(path)))
    for path in glob.glob(os.path.join(REPO_ROOT, "roles", "*", "defaults", "main.yml"))
)


def load(role, *parts):
    with open(os.path.join(REPO_ROOT, "roles", role, *parts)) as handle:
        return yaml.safe_load(handle) or {}


def test_there_are_roles():
    assert ROLES, "no roles found under roles/"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_match_argument_spec(role):
    defaults = set(load(role, "defaults", "main.yml"))
    entry_points = load(role, "meta", "argument_specs.yml")["argument_specs"]
    spec = set(entry_points["main"]["options"])
    # A default may be documented by the entry point (tasks_from) that uses it.
    documented = set().union(*(entry.get("options", {}) for entry in entry_points.values()))
    with_default = {name for entry in entry_points.values()
                    for name, option in entry.get("options", {}).items() if "default" in option}
    assert defaults - documented == set(), "defaults without a spec entry"
    assert spec - defaults == set(), "spec entries without a default"
    assert with_default - defaults == set(), "spec entries whose default is not in defaults/main.yml"


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix(role):
    prefix = role.lstrip("_") + "_"
    unprefixed = [name for name in load(role, "defaults", "main.yml") if not name.startswith(prefix)]
    assert unprefixed == []
