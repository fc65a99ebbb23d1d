# Doorstep: `make run` serves it on the embedded default (SQLite) with the demo forms;
# `make test` runs the whole test suite. Both set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
BIND ?= 0.0.0.0:8000
MO := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/*.po))

.PHONY: run test install chromium nodejs java pgclient bench wrk schema-v1 check clean messages

install: $(STAMP) $(MO)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

# Compiled catalogues are build output (not committed): always made from the .po files.
translations/%.mo: translations/%.po $(STAMP)
	$(BIN)/pybabel -q compile -i $< -o $@

run: install
	$(BIN)/doorstep init
	@$(BIN)/doorstep links address --bind $(BIND)
	$(BIN)/doorstep serve --bind $(BIND)

# Browser tests drive Debian's Chromium; install it (and CJK fonts) when it is missing.
chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }
	@# PDF sheets (WeasyPrint) need Pango and a Chinese font; QR codes are decoded by zxing-cpp (PyPI)
	@{ fc-list :lang=zh | grep -q . && ldconfig -p | grep -q libpangoft2-1.0 && \
	   ldconfig -p | grep -q libharfbuzz-subset; } || { \
	  echo "installing a Chinese font, Pango and HarfBuzz for the PDF sheets"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    fonts-noto-cjk libpangoft2-1.0-0 libharfbuzz-subset0 >/dev/null; }

# Some tests run static/*.js in Node.js (show_if parity, the phone's checks, the outbox); install
# Debian's nodejs and npm when they are missing.
nodejs:
	@{ command -v node && command -v npm; } >/dev/null || { \
	  echo "installing Debian's nodejs and npm for the script tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }

# ODK Validate (inside pyxform) checks that the XLSForm workbooks Doorstep writes open in ODK's
# tools; it runs on Java: install Debian's headless JRE when java is missing.
java:
	@command -v java >/dev/null || { \
	  echo "installing Debian's headless Java for ODK Validate"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; }

# `doorstep backup` and `restore` on PostgreSQL run pg_dump and pg_restore (tests/test_backup.py):
# install Debian's PostgreSQL client when they are missing.
pgclient:
	@{ command -v pg_dump && command -v pg_restore; } >/dev/null || { \
	  echo "installing Debian's postgresql-client for the backup tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null; }

# acorn checks that every script parses as ES2017: pinned in package-lock.json, installed into
# node_modules by `npm ci` (the tests never fetch it). npm ci writes node_modules/.package-lock.json.
node_modules/.package-lock.json: package.json package-lock.json | nodejs
	npm ci --no-audit --no-fund --loglevel=error

# The whole suite on SQLite, then again on PostgreSQL when one answers at TEST_DATABASE_URL (default
# postgresql://127.0.0.1:5432/test; with CI=true it must answer). The browser tests run once, on SQLite.
# CI mode is CI=true exactly, here and in the tests (tests/ci.py): then nothing may be skipped.
test: install chromium java pgclient node_modules/.package-lock.json
	$(BIN)/doorstep forms check
	$(BIN)/pytest -q
	@if $(BIN)/python -m tests.databases; then \
	  echo "DOORSTEP_TEST_DB=postgres $(BIN)/pytest -q"; DOORSTEP_TEST_DB=postgres $(BIN)/pytest -q; \
	elif [ "$$CI" = true ]; then echo "CI=true: the PostgreSQL pass cannot be skipped" >&2; exit 1; \
	else echo "skipped the PostgreSQL pass (set TEST_DATABASE_URL to run it)"; fi

# Benchmarks are kept out of `make test`; each prints its figures (README, "Performance").
bench: install chromium wrk
	$(BIN)/python bench/sheet_pdf.py
	$(BIN)/python bench/page_weight.py
	$(BIN)/python bench/submit_throughput.py
	$(BIN)/python bench/crash_test.py

# Dashboard render time and CSV export rate and memory at 100,000 and 1,000,000 submissions (about
# an hour on 2 cores, up to ~8 GB in /tmp while it runs); figures in bench/RESULTS-dashboard.md.
.PHONY: bench-dashboard
bench: bench-dashboard
bench-dashboard: install
	$(BIN)/python bench/dashboard_export.py

# The household ledger at 100,000 households with 5 visits each, SQLite and PostgreSQL: list, page,
# CSV export, import, registration vs revisit CPU; then the list again with the ledger grown to
# 1,000,000 households (household rows only beyond the first 100,000); about 40 minutes on 2
# cores, a few GB in /tmp; figures in bench/RESULTS-ledger.md.
.PHONY: bench-ledger
bench: bench-ledger
bench-ledger: install
	$(BIN)/python bench/ledger.py --million

# Survey rounds at 100,000 and 1,000,000 households, SQLite and PostgreSQL: the coverage page,
# creating and assigning a round, the round hooks' CPU per visit; about an hour on 2 cores, a few
# GB in /tmp; figures in bench/RESULTS-rounds.md.
.PHONY: bench-rounds
bench: bench-rounds
bench-rounds: install
	$(BIN)/python bench/rounds.py --district

# The JSON API at 1,000,000 submissions, SQLite and PostgreSQL: pages of 1,000 responses at the
# first, a middle and the last page, and API submissions against form posts in the same run;
# about an hour on 2 cores, a few GB in /tmp; figures in bench/RESULTS-api.md.
.PHONY: bench-api
bench: bench-api
bench-api: install
	$(BIN)/python bench/api.py

# What sealing identifiers at rest costs: registrations and exports with the keys configured and
# with sealing switched off, interleaved, SQLite and PostgreSQL; a few minutes on 2 cores.
.PHONY: bench-encryption
bench: bench-encryption
bench-encryption: install
	$(BIN)/python bench/encryption.py

check: install
	$(BIN)/doorstep forms check

# Benchmarks and the crash test (not part of `make test`; see bench/README.md). wrk is Debian's.
wrk:
	@command -v wrk >/dev/null || { \
	  echo "installing Debian's wrk for the benchmarks"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

# tests/schema_v1.py froze the models as schema version 1 (tests/freeze_schema.py). Version 1 is
# released and later steps build on it: change the schema by adding a step in service/storage/schema.py.
schema-v1:
	@echo "schema version 1 is released: add an upgrade step in service/storage/schema.py instead"; exit 1

# Re-extract the UI strings and merge new ones into every catalogue (then translate the empty msgstrs).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l -o translations/messages.pot . && $(BIN)/pybabel update -i translations/messages.pot -d translations

clean:
	rm -rf $(VENV) instance .pytest_cache node_modules
