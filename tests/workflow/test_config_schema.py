"""The config schema (workflow/schemas/config.schema.yaml) stops a bad config/config.yaml when the Snakefile is
parsed, before any DAG is built, with one line naming the key and what is allowed."""

from __future__ import annotations

import re

import pytest
import yaml
from workflow_testing import snakemake


def with_config(workflow_dir, edit) -> None:
    path = workflow_dir / "config" / "config.yaml"
    config = yaml.safe_load(path.read_text())
    edit(config)
    path.write_text(yaml.safe_dump(config))


def config_errors(workflow_dir) -> list[str]:
    done = snakemake(workflow_dir, "-n", timeout=120)
    assert done.returncode != 0
    assert "Building DAG" not in done.stdout + done.stderr, "stopped at parse time"
    return [line for line in (done.stdout + done.stderr).splitlines() if line.startswith("config: ")]


def rename_benchmark(config):
    config["benchmarks"]["atarii"] = config["benchmarks"].pop("atari")


def misspell_game(config):
    config["benchmarks"]["dmc"]["games"][2] = "cartpole-balanse"


CASES = {
    "unknown benchmark": (rename_benchmark, r"config: benchmarks: 'atarii' is not one of \['atari', 'dmc', 'craftax', "
                                            r"'cartpole'\]"),
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
}


@pytest.mark.parametrize("case", CASES)
def test_bad_config_is_one_clear_error_at_parse_time(workflow_dir, case):
    edit, message = CASES[case]
    with_config(workflow_dir, edit)
    errors = config_errors(workflow_dir)
    assert len(errors) == 1, errors
    assert re.match(message, errors[0]), errors[0]


def test_scale_override_is_checked_too(workflow_dir):
    done = snakemake(workflow_dir, "-n", "--config", "scale=tiny", timeout=120)
    assert done.returncode != 0
    assert "config: scale: 'tiny' is not one of ['paper', 'small', 'smoke']" in done.stdout + done.stderr
