# riskprompt: `make demo` runs the embedded demo, `make test` the whole test suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCALES := zh_CN en
SOURCES := models notifications bot config riskprompt

.PHONY: install demo test lint i18n bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/riskprompt demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# pytest exits non-zero when a test fails and (exit 5) when no test ran.
test: lint
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

clean:
	rm -rf $(VENV) demo build *.egg-info .pytest_cache .ruff_cache
