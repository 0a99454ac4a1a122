# The two entry points of the README: `make up` runs GAIA Lab on this machine, `make test` runs every check.
# Both install what they need first (scripts/setup.sh is idempotent).
VENV := .venv/bin
export PATH := $(CURDIR)/.cache/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: setup up demo test lint typecheck pytest benchsmoke imagecheck bench clean

setup:
	bash scripts/setup.sh

# Sessions, Dask schedulers and workers run in the notebook image's environment (.venv-sessions, from the system
# Python, which the per-user accounts of a root start can run; the .venv's Python may live under /root).
up: setup
	$(VENV)/gaia-lab up --python $(CURDIR)/.venv-sessions/bin/python

demo: setup
	$(VENV)/gaia-lab demo

lint:
	$(VENV)/ruff check gaia_lab tests benchmarks
	$(VENV)/ruff format --check gaia_lab tests benchmarks

typecheck:
	$(VENV)/mypy

pytest:
	$(VENV)/pytest $(PYTEST_ARGS)

# Every benchmark on small corpora, one round, no platform (about 1.5 min): they run and their contenders agree.
benchsmoke:
	$(VENV)/python -m benchmarks --quick

# The image lock is installed and smoke-tested in a fresh venv only when it changed (about 7 minutes).
imagecheck:
	if images/lock-changed.sh; then images/check-lock.sh; fi

test: setup lint typecheck pytest benchsmoke imagecheck

bench: setup
	bash scripts/setup-lazycogs.sh
	$(VENV)/python -m benchmarks

clean:
	rm -rf .venv .venv-* .cache .mypy_cache .ruff_cache .pytest_cache artifacts
