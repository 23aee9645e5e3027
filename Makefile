# The whole set-up on a fresh machine is `make demo` and `make test` (python3 + make only).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Offline, quiet, and no phoning home from any of the tools.
export DO_NOT_TRACK := 1
export GX_ANALYTICS_ENABLED := false
export RUNTIME__DLTHUB_TELEMETRY := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export STREAMLIT_BROWSER_GATHER_USAGE_STATS := false

.PHONY: install demo test bench lint clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) .dlt/secrets.toml

# Your secrets (git-ignored): created empty, never overwritten. The layout is in .dlt/config.toml.
.dlt/secrets.toml:
	printf '# Secrets for dlt (git-ignored). Layout: the comments at the top of .dlt/config.toml.\n' > $@

demo: install
	$(BIN)/crashes demo

# Two workers, whole files each (a file's fixtures stay in one process): the suite spends most of
# its time in one process at a time (subprocesses, waits for cron slots), 18.6 → 12.9 min here.
test: install
	$(BIN)/python -m pytest -n 2 --dist loadfile

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	mkdir -p data && cd dbt_project && ../$(BIN)/sqlfluff lint models tests macros

clean:
	rm -rf data dbt_project/target dbt_project/logs .pytest_cache
