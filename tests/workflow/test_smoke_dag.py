"""The smoke-scale DAG end to end with the local profile (what `make demo` runs for every benchmark), here for DMC:
train -> evaluate -> aggregate -> figures on the CPU; then the paper-scale last step on those runs: `dvc repro
aggregate@dmc figures@dmc` and the weights tracked with DVC, from the one local rule `publish`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml
from workflow_testing import copy_workflow, snakemake

pytestmark = pytest.mark.slow

GAME = "cartpole-balance"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """A workflow copy in which `snakemake --profile profiles/local --config scale=smoke all_dmc` has run."""
    root = copy_workflow(tmp_path_factory.mktemp("smoke") / "repo")
    done = snakemake(root, "--profile", "profiles/local", "--config", "scale=smoke", "--", "all_dmc", timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root


def test_smoke_dag_runs_end_to_end_with_the_local_profile(smoke_run):
    smoke = smoke_run / "results" / "smoke"
    run = smoke / f"runs/dmc/{GAME}/seed0"
    assert (run / "done").exists() and (run / "weights.pt").is_file()
    scores = json.loads((smoke / f"scores/dmc/{GAME}/seed0.json").read_text())
    assert (scores["benchmark"], scores["game"], scores["seed"]) == ("dmc", GAME, 0)
    assert len(scores["returns"]) == scores["num_episodes"] >= 2
    data = json.loads((smoke / "data/dmc/M3-repro.json").read_text())
    assert data == {GAME: [scores["mean_return"]]}
    for figure in ("aggregates", "profile", "improvement", "per_game", "curves"):
        assert (smoke / "figures/dmc" / f"{figure}.png").stat().st_size > 1000
    assert "M3-repro" in json.loads((smoke / "metrics/dmc.json").read_text())
    assert not (smoke_run / "results" / "scores").exists(), "smoke runs stay under results/smoke"
    again = snakemake(smoke_run, "--profile", "profiles/local", "--config", "scale=smoke", "--", "all_dmc")
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def edit_yaml(path, edit) -> None:
    content = yaml.safe_load(path.read_text())
    edit(content)
    path.write_text(yaml.safe_dump(content, sort_keys=False))


def test_paper_publish_runs_dvc_and_tracks_the_weights(smoke_run):
    """Paper scale with the matrix narrowed to the one finished run: only `publish` is left to do."""
    root = smoke_run
    for kind in ("runs", "scores"):
        shutil.copytree(root / "results/smoke" / kind / "dmc", root / "results" / kind / "dmc")
    edit_yaml(root / "config/config.yaml", lambda c: (c.update(seeds=[0], device="cpu"),
                                                      c["benchmarks"]["dmc"].update(games=[GAME]),
                                                      c["publish"].update(push=False)))
    edit_yaml(root / "config/analysis.yaml", lambda a: (a["benchmarks"]["dmc"].update(games=[GAME]),
                                                        a["statistics"].update(interval_reps=200, profile_reps=200,
                                                                               improvement_reps=200, curve_reps=200)))
    subprocess.run([sys.executable, "-m", "dvc", "init", "--no-scm", "-q"], cwd=root, check=True)
    done = snakemake(root, "--profile", "profiles/local", "all_dmc", timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "localrule publish:" in output and "rule train:" not in output and "rule evaluate:" not in output
    assert json.loads((root / "results/data/dmc/M3-repro.json").read_text()) == {
        GAME: [json.loads((root / f"results/scores/dmc/{GAME}/seed0.json").read_text())["mean_return"]]}
    assert (root / "results/figures/dmc/aggregates.png").stat().st_size > 1000
    assert "aggregate@dmc" in (root / "dvc.lock").read_text()
    weights = root / f"results/weights/dmc/{GAME}/seed0.pt"
    assert weights.read_bytes() == (root / f"results/runs/dmc/{GAME}/seed0/weights.pt").read_bytes()
    assert "path: dmc" in (root / "results/weights/dmc.dvc").read_text()
