# The two entry points of the README: `make up` runs GAIA Lab on this machine, `make test` runs every check.
# Both install what they need first (scripts/setup.sh is idempotent).
VENV := .venv/bin
export PATH := $(CURDIR)/.cache/bin:$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: setup up demo test lint typecheck pytest bench clean

setup:
	bash scripts/setup.sh

up: setup
	$(VENV)/gaia-lab up

demo: setup
	$(VENV)/gaia-lab demo

lint:
	$(VENV)/ruff check gaia_lab tests benchmarks
	$(VENV)/ruff format --check gaia_lab tests benchmarks

typecheck:
	$(VENV)/mypy

pytest:
	$(VENV)/pytest $(PYTEST_ARGS)

test: setup lint typecheck pytest

bench: setup
	$(VENV)/python -m benchmarks

clean:
	rm -rf .venv .venv-* .cache .mypy_cache .ruff_cache .pytest_cache artifacts
