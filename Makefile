# make run   — set up and run the service on its defaults (SQLite, email to files, :8080)
# make test  — set up and run the whole test suite
# make bench — set up and run the benchmarks
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench setup lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.app: $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e ".[postgres]"
	touch $@

$(VENV)/.test: $(VENV)/.app
	$(BIN)/pip install -q -c constraints.txt -e ".[postgres,test]"
	touch $@

tests/js/node_modules/.ok: tests/js/package.json tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $@

setup: $(VENV)/.test tests/js/node_modules/.ok

run: $(VENV)/.app
	$(BIN)/summitcal serve

test: setup
	$(BIN)/pytest

bench: $(VENV)/.test
	$(BIN)/python bench/feeds.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/http.py

# Re-pin every dependency (application and test) after changing pyproject.toml.
lock: $(BIN)/python
	$(BIN)/pip install -q -e ".[postgres,test]"
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) tests/js/node_modules data
