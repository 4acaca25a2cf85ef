# paygate: the single entry point. `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAMBDA_ENVS := $(VENV)/lambda
LAMBDA_STAMP := $(LAMBDA_ENVS)/.installed
# checkov in a venv of its own: it pins boto3 and packaging below what paygate needs (requirements-checkov.lock).
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
CHECKOV := $(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download
STATE_DIR ?= .paygate
PORT ?= 3000
PYTEST_ARGS ?=
BACKEND ?= moto
MINISTACK_PORT ?= 4567

.DEFAULT_GOAL := help

.PHONY: help setup run test test-unit test-integration test-e2e conformance conformance-localstack conformance-ministack conformance-table bench-reload test-localstack localstack-setup clean-localstack ministack-setup ministack deploy-ministack test-ministack lint invoke fuzz docs-screenshot bench bench-compare bench-restart run-metered crash-campaign simulate simulate-long lock clean

help: ## list every target
	@grep -E '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "paygate needs Python 3.11 or newer as $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

# The functions' own environments (.venv/lambda/python3.12, ...): the interpreter each Runtime of
# template.yaml names, with the layer's requirements and boto3 pinned by requirements.lock. Without
# that interpreter on the machine it says so, and paygate dev runs the functions on the venv's Python.
$(LAMBDA_STAMP): $(STAMP) layers/core/requirements.txt template.yaml tests/fixtures/runtime/template.yaml
	$(BIN)/python -m paygate_local.lambda_.interpreters
	$(BIN)/python -m paygate_local.lambda_.interpreters --template tests/fixtures/runtime/template.yaml
	@touch $(LAMBDA_STAMP)

$(CHECKOV_STAMP): $(STAMP) requirements-checkov.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --no-deps -r requirements-checkov.lock
	@touch $(CHECKOV_STAMP)

setup: $(STAMP) $(LAMBDA_STAMP) $(CHECKOV_STAMP) ## create .venv with the pinned dependencies and the `paygate` command (+ .venv/lambda, .venv/checkov)

run: setup ## run the whole gateway locally (paygate dev, no Docker): API on 127.0.0.1:3000 (PORT=..., BACKEND=localstack)
	$(BIN)/paygate dev --port $(PORT) --state-dir $(STATE_DIR) --backend $(BACKEND)

test: setup ## every test that needs no Docker: unit, integration (moto) and e2e (paygate dev)
	$(BIN)/python -m pytest tests --ignore-glob='tests/integration/test_localstack_*.py' \
		--ignore-glob='tests/integration/test_ministack_*.py' $(PYTEST_ARGS)

test-unit: setup ## pure domain and service tests, no sockets
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup ## handlers against moto, tables and queues from template.yaml
	$(BIN)/python -m pytest tests/integration $(PYTEST_ARGS)

test-e2e: setup ## the whole stack over HTTP on the local runtime
	$(BIN)/python -m pytest tests/e2e $(PYTEST_ARGS)

conformance: setup ## the conformance suite on moto (documented AWS behaviours of Lambda, mappings, API Gateway): tests/conformance/results/moto.json
	PAYGATE_CONFORMANCE_RESULTS=tests/conformance/results/moto.json $(BIN)/python -m pytest tests/conformance $(PYTEST_ARGS)

conformance-localstack: setup localstack-setup ## the conformance suite with LocalStack on the host as paygate dev's AWS backend (no Docker)
	PAYGATE_CONFORMANCE_BACKEND=localstack PAYGATE_CONFORMANCE_RESULTS=tests/conformance/results/localstack.json \
		$(BIN)/python -m pytest tests/conformance $(PYTEST_ARGS)

conformance-ministack: setup ministack-setup ## the conformance stack deployed into MiniStack (sam build + deploy; its own Lambda, mappings, API Gateway); minutes
	PAYGATE_CONFORMANCE_BACKEND=ministack PAYGATE_CONFORMANCE_RESULTS=tests/conformance/results/ministack.json \
		$(BIN)/python -m pytest tests/conformance $(PYTEST_ARGS)

conformance-table: setup ## docs/conformance.md's table (behaviour x backend) from tests/conformance/results/*.json
	$(BIN)/python tests/conformance/table.py

localstack-setup: ## prepare LocalStack host mode (Python 3.13 venv, DynamoDB Local, kinesis-mock) and the deployer with MiniStack (Python 3.12 venvs); once, ~2.5 min
	bash localstack/setup-host.sh
	bash localstack/setup-deployer.sh

test-localstack: setup localstack-setup ## LocalStack host-mode and setup tests, then the e2e suite against LocalStack (no Docker)
	PAYGATE_LOCALSTACK=1 PAYGATE_E2E_BACKEND=localstack $(BIN)/python -m pytest tests/integration/test_localstack_host.py \
		tests/integration/test_localstack_setup.py tests/e2e $(PYTEST_ARGS)

ministack-setup: ## prepare the deployer (SAM CLI) and MiniStack: Python 3.12 venvs in localstack/.state; once, ~70 s
	bash localstack/setup-deployer.sh

ministack: setup ministack-setup ## MiniStack on 127.0.0.1:4567 (no Docker) and the sandbox provider, in the foreground (MINISTACK_PORT=...)
	$(BIN)/paygate ministack --port $(MINISTACK_PORT) --state-dir $(STATE_DIR)

deploy-ministack: setup ministack-setup ## sam build + sam deploy of template.yaml into the running `make ministack`, a merchant: .paygate/ministack.json
	$(BIN)/paygate ministack deploy --state-dir $(STATE_DIR)

test-ministack: setup ministack-setup ## deploy.py against MiniStack's CloudFormation, then the e2e suite against template.yaml deployed in MiniStack
	PAYGATE_MINISTACK=1 PAYGATE_E2E_BACKEND=ministack $(BIN)/python -m pytest tests/integration/test_ministack_deploy.py \
		tests/e2e $(PYTEST_ARGS)

clean-localstack: ## remove the LocalStack host-mode install, the deployer and MiniStack (localstack/.state)
	rm -rf localstack/.state

lint: setup ## ruff on the Python code, cfn-lint and checkov on the SAM template (every checkov skip says why in the template)
	$(BIN)/ruff check .
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV) --quiet --compact

invoke: setup ## one function, one event, no Docker (like sam local invoke): make invoke FN=ApiFunction EVENT=events/api/health.json [STATE_DIR=.paygate]
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=ApiFunction EVENT=events/api/health.json [STATE_DIR=.paygate]"; exit 2; }
	$(BIN)/paygate invoke $(FN) $(EVENT) $(if $(STATE_DIR),--state-dir $(STATE_DIR))

fuzz: setup ## schemathesis against paygate dev from its /openapi.json: at least 1,000 requests, no 5xx, every answer as documented (FUZZ_ARGS="--requests N --seed S")
	$(BIN)/python -m tools.fuzz $(FUZZ_ARGS)

docs-screenshot: setup ## the API reference (/docs) rendered by headless Chromium: docs/api-reference.png, groups checked (apt-get install chromium first)
	$(BIN)/python -m tools.screenshot $(SCREENSHOT_ARGS)

bench: setup ## paygate dev end to end: payments/s, webhook latency, AWS calls, WRU/RRU, $ per 1M payments, idle CPU, cold imports (BENCH_ARGS="--help")
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-compare: setup ## the same, side by side with another tree in one run (BASELINE=/path/to/tree with its own .venv)
	@test -n "$(BASELINE)" || { echo "usage: make bench-compare BASELINE=/path/to/tree"; exit 2; }
	$(BIN)/python -m bench.compare --baseline $(BASELINE) $(BENCH_ARGS)

crash-campaign: setup ## SIGKILL paygate dev at random moments under load, restart, check nothing answered is lost (KILLS=20 PAYMENTS=500)
	PAYGATE_CAMPAIGN_KILLS=$(or $(KILLS),20) PAYGATE_CAMPAIGN_PAYMENTS=$(or $(PAYMENTS),500) \
		$(BIN)/python -m pytest tests/e2e/test_crash.py -k random -s $(PYTEST_ARGS)

simulate: setup ## the whole gateway in one process under seeded faults, one JSON line (SEED=7 PAYMENTS=10000); docs/simulation.md
	@PYTHONHASHSEED=0 PYTHONPATH=infra $(BIN)/python -m paygate_sim --seed $(or $(SEED),7) --payments $(or $(PAYMENTS),10000) --json

simulate-long: setup ## seed after seed for MINUTES (default 10) at PAYMENTS each (default 1000): a line per seed, then the totals
	@PYTHONHASHSEED=0 PYTHONPATH=infra $(BIN)/python -m paygate_sim.long --minutes $(or $(MINUTES),10) --payments $(or $(PAYMENTS),1000)

bench-restart: setup ## time paygate dev's start with 10,000 stored payments (BENCH_ARGS="--payments N")
	$(BIN)/python -m bench.restart $(BENCH_ARGS)

bench-reload: setup ## hot reload: from a save of a function's code to the first answer with it (BENCH_ARGS="--saves N")
	$(BIN)/python -m bench.reload $(BENCH_ARGS)

run-metered: setup ## make run with make bench's meters in it, for make bench BENCH_ARGS="--state-dir .paygate"
	$(BIN)/python bench/inject/metered_dev.py dev --port $(PORT) --state-dir $(STATE_DIR) --backend $(BACKEND)

lock: ## re-pin every dependency into requirements.lock (after changing pyproject.toml)
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv && .lockvenv/bin/pip install --quiet -e '.[dev]'
	.lockvenv/bin/pip freeze --exclude-editable | grep -v '^paygate' > requirements.lock
	rm -rf .lockvenv

clean: ## remove the venv, local state and caches
	rm -rf $(VENV) $(STATE_DIR) .pytest_cache .aws-sam
