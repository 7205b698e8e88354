# shotcraft developer entry points. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
TORCH_VERSION := 2.13.0

.PHONY: demo test lint fuzz bench install install-test clean

$(VENV)/.base: pyproject.toml setup.py src/shotcraft/draw/_kernels.c
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip
	$(PIP) install -e .
	touch $@

# torch first, pinned, so the extra does not pull a multi-GB CUDA build.
$(VENV)/.test: $(VENV)/.base
	$(PIP) install torch==$(TORCH_VERSION)
	$(PIP) install -e '.[diffusion,mcp,ray,test]'
	touch $@

install: $(VENV)/.base
install-test: $(VENV)/.test

demo: $(VENV)/.base
	$(MAKE) -C examples SHOTCRAFT=$(abspath $(VENV))/bin/shotcraft BUILD=$(abspath build)
	@echo "The example reel is at build/reel.mp4"

lint: $(VENV)/.test
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy src

test: lint
	HF_HUB_OFFLINE=1 SHOTCRAFT_EXPECT_NATIVE=1 $(PY) -m pytest

# The fuzz tests with many random examples (make test runs a few fixed ones); FUZZ_EXAMPLES
# per file kind.
FUZZ_EXAMPLES ?= 2000
fuzz: $(VENV)/.test
	HF_HUB_OFFLINE=1 SHOTCRAFT_FUZZ=1 SHOTCRAFT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(PY) -m pytest tests/cli/test_fuzz.py -p no:cacheprovider

bench: $(VENV)/.test
	$(PY) bench/run.py

clean:
	rm -rf build examples/build bench/results.json
