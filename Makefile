# make run   — set up and run the service on its defaults (SQLite, email to files, :8080)
# make test  — set up and run the whole test suite
# make bench — set up and run the benchmarks
# make check — ruff, mypy and the import-linter contracts (layers, no cycles)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench check setup lock clean

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

# ruff, mypy and import-linter read the package as it installs: feeds/ and scheduler/
# as summitcal.feeds and summitcal.scheduler (pyproject's package-dir), through a tree of
# links in build/check, so their reports name the files under summitcal/.
CHECK := build/check
check: $(VENV)/.test
	$(BIN)/ruff check .
	rm -rf $(CHECK) && mkdir -p $(CHECK)/summitcal
	for f in summitcal/*; do ln -s ../../../$$f $(CHECK)/summitcal/; done
	for d in feeds scheduler templates; do ln -s ../../../$$d $(CHECK)/summitcal/$$d; done
	cd $(CHECK) && PYTHONPATH=. ../../$(BIN)/mypy -p summitcal --config-file ../../pyproject.toml
	cd $(CHECK) && PYTHONPATH=. ../../$(BIN)/lint-imports ../../pyproject.toml --no-cache

# Re-pin every dependency (application and test) after changing pyproject.toml.
lock: $(BIN)/python
	$(BIN)/pip install -q -e ".[postgres,test]"
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > constraints.txt

clean:
	rm -rf $(VENV) tests/js/node_modules data build
