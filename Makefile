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

## run: migrate, seed the demo alliance if empty, start the portal (and a worker with Redis)
run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	$(BIN)/python manage.py biometrics_setup
	@if [ -n "$$REDIS_URL" ]; then \
	  echo "REDIS_URL is set: starting a Celery worker (queues default, biometrics)"; \
	  $(BIN)/celery -A portal worker -Q default,biometrics --concurrency 2 --loglevel INFO & \
	  trap "kill $$! 2>/dev/null" EXIT INT TERM; \
	  $(BIN)/uvicorn portal.asgi:application --host $(HOST) --port $(PORT) --proxy-headers; \
	else \
	  echo "Embedded mode: SQLite, tasks in process, in-memory channel layer"; \
	  echo "Portal on http://$(HOST):$(PORT)/"; \
	  $(BIN)/uvicorn portal.asgi:application --host $(HOST) --port $(PORT) --proxy-headers; \
	fi

## test: the whole suite (services are used when DATABASE_URL/REDIS_URL are set)
test: install
	PORTAL_ENV=test $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## schemathesis: property-based API checks against a running portal (see .ci/run)
schemathesis: install
	./.ci/schemathesis.sh

bench: install
	$(BIN)/python bench/bls.py --quick
	$(BIN)/python bench/consensus.py
	$(BIN)/python bench/biometrics_search.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
