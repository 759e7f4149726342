# eventbus developer/CI entry points.
#
#   make test    lint + Django 5.2 and 6.1 tests, each on SQLite and PostgreSQL, + Django's own
#                signal test suites with and without eventbus on both legs + the example shop's
#                tests on both legs (one drives it in Debian's chromium) + docs
#   make demo    serve the example shop on http://127.0.0.1:8000/ (`python -m example_asgi`,
#                Ctrl-C to stop), through Redis at $REDIS_URL if it answers, else alone;
#                options go in DEMO_ARGS: make demo DEMO_ARGS='--port 8001 --workers 2'
#
# Every target bootstraps the virtualenv it needs on first use, so a fresh clone
# needs nothing but GNU make, bash and the interpreters:
#   .venv       Python 3.11 + Django 5.2.x + all extras (lint, tests, docs, benchmarks)
#   .venv-dj61  Python 3.13 + Django 6.1.x + test extras
#   .venv-demo  Python 3.11 + Django 5.2.x + what the demo needs (the example and redis extras)
# Nothing has to be activated in the calling shell. Interpreters can be forced
# with PYTHON_DJ52=/path/to/python3.11 and PYTHON_DJ61=/path/to/python3.13.
# Extra pytest arguments: make test-dj52 PYTEST_ARGS='-k ordering -x'.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:
MAKEFLAGS += --no-builtin-rules

# mkdocs-material >= 9.7 prints an end-of-life/"MkDocs 2.0" banner on every build.
export NO_MKDOCS_2_WARNING := 1

# Do not let the caller's environment leak into the builds/tests.
unexport VIRTUAL_ENV PYTHONHOME PYTHONPATH DJANGO_SETTINGS_MODULE

VENV := .venv
VENV_DJ61 := .venv-dj61
VENV_DEMO := .venv-demo
STAMP := $(VENV)/.stamp
STAMP_DJ61 := $(VENV_DJ61)/.stamp
STAMP_DEMO := $(VENV_DEMO)/.stamp
PY := $(VENV)/bin/python
PY_DJ61 := $(VENV_DJ61)/bin/python
PY_DEMO := $(VENV_DEMO)/bin/python

DJANGO_DJ52 := Django>=5.2,<5.3
DJANGO_DJ61 := Django>=6.1,<6.2

PIP_FLAGS := --disable-pip-version-check --no-input --progress-bar off
PYTEST_ARGS ?=
DEMO_ARGS ?=
COV_ARGS := --cov=eventbus --cov-branch --cov-report=term-missing

# $(call find_python,X.Y): absolute path of a working pythonX.Y, or empty.
# Tries, in order: the newest pyenv-installed X.Y.* via `pyenv which` (pyenv
# shims only resolve the active version), the same under $PYENV_ROOT (or
# ~/.pyenv) when pyenv is not on PATH, then pythonX.Y on PATH. Each candidate
# must really run and be X.Y.
define find_python
$(strip $(shell \
  v=$$(pyenv versions --bare 2>/dev/null | grep -E '^$(1)\.[0-9]+$$' | sort -V | tail -n1 || true); \
  for c in "$$( [ -n "$$v" ] && PYENV_VERSION=$$v pyenv which python$(1) 2>/dev/null || true)" \
           $$(ls -d "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/$(1).*/bin/python$(1) 2>/dev/null | sort -rV || true) \
           "$$(command -v python$(1) 2>/dev/null || true)"; do \
    if [ -n "$$c" ] && "$$c" -c 'import sys; sys.exit("%d.%d" % sys.version_info[:2] != "$(1)")' >/dev/null 2>&1; then \
      echo "$$c"; break; \
    fi; \
  done))
endef

# Resolved lazily and at most once per make run (only targets that need them pay).
PYTHON_DJ52 ?= $(eval PYTHON_DJ52 := $(call find_python,3.11))$(PYTHON_DJ52)
PYTHON_DJ61 ?= $(eval PYTHON_DJ61 := $(call find_python,3.13))$(PYTHON_DJ61)

define DJ61_WARNING
printf '%s\n' \
  '' \
  '############################################################################' \
  '##                                                                        ##' \
  '##   WARNING: Python 3.13 not found: the Django 6.1 leg did NOT run.      ##' \
  '##                                                                        ##' \
  '##   Only Python 3.11 + Django 5.2 was tested. Install Python 3.13        ##' \
  '##   (e.g. `pyenv install 3.13`) or run                                   ##' \
  '##   `make test-dj61 PYTHON_DJ61=/path/to/python3.13`.                    ##' \
  '##                                                                        ##' \
  '############################################################################' \
  '' >&2
endef

# $(call make_venv,DIR,BASE_PYTHON): (re)create DIR unless it already holds a
# working interpreter of the same X.Y as BASE_PYTHON.
define make_venv
want=$$("$(2)" -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
have=$$("$(1)/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true); \
if [ "$$want" != "$$have" ]; then \
  echo "==> creating $(1) with $(2) (Python $$want)"; \
  rm -rf "$(1)"; \
  "$(2)" -m venv "$(1)"; \
fi
endef

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_.-]+:.*## / {printf "  %-18s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# --------------------------------------------------------------------------
# Virtualenvs (stamp files: re-synced whenever pyproject.toml or this file changes)
# --------------------------------------------------------------------------

.PHONY: .venv
.venv: $(STAMP) ## Create/update the Python 3.11 + Django 5.2 dev virtualenv

$(STAMP): pyproject.toml Makefile
	@if [ -z "$(PYTHON_DJ52)" ]; then \
	  echo "error: Python 3.11 not found (install it, e.g. 'pyenv install 3.11', or pass PYTHON_DJ52=/path/to/python3.11)" >&2; \
	  exit 1; \
	fi
	@$(call make_venv,$(VENV),$(PYTHON_DJ52))
	$(PY) -m pip install $(PIP_FLAGS) --upgrade pip
	$(PY) -m pip install $(PIP_FLAGS) -e '.[dev]' '$(DJANGO_DJ52)'
	@touch $@

.PHONY: .venv-dj61
.venv-dj61: ## Create/update the Python 3.13 + Django 6.1 test virtualenv
	@if [ -z "$(PYTHON_DJ61)" ]; then $(DJ61_WARNING); else $(MAKE) --no-print-directory $(STAMP_DJ61); fi

$(STAMP_DJ61): pyproject.toml Makefile
	@test -n "$(PYTHON_DJ61)" || { echo "error: Python 3.13 not found" >&2; exit 1; }
	@$(call make_venv,$(VENV_DJ61),$(PYTHON_DJ61))
	$(PY_DJ61) -m pip install $(PIP_FLAGS) --upgrade pip
	$(PY_DJ61) -m pip install $(PIP_FLAGS) -e '.[test]' '$(DJANGO_DJ61)'
	@touch $@

.PHONY: .venv-demo
.venv-demo: $(STAMP_DEMO) ## Create/update the demo's virtualenv (the example shop's needs only)

$(STAMP_DEMO): pyproject.toml Makefile
	@if [ -z "$(PYTHON_DJ52)" ]; then \
	  echo "error: Python 3.11 not found (install it, e.g. 'pyenv install 3.11', or pass PYTHON_DJ52=/path/to/python3.11)" >&2; \
	  exit 1; \
	fi
	@$(call make_venv,$(VENV_DEMO),$(PYTHON_DJ52))
	$(PY_DEMO) -m pip install $(PIP_FLAGS) --upgrade pip
	$(PY_DEMO) -m pip install $(PIP_FLAGS) -e '.[example,redis]' '$(DJANGO_DJ52)'
	@touch $@

# --------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------

.PHONY: lint
lint: $(STAMP) ## ruff check + ruff format --check + mypy (strict)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

.PHONY: format
format: $(STAMP) ## Apply ruff autofixes and formatting
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

.PHONY: test-dj52
test-dj52: $(STAMP) ## Tests on Python 3.11 + Django 5.2 with the coverage gate (>= 95%)
	@$(PY) -c 'import sys, django; print("==> Python %s, Django %s" % (sys.version.split()[0], django.get_version()))'
	$(PY) -m pytest $(COV_ARGS) --cov-fail-under=95 $(PYTEST_ARGS)

.PHONY: test-dj61
test-dj61: ## Tests on Python 3.13 + Django 6.1 (coverage reported, not gated)
	@if [ -z "$(PYTHON_DJ61)" ]; then $(DJ61_WARNING); exit 0; fi; \
	$(MAKE) --no-print-directory $(STAMP_DJ61); \
	$(PY_DJ61) -c 'import sys, django; print("==> Python %s, Django %s" % (sys.version.split()[0], django.get_version()))'; \
	echo '$(PY_DJ61) -m pytest $(COV_ARGS) --cov-fail-under=0 $(PYTEST_ARGS)'; \
	COVERAGE_FILE=.coverage.dj61 $(PY_DJ61) -m pytest $(COV_ARGS) --cov-fail-under=0 $(PYTEST_ARGS)

# PostgreSQL legs: the same suite against the server on 127.0.0.1:5432 (database
# `test`, user `postgres`, trust auth), which .ci/run makes sure is up.
PG_CHECK := import psycopg; psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=5).close()
define PG_MISSING
{ echo "error: PostgreSQL does not answer on 127.0.0.1:5432 (database test, user postgres)." >&2; \
  echo "       Start it (see .ci/run), or run only the SQLite legs: make test-dj52 test-dj61." >&2; exit 1; }
endef

.PHONY: test-dj52-pg
test-dj52-pg: $(STAMP) ## Tests on Python 3.11 + Django 5.2 against PostgreSQL
	@$(PY) -c '$(PG_CHECK)' || $(PG_MISSING)
	EVENTBUS_TEST_DB=postgres $(PY) -m pytest $(PYTEST_ARGS)

.PHONY: test-dj61-pg
test-dj61-pg: ## Tests on Python 3.13 + Django 6.1 against PostgreSQL
	@if [ -z "$(PYTHON_DJ61)" ]; then $(DJ61_WARNING); exit 0; fi; \
	$(MAKE) --no-print-directory $(STAMP_DJ61); \
	$(PY_DJ61) -c '$(PG_CHECK)' || $(PG_MISSING); \
	echo 'EVENTBUS_TEST_DB=postgres $(PY_DJ61) -m pytest $(PYTEST_ARGS)'; \
	EVENTBUS_TEST_DB=postgres $(PY_DJ61) -m pytest $(PYTEST_ARGS)

# Django's own tests of signals and of what sends them, from the source distribution of the
# installed Django (downloaded from PyPI once, then kept in .cache/django-src/), run plain, with
# django.dispatch.Signal replaced by eventbus.Signal, and with the eventbus app's bridge relaying;
# each test must end as in the plain run (see tests/django_suites/ and docs/migrating.md).
# Excluded from the main pytest runs above, which would repeat them on every database.
DJANGO_SUITES_PYTEST := pytest tests/django_suites

.PHONY: test-django-dj52
test-django-dj52: $(STAMP) ## Django 5.2's own signal test suites, plain vs. with eventbus
	$(PY) -m $(DJANGO_SUITES_PYTEST) $(PYTEST_ARGS)

.PHONY: test-django-dj61
test-django-dj61: ## Django 6.1's own signal test suites, plain vs. with eventbus
	@if [ -z "$(PYTHON_DJ61)" ]; then $(DJ61_WARNING); exit 0; fi; \
	$(MAKE) --no-print-directory $(STAMP_DJ61); \
	echo '$(PY_DJ61) -m $(DJANGO_SUITES_PYTEST) $(PYTEST_ARGS)'; \
	$(PY_DJ61) -m $(DJANGO_SUITES_PYTEST) $(PYTEST_ARGS)

# The example shop (example_asgi/): its own settings, so its own pytest runs. They include a
# browser test that serves the shop the README's way and drives it in /usr/bin/chromium
# (Debian's chromium package, which .ci/run installs; skipped without it, failed on CI).
EXAMPLE_PYTEST := pytest example_asgi/tests --ds=example_asgi.settings -p no:cacheprovider

.PHONY: test-example-dj52
test-example-dj52: $(STAMP) ## The example shop's tests, with the browser test, on Python 3.11 + Django 5.2
	$(PY) -m $(EXAMPLE_PYTEST) $(PYTEST_ARGS)

.PHONY: test-example-dj61
test-example-dj61: ## The example shop's tests, with the browser test, on Python 3.13 + Django 6.1
	@if [ -z "$(PYTHON_DJ61)" ]; then $(DJ61_WARNING); exit 0; fi; \
	$(MAKE) --no-print-directory $(STAMP_DJ61); \
	echo '$(PY_DJ61) -m $(EXAMPLE_PYTEST) $(PYTEST_ARGS)'; \
	$(PY_DJ61) -m $(EXAMPLE_PYTEST) $(PYTEST_ARGS)

.PHONY: docs
docs: $(STAMP) ## Build the documentation strictly into site/
	$(PY) -m mkdocs build --strict

.PHONY: test
test: lint test-dj52 test-dj52-pg test-dj61 test-dj61-pg test-django-dj52 test-django-dj61 test-example-dj52 test-example-dj61 docs ## THE test command: lint, both Django legs on SQLite and PostgreSQL, Django's own signal suites, the example shop, docs
	@if [ -z "$(PYTHON_DJ61)" ]; then \
	  $(DJ61_WARNING); \
	  echo "==> make test: lint, Django 5.2 tests (SQLite, PostgreSQL), Django 5.2's own signal suites, the example shop's tests and docs passed; Django 6.1 leg SKIPPED (see above)."; \
	else \
	  echo "==> make test: lint, Django 5.2 and 6.1 tests on SQLite and PostgreSQL, Django's own signal suites and the example shop's tests on both, and docs all passed."; \
	fi

# --------------------------------------------------------------------------
# Benchmarks (python -m benchmarks; see docs/benchmarks.md)
# --------------------------------------------------------------------------

BENCH_RESULTS := benchmarks/results
BENCH_QUICK_DIR ?= $(or $(TMPDIR),/tmp)/eventbus-bench-quick
BENCH_DEPS_OK := import blinker, psygnal, matplotlib, redis, channels, channels_redis

# $(call bench_leg,PYTHON,EXTRAS,DJANGO_PIN,BENCH_ARGS): install the bench extra
# into the leg's virtualenv if it is missing, then run the suite there.
define bench_leg
$(1) -c '$(BENCH_DEPS_OK)' 2>/dev/null || $(1) -m pip install $(PIP_FLAGS) -e '.[$(2),bench]' '$(3)'; \
echo '$(1) -m benchmarks $(4)'; \
$(1) -m benchmarks $(4)
endef

.PHONY: bench
bench: $(STAMP) ## Benchmarks on both legs (a few minutes each); rewrites docs/benchmarks.md + charts
	@$(call bench_leg,$(PY),dev,$(DJANGO_DJ52),--json $(BENCH_RESULTS)/dj52.json)
	@if [ -z "$(PYTHON_DJ61)" ]; then $(DJ61_WARNING); else \
	  $(MAKE) --no-print-directory $(STAMP_DJ61); \
	  $(call bench_leg,$(PY_DJ61),test,$(DJANGO_DJ61),--json $(BENCH_RESULTS)/dj61.json); \
	fi
	$(PY) -m benchmarks --render docs/benchmarks.md $(BENCH_RESULTS)/dj52.json $(BENCH_RESULTS)/dj61.json

.PHONY: bench-quick
bench-quick: $(STAMP) ## Quick benchmarks on both legs (< 1 minute each) into BENCH_QUICK_DIR; docs untouched
	@mkdir -p '$(BENCH_QUICK_DIR)'; rm -f '$(BENCH_QUICK_DIR)/dj52.json' '$(BENCH_QUICK_DIR)/dj61.json'
	@$(call bench_leg,$(PY),dev,$(DJANGO_DJ52),--quick --json '$(BENCH_QUICK_DIR)/dj52.json')
	@if [ -z "$(PYTHON_DJ61)" ]; then $(DJ61_WARNING); else \
	  $(MAKE) --no-print-directory $(STAMP_DJ61); \
	  $(call bench_leg,$(PY_DJ61),test,$(DJANGO_DJ61),--quick --json '$(BENCH_QUICK_DIR)/dj61.json'); \
	fi
	$(PY) -m benchmarks --render '$(BENCH_QUICK_DIR)/benchmarks.md' '$(BENCH_QUICK_DIR)/dj52.json' '$(BENCH_QUICK_DIR)/dj61.json'

# --------------------------------------------------------------------------
# Misc
# --------------------------------------------------------------------------

# With Redis answering at $(REDIS_URL) (default redis://127.0.0.1:6379/0) the shop shares its
# events through it, and DEMO_ARGS='--workers 2' serves it from two worker processes; without,
# one process serves alone (and --workers above 1 is refused).
.PHONY: demo
demo: $(STAMP_DEMO) ## Serve the example shop on http://127.0.0.1:8000/ (python -m example_asgi; DEMO_ARGS='--port 8001 --workers 2')
	$(PY_DEMO) -m example_asgi $(DEMO_ARGS)

.PHONY: info
info: ## Show the interpreters each leg will use
	@echo "Django 5.2 leg: $(or $(PYTHON_DJ52),NOT FOUND) ($(if $(PYTHON_DJ52),$$($(PYTHON_DJ52) --version 2>&1),-))"
	@echo "Django 6.1 leg: $(or $(PYTHON_DJ61),NOT FOUND -> leg will be SKIPPED) ($(if $(PYTHON_DJ61),$$($(PYTHON_DJ61) --version 2>&1),-))"

.PHONY: clean
clean: ## Remove virtualenvs, caches and build output
	rm -rf $(VENV) $(VENV_DJ61) $(VENV_DEMO) site build dist artifacts .coverage .coverage.* coverage.xml htmlcov \
	  .mypy_cache .ruff_cache .pytest_cache .cache *.egg-info
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
