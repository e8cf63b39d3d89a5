# The two commands in the README:
#   make serve   set up, then serve the site at http://127.0.0.1:8000
#   make test    set up, then lint and run the whole test suite (CI)
# and, while working:
#   make quick   lint and run every test that needs no build of the site
#   make lint    ruff only
# Set-up is idempotent and skips what is already done.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export NO_MKDOCS_2_WARNING := 1

# Where a network namespace can be made (as root), the tests run with no
# network at all but loopback: nothing the site builds or tests may need it.
OFFLINE := $(shell unshare -n ip link set lo up 2>/dev/null && \
             echo "TESTS_OFFLINE=1 unshare -n -- sh -c 'ip link set lo up \
             && exec \"\$$@\"' offline")

.PHONY: serve build test quick lint setup setup-build data browser

serve: setup-build
	$(BIN)/mkdocs serve

build: setup-build
	$(BIN)/mkdocs build

test: setup lint
	$(OFFLINE) $(BIN)/python -m pytest

# Tests marked `site` use the real site's build (tests/conftest.py).
quick: setup lint
	$(OFFLINE) $(BIN)/python -m pytest -m "not site"

lint: $(VENV)/.installed
	$(BIN)/ruff check .

# Building needs the data, Python packages and KaTeX; the tests also need a
# browser.
setup-build: data $(VENV)/.installed node_modules/.installed
setup: setup-build browser

# Debian/Ubuntu's Fashion-MNIST, for offline use (skipped when present).
data:
	@if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; \
	then \
	  echo "Installing Debian's dataset-fashion-mnist"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq dataset-fashion-mnist; \
	fi

# Chromium for the browser tests (CHROMIUM=/path/to/chrome uses another one).
browser:
	@if ! command -v "$${CHROMIUM:-chromium}" >/dev/null; then \
	  echo "Installing Debian's chromium"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; \
	fi

# uv installs the pinned packages (5 GB), faster than pip; should uv fail,
# pip does it. Neither compiles them here: compileall uses every core (pip
# compiles one file at a time). Like pip, it skips the few
# files this Python cannot compile (torch ships test helpers written for
# Python 3.12).
UV := uv==0.13.9
$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q $(UV) && \
	  $(BIN)/uv pip install -q --python $(BIN)/python -r requirements.txt \
	  || { echo "uv could not install requirements.txt; pip will"; \
	       $(BIN)/python -m pip install -q --no-compile -r requirements.txt; }
	$(BIN)/python -c "import compileall, sys; compileall.compile_dir(\
	  sys.argv[1], quiet=2, workers=0)" $(VENV)/lib
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@
