# Kaizen Reports — the two commands are `make demo` and `make test`; both set everything up.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
AS_OF ?=
SYSPKGS := chromium postgresql fonts-dejavu-core poppler-utils

.PHONY: install sysdeps demo test test-fast lint bench screenshots clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

# Debian packages the test suite drives for real: headless Chromium, a PostgreSQL server and
# poppler-utils (pdftotext, pdftoppm: the PDF reports read back).
sysdeps:
	@missing=""; command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v pdftotext >/dev/null || missing="$$missing poppler-utils"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSPKGS) >/dev/null; \
	  else echo "please install Debian packages:$$missing (sudo apt-get install $(SYSPKGS))"; exit 1; fi; \
	fi

demo: $(STAMP)
	$(BIN)/kaizen-reports demo --dir demo --output reports $(if $(AS_OF),--as-of $(AS_OF))
	@echo "Open reports/latest/index.html in a browser."

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup --durations=15

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests benchmarks tools
	$(BIN)/ruff format --check pipeline tests benchmarks tools
	$(BIN)/mypy pipeline
	$(BIN)/lint-imports

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

screenshots: $(STAMP) sysdeps demo
	$(BIN)/python -m tools.screenshots reports/latest screenshots

clean:
	rm -rf demo reports/*/ reports/latest screenshots .pytest_cache
