# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
# Each creates .venv itself when it is missing (or when pyproject.toml changed).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# checkov lives in its own venv: its bc-python-hcl2 installs the same `hcl2` module as
# python-hcl2 (used by the tests), and the two clash in one environment.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
# The peer of the benchmark (fabfuel's ecs-deploy) in its own venv, never in .venv.
PEER_VERSION := 1.17.0
BENCH_VENV   := .venv-bench
BENCH_STAMP  := $(BENCH_VENV)/.installed-$(PEER_VERSION)
# GitHub's expression engine (npm @actions/expressions, pinned in its package-lock.json): the
# workflow tests evaluate every condition with it.
EXPRESSIONS       := tests/actions/expressions
EXPRESSIONS_STAMP := $(EXPRESSIONS)/node_modules/.installed

# The AWS provider's schema for the offline schema gate (tests/infra/test_provider_schema.py),
# read from the cdktf wheel generated from hashicorp/aws 5.100.0; the index is kept in .venv.
PROVIDER_SCHEMA := $(VENV)/provider-schema/aws-5.100.0.json

.PHONY: demo test test-unit lint typecheck pytest clean checkov-venv bench lock provider-schema system-packages

# requirements.lock: shipline's runtime dependencies (and its build backend), every version
# pinned with its hashes, for Python 3.11+ on every platform. setup-shipline installs exactly
# these; so does .venv, first, so the tests run the same versions. `make lock` regenerates it.
LOCK      := requirements.lock
UV_VERSION := 0.13.8
LOCK_VENV := .venv-lock
LOCK_STAMP := $(LOCK_VENV)/.installed-$(UV_VERSION)

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[sim,dev]'
	touch $(STAMP)

$(LOCK_STAMP):
	test -x $(LOCK_VENV)/bin/python || $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'
	touch $(LOCK_STAMP)

# The project's dependencies and build-system requirements, resolved for every Python >= 3.11.
lock: $(LOCK_STAMP)
	$(PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
	  | $(LOCK_VENV)/bin/uv pip compile pyproject.toml - --universal --python-version 3.11 \
	    --generate-hashes --custom-compile-command 'make lock' --output-file $(LOCK)

$(CHECKOV_STAMP):
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'checkov==$(CHECKOV_VERSION)'
	touch $(CHECKOV_STAMP)

checkov-venv: $(CHECKOV_STAMP)

$(EXPRESSIONS_STAMP): $(EXPRESSIONS)/package-lock.json
	cd $(EXPRESSIONS) && npm ci --no-audit --no-fund --ignore-scripts
	touch $(EXPRESSIONS_STAMP)

$(PROVIDER_SCHEMA): tests/support/infra/provider_schema.py | $(STAMP)
	rm -rf $(VENV)/provider-schema/wheel
	$(BIN)/python -m pip download --quiet --disable-pip-version-check --no-deps \
	  -d $(VENV)/provider-schema/wheel 'cdktf-cdktf-provider-aws==20.1.0'
	$(BIN)/python tests/support/infra/provider_schema.py build \
	  $(VENV)/provider-schema/wheel/cdktf_cdktf_provider_aws-20.1.0-py3-none-any.whl $@
	rm -rf $(VENV)/provider-schema/wheel

provider-schema: $(PROVIDER_SCHEMA)

$(BENCH_STAMP):
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'ecs-deploy==$(PEER_VERSION)'
	touch $(BENCH_STAMP)

# Figures, not tests: start-up time, shipline against ecs-deploy, reading a long history.
bench: $(STAMP) $(BENCH_STAMP)
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/deploy_vs_peer.py --peer $(BENCH_VENV)/bin/ecs
	$(BIN)/python bench/insights_speed.py

demo: $(STAMP)
	$(BIN)/shipline demo

test: lint typecheck pytest

# The unit layer alone, in seconds: no sandbox, registry, runner or Terraform tools.
test-unit: lint typecheck
	$(BIN)/pytest tests/unit

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy, strict, on the package as .venv installs it ([tool.mypy] in pyproject.toml says what).
typecheck: $(STAMP)
	$(BIN)/mypy

# Debian packages some tests use (a real registry, htpasswd, jq, Node.js): installed when
# missing as root, otherwise the one command to run is printed.
system-packages:
	bash tests/system-packages.sh

# Two workers, whole files each: a file's module fixtures (registries, sandboxes) stay together.
pytest: system-packages $(STAMP) $(CHECKOV_STAMP) $(EXPRESSIONS_STAMP) $(PROVIDER_SCHEMA)
	$(BIN)/pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(BENCH_VENV) $(LOCK_VENV) $(EXPRESSIONS)/node_modules .pytest_cache .ruff_cache .mypy_cache
