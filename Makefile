# Every target builds its own virtualenv on first use, so a fresh clone needs nothing else.
PYTHON ?= $(shell command -v python3.11 || command -v python3.12 || command -v python3.13 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PACKAGES := connectors crypto storage pipeline

.PHONY: demo test lint security security-deps security-code venv lock clean \
	bench bench-render bench-crypto bench-amazon bench-pipeline

venv: $(STAMP)

# setup.py and crypto/_aead.c: the compiled seal/open path is built by the install.
$(STAMP): pyproject.toml requirements.lock setup.py crypto/_aead.c
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ordervault needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ordervault demo --workdir demo-work

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check $(PACKAGES) tests bench
	$(BIN)/ruff format --check $(PACKAGES) tests bench
	$(BIN)/mypy $(PACKAGES)

# Known vulnerabilities in the pinned dependencies, and a static scan of the packages. A known
# vulnerability fails; packages that could not be looked up (no route to PyPI's per-version API
# or OSV) are reported as an audit NOT COMPLETE, and fail with ORDERVAULT_REQUIRE_AUDIT=1. Bandit fails on any medium or high
# finding; a reviewed false positive carries `# nosec BXXX` where it occurs ([tool.bandit] in
# pyproject.toml). Both halves run, and either failing fails the target.
security: $(STAMP)
	@status=0; \
	$(MAKE) --no-print-directory security-deps || status=1; \
	$(MAKE) --no-print-directory security-code || status=1; \
	exit $$status

security-deps: $(STAMP)
	$(BIN)/python .ci/audit-deps

security-code: $(STAMP)
	$(BIN)/bandit --configfile pyproject.toml --recursive $(PACKAGES) --severity-level medium --quiet

# Every benchmark, one after another (side by side they would measure each other), then the page.
bench: $(STAMP)
	$(MAKE) --no-print-directory bench-crypto
	$(MAKE) --no-print-directory bench-amazon
	$(MAKE) --no-print-directory bench-pipeline
	$(MAKE) --no-print-directory bench-render

# bench/RESULTS.md from bench/results/*.json and bench/notes/*.md, without running anything.
bench-render: $(STAMP)
	$(BIN)/python bench/render.py

bench-crypto: $(STAMP)
	$(BIN)/python bench/crypto.py

bench-amazon: $(STAMP)
	$(BIN)/python bench/amazon_ratelimit.py

bench-pipeline: $(STAMP)
	$(BIN)/python bench/pipeline.py

# Re-pin requirements.lock from what the current ranges resolve to today.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	.lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^-e' > requirements.lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) demo-work .pytest_cache .mypy_cache .ruff_cache
