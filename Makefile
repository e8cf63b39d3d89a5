# The two commands in the README:
#   make serve   set up everything, then serve the site at http://127.0.0.1:8000
#   make test    set up everything, then run the whole test suite
# Set-up is idempotent and skips what is already done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export NO_MKDOCS_2_WARNING := 1

.PHONY: serve build test setup system

serve: setup
	$(BIN)/mkdocs serve

build: setup
	$(BIN)/mkdocs build

test: setup
	$(BIN)/python -m pytest

setup: system $(VENV)/.installed node_modules/.installed

# Debian/Ubuntu packages: Fashion-MNIST for offline use, Chromium for the
# browser tests (CHROMIUM=/path/to/chrome uses another one). Skipped when
# both are already there.
system:
	@if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] \
	    || ! command -v "$${CHROMIUM:-chromium}" >/dev/null; then \
	  echo "Installing Debian packages: dataset-fashion-mnist chromium"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq dataset-fashion-mnist chromium; \
	fi

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@
