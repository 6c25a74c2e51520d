# Alliance Portal: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: run test test-all install install-bio lint format schemathesis bench clean

# The virtual environment is rebuilt when a requirements file changes. One environment: the
# face-matching engine (requirements/bio.txt) is an extra on top of base+dev, so ledger-only
# work can skip DeepFace, OpenCV and dlib with a plain `make install`.
$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt
	touch $@

$(VENV)/.installed-bio: $(VENV)/.installed requirements/bio.txt
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt -r requirements/bio.txt
	touch $@

## install: base + dev requirements; `make install BIO=1` (or `make install-bio`) adds the engine
install: $(VENV)/.installed $(if $(filter 1,$(BIO)),$(VENV)/.installed-bio)

install-bio: $(VENV)/.installed-bio

## run: migrate, seed the demo alliance if empty, start the portal with a 4-validator devnet
# (the engine too: with no broker configured, biometric tasks run in the web process)
run: install-bio
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py seed_demo --if-empty --host $(HOST) --port $(PORT)
	$(BIN)/python manage.py biometrics_setup
	$(BIN)/python manage.py run_portal --host $(HOST) --port $(PORT) $(RUN_ARGS)

## test: the suite without the slow tests (real processes, real crypto); `make test SLOW=1` (or
## `make test-all`) runs every test, as CI does. Services are used when DATABASE_URL/REDIS_URL are
## set. The biometric tests need the engine, so the engine is installed.
SLOW ?=
PYTEST_MARKS := $(if $(filter 1,$(SLOW)),,-m "not slow")
test: install-bio
	PORTAL_ENV=test $(BIN)/python -m pytest $(PYTEST_MARKS) $(PYTEST_ARGS)

test-all:
	$(MAKE) test SLOW=1

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy  # strict, the Django apps with the django-stubs plugin (pyproject.toml [tool.mypy])
	$(BIN)/lint-imports --no-cache --no-logo  # the import contracts (pyproject.toml [tool.importlinter])

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## schemathesis: property-based API checks against a running portal (see .ci/run)
schemathesis: install
	VENV=$(VENV) ./.ci/schemathesis.sh

bench: install
	$(BIN)/python bench/bls.py --quick
	$(BIN)/python bench/consensus.py
	$(BIN)/python bench/receipts.py
	$(BIN)/python bench/biometrics_search.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
