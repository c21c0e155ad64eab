# Two commands do everything on a fresh machine:
#   make run    the product on the embedded default (SQLite, no Redis, the local sandbox), with demo data
#   make test   install, lint, migrations check, the whole suite on PostgreSQL and Redis
# `make help` lists the rest.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# The embedded default: everything in var/, debug on, no external service.
RUN_ENV := DEBUG=true

.PHONY: help install lock run test lint fmt migrate demo worker beat web sandbox bench check-deploy secret-key clean chromium vendor-specs

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-13s %s\n", $$1, $$2}'

# Installs are reproducible: every package, direct or not, at the version and hashes of requirements.lock (made
# from pyproject.toml's ranges by `make lock`); the project itself is installed on top without dependencies.
$(INSTALLED): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Leadline needs Python 3.11 (found %s); set PYTHON=/path/to/python3.11" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	@touch $@

install: $(INSTALLED) ## Create .venv and install the project with its development tools from requirements.lock

lock: $(INSTALLED) ## Re-make requirements.lock from pyproject.toml (after changing a range; `make lock UPGRADE=1` takes newer releases)
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 $(if $(UPGRADE),--upgrade,) --quiet -o requirements.lock

run: $(INSTALLED) ## Run the product: migrate, load the demo, start web + worker + scheduler (http://127.0.0.1:8000)
	@mkdir -p var
	$(RUN_ENV) $(BIN)/python manage.py migrate --noinput
	$(RUN_ENV) $(BIN)/python manage.py createcachetable
	$(RUN_ENV) $(BIN)/python manage.py demo
	$(RUN_ENV) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile.dev

test: $(INSTALLED) chromium ## Lint, check migrations, run the whole suite on PostgreSQL and Redis
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true DATABASE_URL=sqlite://:memory: $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest -n 2  # both cores; the suite starts real servers and workers, so parallelism pays

# The sandbox's shape checks read the vendors' own OpenAPI files, committed in docs/vendors/specs/. This re-downloads
# Zoho's from the pinned commit and checks their SHA-256 (needs GitHub; the tests never download anything).
vendor-specs: $(INSTALLED) ## Re-download Zoho's CRM OpenAPI files (pinned commit and hashes) into docs/vendors/specs/
	$(BIN)/python -m tests.sandbox.fetch_vendor_specs

# The browser tests (tests/browser/) drive Debian's Chromium through Playwright, which downloads no browser itself.
chromium: ## Install Debian's Chromium for the browser tests when it is missing (needs root)
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

lint: $(INSTALLED) ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(INSTALLED) ## Fix what ruff can fix and format the code
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

migrate: $(INSTALLED) ## Apply migrations to the embedded database
	@mkdir -p var
	$(RUN_ENV) $(BIN)/python manage.py migrate

demo: $(INSTALLED) ## Load (or refresh) the demo organization
	$(RUN_ENV) $(BIN)/python manage.py demo

web: $(INSTALLED) ## Only the web process
	$(RUN_ENV) $(BIN)/python manage.py runserver 127.0.0.1:8000

worker: $(INSTALLED) ## Only a Celery worker
	$(RUN_ENV) $(BIN)/celery -A config worker --loglevel info -Q default,messaging,crm,sync,zoho

beat: $(INSTALLED) ## Only the Celery scheduler
	$(RUN_ENV) $(BIN)/celery -A config beat --loglevel info

sandbox: $(INSTALLED) ## Only the sandbox (emulated Zoho and Twilio) on SANDBOX_URL
	$(RUN_ENV) $(BIN)/python manage.py sandbox

bench: $(INSTALLED) ## Benchmarks, reported as ratios against a baseline measured in the same run
	$(BIN)/python -m bench.sandbox_coql
	$(BIN)/python -m bench.inbound_webhook
	$(BIN)/python -m bench.zoho_voice_dedup
	$(BIN)/python -m bench.widget_api
	$(BIN)/python -m bench.sync_mirror --memory-records 100000,1000000
	$(BIN)/python -m bench.sync_mirror_salesforce --memory-records 10000,200000
	$(BIN)/python -m bench.sync_mirror_hubspot --memory-records 10000,200000
	$(BIN)/python -m bench.sync_mirror_dynamics --memory-records 10000,200000
	$(BIN)/python -m bench.links_first_sync --records 50000

check-deploy: $(INSTALLED) ## manage.py check --deploy with production-like settings
	SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	FIELD_ENCRYPTION_KEYS="$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	ALLOWED_HOSTS=leadline.example.com PUBLIC_BASE_URL=https://leadline.example.com \
	$(BIN)/python manage.py check --deploy --fail-level WARNING

secret-key: $(INSTALLED) ## Print a new SECRET_KEY
	@$(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))'

clean: ## Remove the virtualenv and local data (var/)
	rm -rf $(VENV) var .pytest_cache .ruff_cache
