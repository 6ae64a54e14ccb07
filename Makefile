# Weihai Planning Atlas. `make run` serves the map; `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
export HOST PORT
# make serve: granian, WORKERS processes x THREADS threads running the app (a long export ties up
# one thread, not a worker); SERVER=gunicorn for gunicorn gthread (GUNICORN_THREADS, CONNECTIONS,
# TIMEOUT); override any of these
SERVER           ?= granian
WORKERS          ?= 2
THREADS          ?= 4
GUNICORN_THREADS ?= 8
# gunicorn: connections a worker holds at once (busy and kept alive): 1.5 x its threads, so
# keep-alive clients spread over the workers instead of one worker taking them all (bench/RESULTS.md)
CONNECTIONS      ?= 12
TIMEOUT          ?= 300
GRACEFUL_TIMEOUT ?= 30

.PHONY: run serve setup test-setup build store test browser-deps pg-deps qgis-deps bench clean

run: setup store ## set up, build the store if missing, say how to make the first admin, serve on http://$(HOST):$(PORT)
	@$(BIN)/python -m flask --app server users status
	$(BIN)/python -m flask --app server run --host $(HOST) --port $(PORT)

serve: setup store ## production serving: granian, WORKERS x THREADS (SERVER=gunicorn: gunicorn gthread)
ifeq ($(SERVER),gunicorn)
	$(BIN)/gunicorn -k gthread -w $(WORKERS) --threads $(GUNICORN_THREADS) --worker-connections $(CONNECTIONS) \
		--timeout $(TIMEOUT) --graceful-timeout $(GRACEFUL_TIMEOUT) -b $(HOST):$(PORT) 'server:create_app()'
else
	$(BIN)/granian --interface wsgi --factory --workers $(WORKERS) --blocking-threads $(THREADS) \
		--workers-kill-timeout $(GRACEFUL_TIMEOUT) --respawn-failed-workers --host $(HOST) --port $(PORT) \
		server:create_app
endif

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

test-setup: $(VENV)/.test-installed browser-deps pg-deps qgis-deps

build: setup ## (re)build the store from layers/data/ (atomic: a failed build keeps the old store)
	$(BIN)/python -m layers.build

store: setup
	$(BIN)/python -m layers.build --if-missing

browser-deps: ## Debian chromium + CJK fonts for the browser tests
	@bash .ci/browser-deps

pg-deps: ## Debian postgresql + PostGIS for the PostGIS store tests (they start a throwaway cluster)
	@bash .ci/postgres

qgis-deps: ## Debian python3-qgis for the tests in which QGIS reads the OGC API
	@bash .ci/qgis

test: test-setup ## set up and run the whole suite
	$(BIN)/python -m pytest

bench: test-setup ## measure; writes bench/RESULTS.md
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) var
