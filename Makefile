# Simon Says Studio — two commands for a fresh machine:
#   make demo   installs the studio into .venv and opens it on its built-in demo
#   make test   installs the studio with its test tools (and Xvfb) and runs the whole test suite
# Assets (ICT-FaceKit rig, MediaPipe model) are downloaded on first use, or read from $STUDIO_ASSETS_DIR.
# The first run of either also renders the studio's own model of MediaPipe's response to the rig (about
# 5 minutes on 2 cores, once; models/README.md): it is derived from both assets, so it is built, not shipped.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

RESPONSE_MODEL := models/detector_response/mediapipe_on_ict_facekit.npz

.PHONY: demo test install install-test system-deps lint clean models

demo: install models
	$(PY) main.py

test: install-test system-deps models
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

models: $(RESPONSE_MODEL)

$(RESPONSE_MODEL): | install
	$(PY) main.py train detector-response --quiet --out $@

lint: install-test
	$(PY) -m ruff check studio tests scripts main.py
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
