# tradingsite: `make run` starts the platform, `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WEB_PORT ?= 8000
WALLET_SOURCES_PORT ?= 8765
FLOWER_PORT ?= 5555
# The copy demo copies on the paper account; COPY_DEMO_VENUE=clob copies on a polymarket account against the CLOB
# V2 emulator (signed, posted and filled through the real venue code), served by the sources process.
COPY_DEMO_VENUE ?= paper
ifeq ($(COPY_DEMO_VENUE),clob)
WALLET_CLOB_PORT ?= 8766
COPY_DEMO_ARGS := --clob-url http://127.0.0.1:$(WALLET_CLOB_PORT)
else
WALLET_CLOB_PORT := 0
COPY_DEMO_ARGS :=
endif
# make run: Flower's login and the /metrics bearer token, made up for this run unless given.
ifndef FLOWER_BASIC_AUTH
FLOWER_BASIC_AUTH := operator:$(shell $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(12))')
endif
ifndef METRICS_BEARER_TOKEN
METRICS_BEARER_TOKEN := $(shell $(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(24))')
endif
export WEB_PORT WALLET_SOURCES_PORT FLOWER_PORT FLOWER_BASIC_AUTH METRICS_BEARER_TOKEN WALLET_CLOB_PORT

# A production-like environment for `check --deploy` (random key, never stored).
DEPLOY_ENV = DEBUG=False ALLOWED_HOSTS=tradingsite.example SECRET_KEY=$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(64))') CREDENTIALS_KEY=$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')

.PHONY: setup services run test lint format bench coverage clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11 or newer is needed"' \
	  || { echo "Python 3.11+ is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@touch $(STAMP)

services:
	@scripts/services.sh

setup: $(STAMP) services
	@mkdir -p var
	$(BIN)/python manage.py ensure_database
	$(BIN)/python manage.py migrate --noinput

run: setup
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@$(BIN)/python manage.py setup_demo
	@$(BIN)/python manage.py load_strategy configs/strategies/optimized_strategy.yaml
	@$(BIN)/python manage.py setup_copy_demo $(COPY_DEMO_ARGS)
	@$(BIN)/python manage.py setup_demo --exchange paper-portfolio
	@$(BIN)/python manage.py rebalance --targets configs/rebalance/demo.yaml
	@$(BIN)/python manage.py ensure_operator
	@echo
	@echo "  dashboard http://127.0.0.1:$(WEB_PORT)/dashboard/"
	@echo "  admin     http://127.0.0.1:$(WEB_PORT)/admin/"
	@echo "  API docs  http://127.0.0.1:$(WEB_PORT)/api/docs/"
	@echo "  health    http://127.0.0.1:$(WEB_PORT)/healthz"
	@echo "  metrics   http://127.0.0.1:$(WEB_PORT)/metrics  (header 'Authorization: Bearer $(METRICS_BEARER_TOKEN)')"
	@echo "  flower    http://127.0.0.1:$(FLOWER_PORT)/  (login $(FLOWER_BASIC_AUTH))"
	@echo
	@rm -rf var/prometheus  # the metrics of this run's processes only (Prometheus takes counter resets in stride)
	@$(BIN)/python scripts/supervisord_conf.py >/dev/null
	POLYMARKET_DATA_API_URL=$${POLYMARKET_DATA_API_URL:-http://127.0.0.1:$(WALLET_SOURCES_PORT)} \
	ETHERSCAN_API_URL=$${ETHERSCAN_API_URL:-http://127.0.0.1:$(WALLET_SOURCES_PORT)/v2/api} \
	exec $(BIN)/supervisord -c var/supervisord.conf

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: setup lint
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(DEPLOY_ENV) $(BIN)/python manage.py check --deploy --fail-level WARNING
	$(BIN)/python -m pytest

coverage: setup
	rm -rf var/coverage && mkdir -p var/coverage
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine --quiet
	$(BIN)/coverage report

bench: setup
	$(BIN)/python bench/run.py all

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
