# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv from the registries.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint setup migrate bench bench-complaints bench-refunds bench-api bench-settlement compose-check clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)  ## the whole system on embedded defaults: Temporal + Web UI, API, worker, simulator, demo data
	$(BIN)/python -m scripts.dev

test: lint  ## lint, the layer contracts, then the whole suite (SQLite and the PostgreSQL on 127.0.0.1:5432)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff, and import-linter's contracts for the layer rules (pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

migrate: $(STAMP)
	$(BIN)/alembic upgrade head

bench: $(STAMP)  ## benchmarks (print figures; N with `make bench N=500`)
	$(BIN)/python -m bench.orders $(if $(N),--n $(N),)

bench-complaints: $(STAMP)  ## N complaints (default 5000) transferred and replied; last line JSON
	$(BIN)/python -m bench.complaints $(if $(N),--n $(N),)

bench-refunds: $(STAMP)  ## a flash-sale burst of N refunds (default 1000) against the channel simulator; last line JSON
	$(BIN)/python -m bench.refunds $(if $(N),--n $(N),)

bench-settlement: $(STAMP)  ## one carrier's month of ORDERS orders (default 50000) settled; last line JSON
	$(BIN)/python -m bench.settlement $(if $(ORDERS),--orders $(ORDERS),)

bench-api: $(STAMP)  ## the API under a mixed read/write load at RATE requests/s (default 50) for SECONDS (60); last line JSON
	$(BIN)/python -m bench.api_load $(if $(RATE),--rate $(RATE),) $(if $(SECONDS),--seconds $(SECONDS),)

compose-check: $(STAMP)  ## docker compose config where the compose plugin exists; the Compose-spec schema test everywhere
	if docker compose version >/dev/null 2>&1; then docker compose config --quiet; fi
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/core/test_compose.py

clean:
	rm -rf var/*.db var/*.db-* var/*.json var/*.loaded
