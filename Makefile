# Alliance Portal: the two commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
REQS   := requirements/base.txt requirements/dev.txt requirements/bio.txt

.PHONY: run test install lint format schemathesis bench clean

# The virtual environment is rebuilt when a requirements file changes.
$(VENV)/.installed: $(REQS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements/dev.txt -r requirements/bio.txt
	touch $@

install: $(VENV)/.installed

## run: migrate, seed the demo alliance if empty, start the portal with a 4-validator devnet
run: install
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py biometrics_setup
	$(BIN)/python manage.py run_portal --host $(HOST) --port $(PORT) $(RUN_ARGS)

## test: the whole suite (services are used when DATABASE_URL/REDIS_URL are set)
test: install
	PORTAL_ENV=test $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy  # strict, for the pure packages (pyproject.toml [tool.mypy])

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## schemathesis: property-based API checks against a running portal (see .ci/run)
schemathesis: install
	./.ci/schemathesis.sh

bench: install
	$(BIN)/python bench/bls.py --quick
	$(BIN)/python bench/consensus.py
	$(BIN)/python bench/receipts.py
	$(BIN)/python bench/biometrics_search.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
