"""The smoke analysis rules read dvc.yaml's stages (workflow/lib/dvc_stages.py): same command and outputs, with
results/ moved under results/smoke/ (published baselines shared) and the narrowed analysis params."""

from __future__ import annotations

import sys

import pytest
import yaml
from workflow_testing import REPO

sys.path.insert(0, str(REPO / "workflow" / "lib"))
from dvc_stages import smoke_command, smoke_outputs  # noqa: E402

DVC = """\
stages:
  figures:
    matrix:
      benchmark: [atari, dmc]
    cmd: >-
      python -m m3.analysis.figures --benchmark ${item.benchmark} --params config/analysis.yaml
      --data results/data/${item.benchmark} --published results/published/${item.benchmark}
    outs:
      - results/figures/${item.benchmark}:
          cache: false
      - results/data/${item.benchmark}/x.json
    metrics:
      - results/metrics/${item.benchmark}.json:
          cache: false
"""


@pytest.fixture
def dvc_yaml(tmp_path):
    path = tmp_path / "dvc.yaml"
    path.write_text(DVC)
    return path


def test_command_moves_results_to_the_smoke_tree_but_not_the_published_baselines(dvc_yaml):
    assert smoke_command(dvc_yaml, "figures", "/venv/bin/python") == (
        "/venv/bin/python -m m3.analysis.figures --benchmark {wildcards.benchmark} --params "
        "results/smoke/analysis.yaml --data results/smoke/data/{wildcards.benchmark} "
        "--published results/published/{wildcards.benchmark}")


def test_outputs_are_outs_then_metrics_with_the_benchmark_wildcard(dvc_yaml):
    assert smoke_outputs(dvc_yaml, "figures") == [
        "results/smoke/figures/{benchmark}", "results/smoke/data/{benchmark}/x.json",
        "results/smoke/metrics/{benchmark}.json"]


def test_unknown_stage_names_the_ones_there(dvc_yaml):
    with pytest.raises(KeyError, match=r"no stage 'aggregate'; it has \['figures'\]"):
        smoke_command(dvc_yaml, "aggregate", "python")


@pytest.mark.parametrize("stage", ["aggregate", "figures"])
def test_the_projects_stages_keep_every_argument(stage):
    """Word for word, the smoke command is dvc.yaml's with only the paths rewritten."""
    dvc = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"][stage]["cmd"].split()
    smoke = smoke_command(REPO / "dvc.yaml", stage, "python").split()
    assert len(smoke) == len(dvc)
    for theirs, ours in zip(dvc, smoke):
        expected = theirs.replace("${item.benchmark}", "{wildcards.benchmark}")
        if expected == "config/analysis.yaml":
            expected = "results/smoke/analysis.yaml"
        elif expected.startswith("results/") and not expected.startswith("results/published/"):
            expected = "results/smoke/" + expected.removeprefix("results/")
        assert ours == expected
