# WormFS developer entry points. `make run` starts a single-machine cluster in the foreground;
# `make test` installs what the tests need and runs lint, types and the whole test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints.txt
export PYTHONSAFEPATH := 1

# System packages the test suite needs (installed with apt-get when running as root); fuse3,
# libfuse3-dev and pkg-config build and run pyfuse3 (the mount's tests), s3fs reads its files;
# chromium is the headless browser the web UI's tests drive (Playwright cannot download one);
# prometheus ships promtool, which lints every daemon's /metrics and the shipped alert rules.
APT_TEST_PACKAGES := python3-venv python3-dev gcc ca-certificates curl s3cmd rclone postgresql zookeeper default-jre-headless \
    fuse3 libfuse3-dev pkg-config s3fs \
    chromium prometheus \
    systemd

.PHONY: run test lint typecheck pytest system-deps venv lock clean bench

$(BIN)/python:
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || $(MAKE) --no-print-directory system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

$(VENV)/.installed-run: $(BIN)/python pyproject.toml setup.py $(CONSTRAINTS)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e .
	@touch $@

$(VENV)/.installed-test: $(BIN)/python pyproject.toml setup.py $(CONSTRAINTS)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[test,postgres,zookeeper,fuse,tracing]'
	@touch $@ $(VENV)/.installed-run

venv: $(VENV)/.installed-run

run: $(VENV)/.installed-run
	exec $(BIN)/wormfs server

system-deps:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    missing=$$(for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	    if [ -n "$$missing" ]; then \
	        echo "installing system packages: $$missing"; \
	        DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	    fi; \
	else \
	    for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || \
	        echo "note: system package $$p is missing; install it as root (apt-get install $$p)"; done; \
	fi

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	scripts/lint-imports

typecheck: $(VENV)/.installed-test
	scripts/typecheck

pytest: $(VENV)/.installed-test
	$(BIN)/pytest $(PYTEST_ARGS)

test: system-deps $(VENV)/.installed-test lint typecheck pytest

# Side-by-side S3 benchmark: WormFS (as `make run` starts it) against the Swift peer of
# ../shared/peers, A B A B per cell (~12 min); updates docs/performance.md's "S3 end to end"
# table. More options: BENCH_ARGS="--quick" or "--peer ceph" (see benchmarks/runner.py).
bench: $(VENV)/.installed-run
	$(BIN)/python benchmarks/runner.py --update-doc docs/performance.md $(BENCH_ARGS)

# Regenerate the constraints file from a fresh resolve of every extra.
lock:
	rm -rf .lockvenv && $(PYTHON) -m venv .lockvenv
	.lockvenv/bin/pip install -q -e '.[test,postgres,zookeeper,load,fuse,tracing]'
	.lockvenv/bin/pip freeze --exclude-editable | grep -v '^-e' > $(CONSTRAINTS)
	rm -rf .lockvenv

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
