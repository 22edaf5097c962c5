# The two commands (README): both create .venv and install what they need on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
OUT    ?= demo-out

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files record which extras are installed, so a second run installs nothing.
$(VENV)/.demo: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $@

$(VENV)/.test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo,test]'
	touch $@ $(VENV)/.demo

demo: $(VENV)/.demo
	$(BIN)/costguard demo --out $(OUT)

test: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -n 2 -q

lint: $(VENV)/.test
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(VENV)/.test
	cd bench && ../$(BIN)/python scan_vs_boto3.py
	cd bench && ../$(BIN)/python scan_vs_boto3.py --runs 3 --instances 5000
	cd bench && ../$(BIN)/python event_latency.py
	cd bench && ../$(BIN)/python daemon_memory.py
	cd bench && ../$(BIN)/python event_burst.py --sizes 1000,10000 --s3 100000
	cd bench && ../$(BIN)/python ce_month.py
	cd bench && ../$(BIN)/python sigma_match.py
	cd bench && ../$(BIN)/python workers.py
	cd bench && ../$(BIN)/python org_scan.py --members 1,20

clean:
	rm -rf $(VENV) $(OUT) build *.egg-info
