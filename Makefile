# Entry points. The first two are the README's two commands.
.PHONY: drill test lab lab-up lab-down lab-status venv converge unit lint sanity molecule

ANSIBLE_PLAYBOOK := .venv/bin/ansible-playbook
# Lab runs use Mitogen's strategy: the same modules and plays, but one
# persistent Python per host instead of a docker exec and an interpreter per
# task (a run of small tasks measured 4 to 8 times faster here).
# ANSIBLE_STRATEGY=linear runs stock Ansible, as AWX and the execution
# environment do.
# Chosen in the recipe, so after lab-up has linked Mitogen; without it (a
# checkout lab/venv.sh has not run in) stock Ansible. Never exported to
# `make test`: make would fix it before the prepare stage has linked Mitogen,
# and every fresh checkout (CI) would then run the whole suite on stock Ansible.
MITOGEN_PLUGINS := $(CURDIR)/.cache/ansible_mitogen/plugins/strategy
WITH_STRATEGY = ANSIBLE_STRATEGY=$(or $(ANSIBLE_STRATEGY),$(if $(wildcard $(MITOGEN_PLUGINS)),mitogen_linear,linear)) \
  ANSIBLE_STRATEGY_PLUGINS=$(or $(ANSIBLE_STRATEGY_PLUGINS),$(MITOGEN_PLUGINS))
INVENTORY ?= inventories/lab/hosts.yml

## drill: build the lab if needed, converge it, run the DR drill
## (DRILL_PROFILE: monthly, quarterly or annual; DRILL_ARGS: extra arguments,
## e.g. -e dr_drill_notify_webhook_url=...)
## The estate is converged first, the DR site with it (the data-centre
## outage step activates it and fails back). A step the lab cannot carry out
## (the annual complete disaster) is reported "not run" and the lab accepts
## the incomplete outcome (a failed step still fails the run).
DRILL_PROFILE ?= quarterly
drill: lab-up
	$(WITH_STRATEGY) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) playbooks/site.yml playbooks/dr_site.yml dr-drill.yml \
	  -e dr_drill_profile=$(DRILL_PROFILE) -e dr_drill_allow_incomplete=true $(DRILL_ARGS)

## test: everything CI runs (unit, lint, sanity, molecule, the drill)
test:
	tests/run-all.sh

lab: ; lab/lab prepare
lab-up: ; lab/lab up
lab-down: ; lab/lab down
lab-status: ; lab/lab status
venv: ; lab/venv.sh

converge: lab-up
	$(WITH_STRATEGY) $(ANSIBLE_PLAYBOOK) -i $(INVENTORY) playbooks/site.yml

unit: ; STAGES=prepare,unit tests/run-all.sh
lint: ; STAGES=prepare,lint tests/run-all.sh
sanity: ; STAGES=prepare,sanity tests/run-all.sh
molecule: ; STAGES=prepare,molecule tests/run-all.sh
