# Doorstep: `make run` serves it on the embedded default (SQLite) with the demo forms;
# `make test` runs the whole test suite. Both set everything up on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
BIND ?= 0.0.0.0:8000
MO := $(patsubst %.po,%.mo,$(wildcard translations/*/LC_MESSAGES/*.po))

.PHONY: run test install chromium bench check clean messages

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
	$(BIN)/doorstep serve --bind $(BIND)

# Browser tests drive Debian's Chromium; install it (and CJK fonts) when it is missing.
chromium:
	@command -v chromium >/dev/null || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; }

test: install chromium
	$(BIN)/doorstep forms check
	$(BIN)/pytest -q

check: install
	$(BIN)/doorstep forms check

# Re-extract the UI strings and merge new ones into every catalogue (then translate the empty msgstrs).
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l -o translations/messages.pot . && $(BIN)/pybabel update -i translations/messages.pot -d translations

clean:
	rm -rf $(VENV) instance .pytest_cache
