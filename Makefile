# The platform's user interface: every entry point is a target here, documented by its `##` line.
# ENV=<name> always means environments/<name>.yaml.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
VENV := .venv
PY := $(VENV)/bin/python
UV := $(or $(shell command -v uv 2>/dev/null),.cache/uv/bin/uv)
ENVIRONMENTS := $(basename $(notdir $(wildcard environments/*.yaml)))

# Values users (and git refs, in CI) give on the command line. Each is taken literally (make never
# expands a `$` inside it) and reaches programs through the environment, quoted ("$$TAG"), never
# pasted into shell text; the Python entry point that receives it checks it against its pattern.
# DRY_RUN is only tested for being set, and not exported (the trigger reads its own DRY_RUN).
USER_VARIABLES := ENV PIPELINE PARAMS TAG FUNCTION HOST PORT TEAM OWNERS BASE
PARAMS ?= {}
HOST ?= 127.0.0.1
PORT ?= 8080
BASE ?= origin/main
$(foreach name,$(USER_VARIABLES) DRY_RUN,$(eval override $(name) := $$(value $(name))))
export $(USER_VARIABLES)
ENV_FLAG := $(if $(ENV),--env "$$ENV")

.PHONY: help setup test lint format synth policy plan apply deploy bootstrap bench clean env-required \
	compile-pipelines run-pipeline publish-pipelines demo serve onboard-team offboard-team teams diff

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-20s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(VENV)/.synced ## Create .venv with every locked dependency (needs only python3 >= 3.11 and make)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python python3
	$(PY) -c "import infra.app" # loads the provider bundle once: warms the jsii package cache
	@touch $@

.cache/uv/bin/uv:
	python3 -m venv .cache/uv
	.cache/uv/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

test: setup ## Run the whole test suite
	$(PY) -m pytest

lint: setup ## Lint and check formatting (ruff)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup ## Fix lint findings that are safe to fix and format the code (ruff)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

synth: setup ## Synthesize stacks to infra/cdktf.out/stacks/<env>/ [ENV=]; prints resources per type
	$(PY) -m infra.synth $(ENV_FLAG)

policy: synth ## Policy-check synthesized stacks with checkov, offline [ENV=]
	$(PY) -m infra.policy.checkov $(ENV_FLAG)

plan: env-required synth ## Terraform/OpenTofu init + plan for ENV= (needs the binary and Google credentials)
	$(PY) -m infra.terraform plan $(ENV_FLAG)

apply: env-required setup ## Apply exactly the plan `make plan ENV=` saved
	$(PY) -m infra.terraform apply $(ENV_FLAG)

deploy: env-required synth ## Plan, then apply that plan, for ENV=
	$(PY) -m infra.terraform deploy $(ENV_FLAG)

diff: setup ## Resource-level diff of every synthesized stack against BASE= (default origin/main)
	$(PY) -m infra.diff --base "$$BASE"

bootstrap: env-required setup ## One-time: create ENV='s versioned Terraform state bucket
	$(PY) -m infra.terraform bootstrap $(ENV_FLAG)

demo: setup ## The main job, no cloud account: synth + policy, train, predict, monitor, one online prediction
	$(PY) -m pipelines.demo

compile-pipelines: setup ## Compile the pipelines to build/pipelines/<pipeline>.yaml [ENV= sets the components image]
	$(PY) -m pipelines.cli compile $(ENV_FLAG)

run-pipeline: setup ## Run PIPELINE= locally (kfp.local), or on Vertex AI with ENV= [PARAMS='{json}'] [DRY_RUN=1]
	$(PY) -m pipelines.cli run "$$PIPELINE" $(ENV_FLAG) --params "$$PARAMS" $(if $(DRY_RUN),--dry-run)

publish-pipelines: env-required setup ## Upload compiled templates to ENV='s KFP repository, tagged TAG=, commit, latest
	$(PY) -m pipelines.cli publish $(ENV_FLAG) $(if $(TAG),--tag "$$TAG")

serve: setup ## Run FUNCTION=<pipeline_trigger|predict> locally under functions-framework [PORT=8080] [HOST=127.0.0.1]
	$(if $(filter pipeline_trigger,$(FUNCTION)),$(PY) -m pipelines.cli compile >/dev/null)
	$(PY) -m functions.serve --function "$$FUNCTION" --host "$$HOST" --port "$$PORT" $(ENV_FLAG)

onboard-team: setup ## Add environments/teams/TEAM.yaml for OWNERS=<member>[,<member>] (validated; never overwrites)
	$(PY) -m environments.teams onboard --team "$$TEAM" --owners "$$OWNERS"

offboard-team: setup ## Remove environments/teams/TEAM.yaml (synth then removes the team's resources)
	$(PY) -m environments.teams offboard --team "$$TEAM"

teams: setup ## List teams, where they are enabled, their owners and budgets
	$(PY) -m environments.teams list

bench: setup ## Benchmarks with their floors: synth, local training pipeline, predict under load
	$(PY) tests/bench/bench_synth.py
	$(PY) tests/bench/bench_training.py
	$(PY) tests/bench/bench_predict.py

clean: ## Remove synthesized stacks, build outputs and caches (keeps .venv)
	rm -rf infra/cdktf.out build .pytest_cache .ruff_cache

env-required:
	$(if $(ENV),,$(error ENV is required, e.g. `make $(MAKECMDGOALS) ENV=dev` (environments: $(ENVIRONMENTS))))
