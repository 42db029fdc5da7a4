# Simon Says Studio — two commands for a fresh machine:
#   make demo   installs the studio into .venv and opens it on its built-in demo
#   make test   installs the studio with its test tools (and Xvfb) and runs the whole test suite
# Assets (ICT-FaceKit rig, MediaPipe model) are downloaded on first use, or read from $STUDIO_ASSETS_DIR.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test install install-test system-deps lint clean

demo: install
	$(PY) main.py

test: install-test system-deps
	$(PY) -m ruff check studio tests scripts main.py
	$(PY) -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -e ".[test]"
	touch $@

system-deps:
	bash scripts/install-system-deps.sh

lint: install-test
	$(PY) -m ruff check studio tests scripts main.py
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
