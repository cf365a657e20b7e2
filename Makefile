# One entry point for set-up, tests and the demo. Every target installs what it needs first.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: install test test-fast demo lock clean-venv install-profiles container

# Craftax builds a texture cache inside its installed package on its first render (~2 min of CPU), and processes
# rendering for the first time at once race on that file: the install builds it, once.
$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -c "from craftax.craftax.constants import load_all_textures; load_all_textures()" > /dev/null
	touch $@

install: $(VENV)/.installed

# Lint, then the whole suite (slow end-to-end tests included); `make test-fast` skips the tests marked slow.
# The tests run on TEST_WORKERS pytest-xdist workers (one per core by default), one torch thread each; each test
# file stays on one worker, so its module fixtures (shared training runs, the SLURM cluster) are built once.
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
PYTEST := OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: install
	$(VENV)/bin/ruff check .
	$(PYTEST) --durations=20

test-fast: install
	$(VENV)/bin/ruff check .
	$(PYTEST) -m "not slow"

# The smoke-scale DAG on the CPU with the local profile: one game per benchmark, train -> evaluate -> aggregate ->
# figures (docs/workflow.md). Results go to results/smoke/, apart from paper runs.
demo: install
	$(VENV)/bin/snakemake --profile profiles/local --config scale=smoke
	@echo "scores (one JSON per run):  $$(ls results/smoke/scores/*/*/*.json | tr '\n' ' ')"
	@echo "figures (.png/.pdf) and tables (.md/.tex): $$(ls -d results/smoke/figures/* | tr '\n' ' ')"

# Link profiles/{local,slurm} into Snakemake's user config dir (platformdirs' user_config_dir, as Snakemake looks it
# up), so `snakemake --profile slurm all_atari` works from the repo root.
MACOS_PROFILES := $(HOME)/Library/Application Support/snakemake
XDG_PROFILES := $(or $(XDG_CONFIG_HOME),$(HOME)/.config)/snakemake
SNAKEMAKE_PROFILES ?= $(if $(filter Darwin,$(shell uname)),$(MACOS_PROFILES),$(XDG_PROFILES))

install-profiles:
	mkdir -p "$(SNAKEMAKE_PROFILES)"
	for p in local slurm; do ln -sfn "$(CURDIR)/profiles/$$p" "$(SNAKEMAKE_PROFILES)/$$p"; done
	@echo "profiles local, slurm -> $(SNAKEMAKE_PROFILES)"

# The Docker image m3:latest (containers/Dockerfile); `containers/build.sh apptainer` also builds containers/m3.sif.
container:
	containers/build.sh docker

# Regenerate the full lock from the direct pins (needs the package registries).
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -U pip "setuptools>=77" wheel
	.venv-lock/bin/pip install --quiet -r requirements.in -c constraints.txt
	.venv-lock/bin/pip freeze --all | grep -v -e '^pip==' -e '^-e ' > requirements.lock
	rm -rf .venv-lock

clean-venv:
	rm -rf $(VENV)

# --- Results and DVC (docs/results.md) ---
# The default DVC remote is the folder m3-dvc-remote/ beside this clone (embedded in .dvc/config).
# `make dvc-remote DVC_REMOTE=<url>` points this clone elsewhere (a folder, s3://..., ssh://...) in .dvc/config.local.
# The published baselines ship in results/published/ (git); `make published` downloads them again from their pinned
# URLs (results/published/sources.json) and checks their sha256 (network). Offline, `python -m m3.analysis.published`
# checks the shipped copies.
DVC_REMOTE ?=

.PHONY: dvc-remote published
dvc-remote: install
	$(if $(DVC_REMOTE),$(VENV)/bin/dvc remote add --local --force --default storage $(DVC_REMOTE),\
		mkdir -p ../m3-dvc-remote)
	$(VENV)/bin/dvc remote list

published: install
	$(PY) -m m3.analysis.published --fetch
