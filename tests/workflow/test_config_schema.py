"""The config check (workflow/lib/config_check.py against workflow/schemas/config.schema.yaml): a bad
config/config.yaml is one line naming the key and what is allowed. The cases run in-process; one real `snakemake`
call shows the Snakefile stops with that line at parse time, before any DAG is built."""

from __future__ import annotations

import copy
import re
import sys

import pytest
import yaml
from workflow_testing import REPO, snakemake

from m3 import envs

sys.path.insert(0, str(REPO / "workflow" / "lib"))
from config_check import config_error  # noqa: E402

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def rename_benchmark(config):
    config["benchmarks"]["atarii"] = config["benchmarks"].pop("atari")


def misspell_game(config):
    config["benchmarks"]["dmc"]["games"] = ["walker-run", "walker-walk", "cartpole-balanse"]


CASES = {
    "unknown benchmark": (rename_benchmark, r"config: benchmarks: 'atarii' is not one of \['atari', 'cartpole', "
                                            r"'craftax', 'dmc'\]"),
    "unknown game": (misspell_game, r"config: benchmarks\.dmc\.games\[2\]: 'cartpole-balanse' is not one of "
                                    r"\['acrobot-swingup', .*'walker-walk'\]"),
    "unknown smoke game": (lambda c: c["smoke"]["games"].update(atari=["Pongg"]),
                           r"config: smoke\.games\.atari\[0\]: 'Pongg' is not one of \['Alien', .*\]"),
    "repeated seed": (lambda c: c.update(seeds=[0, 1, 1]), r"config: seeds: \[0, 1, 1\] has non-unique elements "
                                                           r"\(training seeds: a non-empty list of distinct integers"),
    "negative seed": (lambda c: c.update(seeds=[0, -2]), r"config: seeds\[1\]: -2 is less than the minimum of 0"),
    "no seeds": (lambda c: c.update(seeds=[]), r"config: seeds: \[\] should be non-empty"),
    "seed range string": (lambda c: c.update(seeds="0-4"), r"config: seeds: '0-4' is not of type 'array'"),
    "missing container": (lambda c: c.pop("container"), r"config: top level: 'container' is a required property "
                                                        r"\(Apptainer image the train and evaluate jobs run in"),
    "unknown scale": (lambda c: c.update(scale="tiny"), r"config: scale: 'tiny' is not one of \['paper', 'small', "
                                                        r"'smoke'\]"),
}


def test_the_shipped_config_is_valid():
    assert config_error(CONFIG) is None


@pytest.mark.parametrize("case", CASES)
def test_bad_config_is_one_line_naming_the_key(case):
    edit, message = CASES[case]
    config = copy.deepcopy(CONFIG)
    edit(config)
    error = config_error(config)
    assert error is not None and "\n" not in error
    assert re.match(message, error), error


def test_snakefile_stops_at_parse_time_with_that_line(workflow_dir):
    done = snakemake(workflow_dir, "-n", "--config", "scale=tiny", timeout=120)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "Building DAG" not in output, "stopped at parse time"
    lines = [line for line in output.splitlines() if line.startswith("config: ")]
    assert lines == ["config: scale: 'tiny' is not one of ['paper', 'small', 'smoke'] (paper runs every game and seed "
                     "at the paper's schedules; small runs the same matrix with config/m3/scale/small.yaml (small "
                     "models, the paper's schedules) under results/small, unpublished; smoke runs the smoke block on a "
                     "CPU)"], lines


@pytest.mark.parametrize("benchmark", envs.benchmarks())
def test_every_registered_game_is_allowed_and_an_unregistered_one_is_not(benchmark):
    config = copy.deepcopy(CONFIG)
    config["benchmarks"][benchmark] = dict(CONFIG["benchmarks"]["atari"], games=list(envs.games(benchmark)))
    assert config_error(config) is None
    config["benchmarks"][benchmark]["games"] = ["NotAGame"]
    assert config_error(config).startswith(f"config: benchmarks.{benchmark}.games[0]: 'NotAGame' is not one of")
