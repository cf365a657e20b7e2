# One entry point for set-up, tests and the demo. Every target installs what it needs first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install test demo lock clean-venv

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest

demo: install
	$(PY) -m m3.train benchmark=cartpole seed=0 run_dir=runs/demo/cartpole/seed0

# Regenerate the full lock from the direct pins (needs the package registries).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -U pip "setuptools>=77" wheel
	.venv-lock/bin/pip install --quiet -r requirements.in -c constraints.txt
	.venv-lock/bin/pip freeze --all | grep -v -e '^pip==' -e '^-e ' > requirements.lock
	rm -rf .venv-lock

clean-venv:
	rm -rf $(VENV)
