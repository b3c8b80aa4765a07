# The two commands a newcomer needs: `make run` and `make test`. Both set up .venv from the registries.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test setup migrate worker api simulator bench bench-refunds lint compose-check clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)  ## the whole system on embedded defaults: Temporal + Web UI, API, worker, simulator, demo data
	$(BIN)/python -m scripts.dev

test: $(STAMP)  ## the whole suite (SQLite and the PostgreSQL on 127.0.0.1:5432)
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

migrate: $(STAMP)
	$(BIN)/alembic upgrade head

bench: $(STAMP)
	$(BIN)/python -m bench.orders

bench-refunds: $(STAMP)  ## a flash-sale burst of refunds against the payment-channel simulator
	$(BIN)/python -m bench.refunds

compose-check:
	docker compose config --quiet

clean:
	rm -rf var/*.db var/*.db-* var/*.json
