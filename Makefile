# walkout: the two commands of the README are `make bench` and `make test`; both set the
# machine up first (apt packages, .venv, pinned requirements) and are quick when it is.
# Extra arguments go through ARGS, e.g. `make test ARGS="-k modbus -x"`.

SHELL := /bin/bash
VENV := .venv
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup test bench lint benchmark clean distclean

help:
	@echo "make setup      install system packages, .venv and pinned requirements (idempotent)"
	@echo "make test       setup, then ruff, mypy, lint-imports and pytest (ARGS go to pytest)"
	@echo "make bench      setup, then the simulated store bench: walkout bench (ARGS go to it)"
	@echo "make lint       setup, then ruff, mypy and lint-imports only"
	@echo "make benchmark  setup, then every benchmark (BENCH=\"modbus snmp\" picks some; ARGS go to each)"
	@echo "make clean      remove caches and build outputs (keeps .venv)"
	@echo "make distclean  clean, and remove .venv too"

setup:
	bash scripts/setup.sh

test:
	bash scripts/test.sh $(ARGS)

bench:
	bash scripts/bench.sh $(ARGS)

lint:
	bash scripts/test.sh --lint-only

BENCH ?= modbus ups_events snmp nut gate gate_dio esl camera telemetry ledger inference \
	supervisor detectors tracking checkout checkout_hil
benchmark: setup
	@set -e; for name in $(BENCH); do \
		echo "=== benchmarks/bench_$$name.py"; \
		$(VENV)/bin/python benchmarks/bench_$$name.py $(ARGS); \
	done

clean:
	rm -rf build dist .eggs *.egg-info .mypy_cache .ruff_cache .pytest_cache \
		.import_linter_cache out
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
