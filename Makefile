# Every target bootstraps its own virtualenv, so each works as the first command on a fresh
# machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

# commercetools' own schemas as test oracle (tests/oracle/): the platform SDK's TypeScript types
# and the Connect specification validator, installed by `npm ci` from the committed lock file
# into a folder git ignores, once per lock file (the stamp is named after its checksum).
CT_TYPES := tools/ct-types
NPM_STAMP := $(CT_TYPES)/node_modules/.installed-$(shell sha256sum $(CT_TYPES)/package-lock.json | cut -c1-16)

# The loyalty provider of the demo's store: yotpo, or voyado (a Yotpo store runs beside it).
PROVIDER ?= yotpo

.PHONY: run test lint format bench clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
		|| { echo "Python 3.11 or newer is needed (PYTHON=$(PYTHON))"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

$(NPM_STAMP): $(CT_TYPES)/package.json $(CT_TYPES)/package-lock.json
	@command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
		|| { echo "make test needs Node.js and npm for the commercetools type oracle (apt-get install nodejs npm)"; exit 1; }
	@echo "Installing the commercetools type oracle into $(CT_TYPES)/node_modules ..."
	@cd $(CT_TYPES) && npm ci --no-audit --no-fund --loglevel=error
	@rm -f $(CT_TYPES)/node_modules/.installed-*
	@touch $@

run: $(STAMP)  ## The end-to-end demo on the local sandbox (no credentials needed)
	$(BIN)/python -m sandbox.demo --provider $(PROVIDER)

test: $(STAMP) $(NPM_STAMP)  ## Unit, contract and end-to-end tests
	@scripts/ensure-test-tools.sh
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)  ## Benchmarks against the sandbox; prints figures
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .run $(CT_TYPES)/node_modules $(CT_TYPES)/.generated
