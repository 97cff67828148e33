"""The monitoring role's alert rules and Alertmanager configuration, rendered
by Ansible from the role's templates and defaults, checked by the promtool
and amtool of Debian's packages (lab/promtools.sh puts them in the cache):
the rules load, every alert fires on series that cross its threshold and
stays quiet on series under it, and the routing sends each incident level
where the variables say."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CACHE_BIN = os.path.join(os.environ.get("FULEXO_CACHE", "/var/cache/fulexo-dr"), "bin")
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "monitoring")


def tool(name):
    path = os.path.join(CACHE_BIN, name)
    if not os.access(path, os.X_OK):
        pytest.fail("%s is missing from %s: run lab/promtools.sh (lab/lab prepare does)" % (name, CACHE_BIN))
    return path


def render(out, extra_vars=None):
    """Both templates, through ansible-playbook, with the role's defaults."""
    playbook = out / "render.yml"
    templates = (("fulexo-dr.rules.yml.j2", "rules.yml"), ("alertmanager.yml.j2", "alertmanager.yml"))
    tasks = [{"ansible.builtin.template": {"src": os.path.join(REPO_ROOT, "roles", "monitoring", "templates", src),
                                           "dest": str(out / dest), "mode": "0600"}} for src, dest in templates]
    playbook.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False, "connection": "local",
        "vars_files": [os.path.join(REPO_ROOT, "roles", "monitoring", "defaults", "main.yml")],
        "tasks": tasks,
    }]))
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                          str(playbook), "-e", json.dumps(extra_vars or {})],
                         capture_output=True, text=True, check=False, cwd=str(out),
                         env=dict(os.environ, ANSIBLE_PYTHON_INTERPRETER=sys.executable))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("monitoring")
    # As the lab renders it: one DR site, scope fulexo-dr.
    render(out, {"monitoring_dr_site_scopes": ["fulexo-dr"]})
    return out


def test_the_rules_load(rendered):
    run = subprocess.run([tool("promtool"), "check", "rules", str(rendered / "rules.yml")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "SUCCESS: 27 rules found" in run.stdout


def test_an_estate_without_a_dr_site_gets_rules_that_load(tmp_path):
    render(tmp_path)
    rules = (tmp_path / "rules.yml").read_text()
    assert 'patroni_primary{scope!~""}' in rules
    run = subprocess.run([tool("promtool"), "check", "rules", str(tmp_path / "rules.yml")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_alert_fires_over_its_threshold_and_not_under_it(rendered):
    tested = set()
    for name in ("rules_test.yml", "rules_test_days.yml"):
        shutil.copy(os.path.join(HERE, name), str(rendered / name))
        run = subprocess.run([tool("promtool"), "test", "rules", str(rendered / name)],
                             capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        tested |= {t["alertname"] for case in yaml.safe_load(open(os.path.join(HERE, name)))["tests"]
                   for t in case.get("alert_rule_test", [])}
    defined = {r["alert"] for g in yaml.safe_load((rendered / "rules.yml").read_text())["groups"] for r in g["rules"]
               if "alert" in r}
    assert tested == defined, "alerts without a test: %s" % sorted(defined - tested)


def test_a_broken_rule_is_refused_by_the_check_the_role_runs_before_the_swap(rendered, tmp_path):
    broken = tmp_path / "rules.yml"
    broken.write_text((rendered / "rules.yml").read_text().replace("count((up == 0)", "count((up == 0"))
    run = subprocess.run([tool("promtool"), "check", "rules", str(broken)], capture_output=True, text=True, check=False)
    assert run.returncode != 0 and "FulexoServicesDown" not in run.stdout


def test_with_no_destination_every_level_goes_nowhere(rendered):
    run = subprocess.run([tool("amtool"), "check-config", str(rendered / "alertmanager.yml")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    config = yaml.safe_load((rendered / "alertmanager.yml").read_text())
    assert [r["receiver"] for r in config["route"]["routes"]] == ["nowhere"] * 3
    assert [r["name"] for r in config["receivers"]] == ["nowhere"]


def test_each_level_reaches_its_channels(tmp_path):
    render(tmp_path, {"monitoring_webhook_url": "http://127.0.0.1:9/alerts",
                      "monitoring_slack_api_url": "https://hooks.slack.invalid/T/B/x",
                      "monitoring_email_to": ["dr@example.invalid"]})
    run = subprocess.run([tool("amtool"), "check-config", str(tmp_path / "alertmanager.yml")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    config = yaml.safe_load((tmp_path / "alertmanager.yml").read_text())
    receivers = {r["name"]: r for r in config["receivers"]}
    assert sorted(k for k in receivers["P1_critical"] if k.endswith("_configs")) == \
        ["email_configs", "slack_configs", "webhook_configs"]
    # P3 pages the on-call engineer through Slack (and the webhook), never by email.
    assert sorted(k for k in receivers["P3_minor"] if k.endswith("_configs")) == ["slack_configs", "webhook_configs"]
    # amtool routes a P1 alert to its level's receiver.
    test = subprocess.run([tool("amtool"), "config", "routes", "test", "--config.file",
                           str(tmp_path / "alertmanager.yml"), "incident_level=P1_critical", "alertname=X"],
                          capture_output=True, text=True, check=False)
    assert test.stdout.strip() == "P1_critical", test.stdout + test.stderr
