# shipline — the two commands a newcomer needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv up down status test unit integration lint docs demo images bench clean

venv: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

up:
	stack/up.sh

down:
	stack/down.sh

# Each stack component (Docker, registry, etcd, kube-apiserver, controller-manager, scheduler, kwok, BuildKit,
# Prometheus, the Gateway API CRDs) and its state.
status:
	stack/cluster.sh status
	stack/buildkit.sh status
	stack/prometheus.sh status
	stack/gateway-api.sh status

# Unit tests need nothing; integration tests run against the real local stack (brought up here).
test: venv up
	CI=$${CI:-} $(PY) -m pytest -q -ra tests

unit: venv
	$(PY) -m pytest -q tests/unit

integration: venv up
	$(PY) -m pytest -q -ra tests/integration

lint: venv
	$(PY) -m ruff check shared plugins tests
	$(PY) -m ruff format --check shared plugins tests
	$(PY) -m mypy shared plugins

# Regenerate each plugin's settings table from its declaration.
docs: venv
	$(PY) -m shared.docs

# The four plugin images on the local base image (nothing is pulled), each with its size.
images: venv up
	scripts/images.sh

# The seed's pipeline end to end through the four plugin images against the local stack (see demo/).
demo: venv up images
	$(PY) -m demo

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache

# Benchmarks against the reference tools, measured in the same run; they print ratios and never fail on timing.
# (bench_images measures the plugin images: their sizes and start-up.)
bench: venv up images
	for f in bench/bench_*.py; do $(PY) $$f || exit 1; done
