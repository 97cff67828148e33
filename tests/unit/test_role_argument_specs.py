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
    spec = set(load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"])
    assert defaults - spec == set(), "defaults without a spec entry"
    assert spec - defaults == set(), "spec entries without a default"


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix(role):
    prefix = role.lstrip("_") + "_"
    unprefixed = [name for name in load(role, "defaults", "main.yml") if not name.startswith(prefix)]
    assert unprefixed == []
