"""tests/run-all.sh runs the lab jobs (molecule scenarios and the drill) a
few at a time: every job runs, a failing one fails its stage without stopping
the others, and the summary says which failed. Molecule, make and the lab
are stand-ins here; the real ones run in CI."""

import os
import shutil
import signal
import subprocess
import time

import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def executable(path, body):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/bash\n" + body + "\n")
    path.chmod(0o755)


def fake_repo(tmp_path, failing=(), drill_rc=0, refusals_rc=0, hanging=()):
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    shutil.copy(os.path.join(REPO_ROOT, "tests", "run-all.sh"), repo / "tests" / "run-all.sh")
    for scenario in ("etcd", "walg", "brand_new"):
        (repo / "molecule" / scenario).mkdir(parents=True)
        (repo / "molecule" / scenario / "molecule.yml").write_text("---\n")
    ran = tmp_path / "ran"
    # Each stand-in notes when it started and ended, so overlap can be seen.
    executable(repo / ".venv" / "bin" / "molecule",
               'echo "start $3" >> %s; sleep 1; echo "end $3" >> %s\n'
               'case " %s " in *" $3 "*) echo "scenario $3 broke"; exit 1;; esac\n'
               'case " %s " in *" $3 "*) echo "scenario $3 is at its slow step"; sleep 60;; esac'
               % (ran, ran, " ".join(failing), " ".join(hanging)))
    (repo / "Makefile").write_text("drill:\n\t@echo start drill >> %s; sleep 1; echo end drill >> %s; exit %d\n"
                                   % (ran, ran, drill_rc))
    executable(repo / "lab" / "lab", "exit 0")
    executable(repo / "tests" / "lab" / "drill-checks.sh", 'echo "refusals checked" >> %s; exit %d'
               % (ran, refusals_rc))
    # The notice check wraps the drill command; here it only runs it.
    executable(repo / "tests" / "lab" / "drill-notices.sh", 'exec "$@"')
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "lab-image.ref").write_text("lab:test\n")
    (cache / "lab-base.ref").write_text("base:test\n")
    return repo, cache, ran


def run_all(repo, cache, **env):
    return subprocess.run(["bash", str(repo / "tests" / "run-all.sh")], capture_output=True, text=True, timeout=120,
                          check=False, env=dict(_clean_environ(), FULEXO_CACHE=str(cache), STAGES="molecule,drill", **env))


def _clean_environ():
    # A caller's own run-all settings (MOLECULE_SCENARIOS=walg, LAB_JOBS=1) would change what the fake repo runs.
    return dict((k, v) for k, v in os.environ.items() if k not in ("MOLECULE_SCENARIOS", "LAB_JOBS", "STAGES"))


def test_every_job_runs_two_at_a_time_and_the_stages_pass(tmp_path):
    repo, cache, ran = fake_repo(tmp_path)
    out = run_all(repo, cache)
    assert out.returncode == 0, out.stdout + out.stderr
    events = ran.read_text().splitlines()
    started = [e.split()[1] for e in events if e.startswith("start")]
    # The unknown scenario first, then slowest first. Jobs started together
    # write their "start" lines in whatever order the machine runs them, so
    # each pair launched together is compared as a set.
    assert len(started) == 4
    assert set(started[:2]) == {"brand_new", "drill"} and set(started[2:]) == {"walg", "etcd"}
    # Two ran at once: the second started before the first ended.
    assert events.index("start drill") < events.index("end brand_new")
    assert "  molecule   PASS" in out.stdout and "  drill      PASS" in out.stdout
    assert "stages: 2 passed, 0 failed" in out.stdout
    # On the drill's lab, once the drill passed, the refusals are checked.
    assert events.index("refusals checked") > events.index("end drill")
    # The whole run's time closes the summary, so CI budgets can be read off it.
    total = [line for line in out.stdout.splitlines() if line.startswith("  total ")]
    assert len(total) == 1 and int(total[0].split()[1].rstrip("s")) >= 2


def test_a_failing_scenario_fails_molecule_but_every_job_still_runs(tmp_path):
    repo, cache, ran = fake_repo(tmp_path, failing=("walg",))
    out = run_all(repo, cache)
    assert out.returncode == 1
    assert sorted(e.split()[1] for e in ran.read_text().splitlines() if e.startswith("end")) == \
        ["brand_new", "drill", "etcd", "walg"]
    assert "molecule/walg          FAIL" in out.stdout
    assert "  molecule   FAIL" in out.stdout and "  drill      PASS" in out.stdout
    # The failure's own output is repeated just before the summary.
    assert out.stdout.rindex("scenario walg broke") > out.stdout.rindex("FAILED; the end of its output")
    assert "stages: 1 passed, 1 failed" in out.stdout


def test_a_failed_drill_fails_the_drill_stage_one_job_at_a_time(tmp_path):
    repo, cache, ran = fake_repo(tmp_path, drill_rc=2)
    out = run_all(repo, cache, LAB_JOBS="1")
    assert out.returncode == 1
    events = ran.read_text().splitlines()
    # One at a time: every job ends before the next starts.
    for earlier, later in zip(events[1::2], events[2::2]):
        assert earlier.startswith("end") and later.startswith("start")
    assert "  drill      FAIL" in out.stdout and "  molecule   PASS" in out.stdout
    # A drill that failed is not followed by the refusal checks.
    assert "refusals checked" not in events


def test_a_drill_that_does_not_refuse_fails_the_drill_stage(tmp_path):
    repo, cache, ran = fake_repo(tmp_path, refusals_rc=1)
    out = run_all(repo, cache)
    assert out.returncode == 1
    assert "  drill      FAIL" in out.stdout and "  molecule   PASS" in out.stdout


@pytest.mark.parametrize("whole_group", [False, True])
def test_a_suite_stopped_from_outside_shows_where_each_running_job_was(tmp_path, whole_group):
    # CI's time limit: a job's output is otherwise printed only when it ends.
    # CI stops the whole process group, so the jobs die with the suite.
    repo, cache, ran = fake_repo(tmp_path, hanging=("walg",))
    suite = subprocess.Popen(["bash", str(repo / "tests" / "run-all.sh")], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True,
                             env=dict(_clean_environ(), FULEXO_CACHE=str(cache), STAGES="molecule,drill"))
    try:
        deadline = time.monotonic() + 60
        # The stand-in notes "end" just before it prints its slow step and sleeps.
        while "end walg" not in (ran.read_text() if ran.exists() else ""):
            assert time.monotonic() < deadline, "the hanging scenario never reached its slow step"
            time.sleep(0.2)
        time.sleep(0.5)
        if whole_group:
            os.killpg(suite.pid, signal.SIGTERM)
        else:
            suite.send_signal(signal.SIGTERM)
        out = suite.communicate(timeout=30)[0]
    finally:
        # The jobs still running are in the suite's process group (CI kills the group).
        try:
            os.killpg(suite.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert suite.returncode == 143, out
    assert "stopped by SIGTERM" in out
    assert "molecule/walg, running for" in out and "scenario walg is at its slow step" in out
    # Jobs that had already ended are not repeated.
    assert "molecule/brand_new, running for" not in out


def fake_make_repo(tmp_path, lab_links_mitogen=True):
    """The real Makefile in a checkout without .cache: its lab-up (a stand-in
    for lab/lab up) links Mitogen as lab/venv.sh does, and the stand-ins for
    ansible-playbook and run-all.sh print the strategy they were given."""
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(os.path.join(REPO_ROOT, "Makefile"), repo / "Makefile")
    link = 'mkdir -p "$(dirname "$0")/../.cache/ansible_mitogen/plugins/strategy"' if lab_links_mitogen else "true"
    executable(repo / "lab" / "lab", '[ "$1" = up ] && %s; exit 0' % link)
    show = 'echo "strategy=${ANSIBLE_STRATEGY-unset} plugins=${ANSIBLE_STRATEGY_PLUGINS-unset}"'
    executable(repo / ".venv" / "bin" / "ansible-playbook", show)
    executable(repo / "tests" / "run-all.sh", show)
    return repo


def make(repo, target, **env):
    environ = dict((k, v) for k, v in _clean_environ().items() if not k.startswith("ANSIBLE_STRATEGY"))
    out = subprocess.run(["make", "-s", "-C", str(repo), target], capture_output=True, text=True, timeout=60,
                         check=False, env=dict(environ, **env))
    assert out.returncode == 0, out.stdout + out.stderr
    return [line for line in out.stdout.splitlines() if line.startswith("strategy=")]


def test_make_test_leaves_the_strategy_to_run_all_which_chooses_after_prepare(tmp_path):
    # Fixed by make before the prepare stage had linked Mitogen, it was
    # "linear", and a fresh checkout ran the whole suite on stock Ansible.
    repo = fake_make_repo(tmp_path)
    assert make(repo, "test") == ["strategy=unset plugins=unset"]


def test_make_drill_uses_mitogen_once_lab_up_has_linked_it(tmp_path):
    repo = fake_make_repo(tmp_path)
    plugins = repo / ".cache" / "ansible_mitogen" / "plugins" / "strategy"
    assert make(repo, "drill") == ["strategy=mitogen_linear plugins=%s" % plugins]


def test_make_drill_without_mitogen_runs_stock_ansible(tmp_path):
    repo = fake_make_repo(tmp_path, lab_links_mitogen=False)
    assert make(repo, "converge")[0].startswith("strategy=linear ")


def test_an_asked_strategy_wins(tmp_path):
    repo = fake_make_repo(tmp_path)
    assert make(repo, "drill", ANSIBLE_STRATEGY="linear")[0].startswith("strategy=linear ")
