# Two commands matter: `make run` (the dashboard at http://127.0.0.1:8050) and `make test` (every test).
# Both create .venv and install the pinned requirements on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint bench system-deps services clean

$(VENV)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(PY) app.py

# Browser tests use Debian's Chromium (Playwright cannot download browsers here); install it as root if missing.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-dejavu-core; \
		else \
			echo "Chromium is missing: run 'sudo apt-get install -y chromium fonts-dejavu-core'"; exit 1; \
		fi; \
	fi

# Database tests need the PostgreSQL server (TEST_POSTGRES_URL, default 127.0.0.1:5432/test).
services:
	@scripts/ensure_postgres.sh

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

test: $(VENV)/.dev system-deps services lint
	$(PY) -m pytest

bench: $(VENV)/.runtime
	$(PY) bench/overview.py

clean:
	rm -rf $(VENV) tests/artifacts .pytest_cache .ruff_cache
