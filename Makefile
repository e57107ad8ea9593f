# helpline: `make run` serves the API (SQLite under ./var/), `make test` runs the test suite.
# Both create .venv and install the project (with its test tools) the first time, and again when pyproject.toml changes.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' && { echo $$p; break; }; done)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-pbx bench-sla bench-scale bench-directory migrations clean bench-notify

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "helpline needs Python 3.11 or newer (python3.11 on PATH)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/helpline db upgrade
	$(BIN)/helpline serve

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/api.py $(BENCH_ARGS)

bench-pbx: $(STAMP)
	$(BIN)/python bench/pbx.py $(BENCH_ARGS)

# one vs two instances on PostgreSQL through the call storm, and the takeover time after kill -9 of the leader
bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py $(BENCH_ARGS)

bench-sla: $(STAMP)
	$(BIN)/python bench/sla.py $(BENCH_ARGS)

# 10,000 people / 100,000 numbers on the test Samba AD DC (HELPLINE_TEST_AD): full and incremental sync, lookups
bench-directory: $(STAMP)
	$(BIN)/python bench/directory.py $(BENCH_ARGS)

# Alerting: 1,000 breaches at once and 100/s through the outbox to the Twilio/Slack fakes (docs/benchmarks.md)
bench-notify: $(STAMP)
	$(BIN)/python bench/notify.py $(BENCH_ARGS)

# Write a migration after changing tickets/models.py: make migrations NAME=add_something
migrations: $(STAMP)
	$(BIN)/python -m tortoise -c web.runtime.db.TORTOISE_ORM makemigrations -n $(NAME)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
