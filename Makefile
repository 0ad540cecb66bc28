# riskprompt: `make demo` runs the embedded demo, `make test` the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCALES := zh_CN en
SOURCES := models notifications bot config riskprompt

.PHONY: install system-packages demo test lint i18n bench clean

# Debian packages the console's browser tests and the PDFs need: Debian's chromium
# (Playwright drives it; no browser is downloaded), CJK fonts, HarfBuzz's subsetter
# (fonts embedded in PDFs) and poppler's tools (PDF pages checked and rendered).
DEBIAN_PACKAGES := chromium fonts-noto-cjk libharfbuzz-subset0 poppler-utils

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: system-packages $(STAMP)

# Installs only the missing ones (one `apt-get update` first); as another user than
# root, or without apt, says which are missing and goes on (their tests are skipped).
system-packages:
	@missing=""; \
	for p in $(DEBIAN_PACKAGES); do \
		dpkg -s $$p 2>/dev/null | grep -q '^Status: install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if ! command -v apt-get >/dev/null 2>&1; then \
		echo "system-packages: no apt-get here; install$$missing yourself" \
			"(without chromium the browser tests are skipped)"; \
		exit 0; \
	fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "system-packages: not root, skipping the Debian packages$$missing;" \
			"install them with: sudo apt-get install -y$$missing" \
			"(without chromium the browser tests are skipped)"; \
		exit 0; \
	fi; \
	echo "system-packages: installing$$missing"; \
	apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing

demo: $(STAMP)
	$(BIN)/riskprompt demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pytest exits non-zero when a test fails and (exit 5) when no test ran.
test: system-packages lint
	$(BIN)/pytest

# Extract every marked message, then merge it into each catalogue.  Catalogues are
# compiled in memory at run time; `compile` here only checks that they compile.
i18n: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ --no-location --sort-output \
		--project riskprompt --no-wrap -o config/locale/messages.pot $(SOURCES)
	@for l in $(LOCALES); do \
		if [ -f config/locale/$$l/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel -q update --no-wrap --no-fuzzy-matching --ignore-obsolete \
				-i config/locale/messages.pot -d config/locale -l $$l; \
		else \
			$(BIN)/pybabel -q init -i config/locale/messages.pot -d config/locale -l $$l; \
		fi; \
	done
	$(BIN)/pybabel compile --statistics -d config/locale -D messages
	rm -f config/locale/*/LC_MESSAGES/messages.mo

# Every benchmark on SQLite; add --database-url for PostgreSQL (see the README).
bench: $(STAMP)
	$(BIN)/python bench/import_bench.py
	$(BIN)/python bench/cycle_bench.py
	$(BIN)/python bench/dispatch_bench.py --no-apprise
	$(BIN)/python bench/inbound_bench.py
	$(BIN)/python bench/console_bench.py --database-url sqlite://

clean:
	rm -rf $(VENV) demo build *.egg-info .pytest_cache .ruff_cache
