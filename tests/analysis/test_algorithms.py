"""Results files of algorithms → score matrices: formats, normalisation, and one clear error per bad input."""

import json
import shutil

import numpy as np
import pytest
from analysis_helpers import PUBLISHED, ROOT

from m3.analysis.algorithms import curve_matrix, final_matrix, load_ours, load_published, load_results_file
from m3.analysis.params import AnalysisError, load_params

PARAMS = load_params(ROOT / "config" / "analysis.yaml")
ATARI, CRAFTAX = PARAMS.benchmark("atari"), PARAMS.benchmark("craftax")


@pytest.fixture
def atari_dir(tmp_path):
    folder = tmp_path / "published" / "atari"
    shutil.copytree(PUBLISHED / "atari", folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def test_published_atari_loads_in_params_order(atari_dir):
    algos, normalise = load_published(atari_dir, PARAMS, ATARI)
    assert [a.name for a in algos] == ["M3", "REM", "IRIS", "dreamerv3", "TWM", "SimPLe", "EfficientZero"]
    assert normalise("Pong", np.array([-20.7, 14.6])) == pytest.approx([0.0, 1.0])
    assert [a.single for a in algos] == [False] * 6 + [True]  # EfficientZero: one value per game


def test_published_craftax_has_m3_and_the_three_curves_baselines():
    algos, _ = load_published(PUBLISHED / "craftax", PARAMS, CRAFTAX)
    assert [a.name for a in algos] == ["M3", "PPO-RNN", "PPO-RND", "E3B"]
    raw = json.loads((PUBLISHED / "craftax" / "craftax_baselines.json").read_text())["E3B"]
    e3b = algos[3]
    game = CRAFTAX.games[0]
    assert e3b.finals[game] == [run["scores"][-1] for run in raw] and len(e3b.finals[game]) == 10
    steps, returns = e3b.curves[game][0]
    finite = [v for v in raw[0]["scores"] if np.isfinite(v)]
    assert returns == finite and steps[-1] == 1_000_000  # point k of 244 at (k + 1) x 1M / 244 env steps
    first = len(raw[0]["scores"]) - len(finite)  # the NaN points lead
    assert steps[0] == round((first + 1) * 1_000_000 / 244)
    steps, values = curve_matrix(e3b, CRAFTAX.games, lambda g, v: v)
    assert values.shape[:2] == (10, 1) and steps[-1] == 1_000_000 and np.isfinite(values).all()


def test_a_bad_curves_file_is_named(tmp_path):
    (tmp_path / "curves.json").write_text(json.dumps({"PPO_RNN": [{"scores": [1.0, float("nan")]}]}))
    with pytest.raises(AnalysisError, match="PPO_RNN run 0 ends with nan, not a final score"):
        load_published(tmp_path, PARAMS, CRAFTAX)
    (tmp_path / "curves.json").write_text(json.dumps({"MuZero": [{"scores": [1.0]}]}))
    with pytest.raises(AnalysisError, match="unknown algorithm 'MuZero'"):
        load_published(tmp_path, PARAMS, CRAFTAX)


def test_unknown_algorithm_is_named_with_its_file(atari_dir):
    shutil.copy(atari_dir / "IRIS.json", atari_dir / "MuZero.json")
    with pytest.raises(AnalysisError, match="unknown algorithm 'MuZero'.*MuZero.json.*config/analysis.yaml"):
        load_published(atari_dir, PARAMS, ATARI)
    shutil.copy(atari_dir / "IRIS.json", atari_dir / "M3-repro.json")
    (atari_dir / "MuZero.json").unlink()
    with pytest.raises(AnalysisError, match="M3-repro is the name of this project's runs"):
        load_published(atari_dir, PARAMS, ATARI)


@pytest.mark.parametrize("constant", ["HUMAN", "RANDOM"])
def test_game_missing_from_normalisation_constants_is_named(atari_dir, constant):
    path = atari_dir / f"{constant}.json"
    table = json.loads(path.read_text())
    del table["Qbert"]
    path.write_text(json.dumps(table))
    with pytest.raises(AnalysisError, match=f"{path} has no score for game 'Qbert'"):
        load_published(atari_dir, PARAMS, ATARI)


def test_missing_constants_and_published_folder_are_named(atari_dir):
    (atari_dir / "HUMAN.json").unlink()
    with pytest.raises(AnalysisError, match=f"HUMAN scores file {atari_dir / 'HUMAN.json'} does not exist"):
        load_published(atari_dir, PARAMS, ATARI)
    with pytest.raises(AnalysisError, match="published folder .*nowhere does not exist .*git checkout"):
        load_published(atari_dir / "nowhere", PARAMS, ATARI)


def test_malformed_results_files_are_named(tmp_path):
    path = tmp_path / "X.json"
    path.write_text(json.dumps({"Pong": [1.0, "two"]}))
    with pytest.raises(AnalysisError, match=f"{path}: Pong has 'two'"):
        load_results_file(path, "X", ATARI)
    path.write_text(json.dumps([{"eval_epochs": [1], "eval_scores": [2.0]}]))
    with pytest.raises(AnalysisError, match="only for single-game benchmarks"):
        load_results_file(path, "X", ATARI)
    path.write_text(json.dumps([{"eval_epochs": [1, 2], "eval_scores": [2.0]}]))
    with pytest.raises(AnalysisError, match="run 0 has 2 eval_epochs but 1 scores"):
        load_results_file(path, "X", CRAFTAX)


def test_matrices_need_every_game_and_equal_run_counts(atari_dir):
    algos, normalise = load_published(atari_dir, PARAMS, ATARI)
    m3 = algos[0]
    assert final_matrix(m3, ATARI.games, normalise).shape == (5, 26)
    del m3.finals["Pong"]
    with pytest.raises(AnalysisError, match=r"M3 \(.*M3.json\) has no scores for \['Pong'\]"):
        final_matrix(m3, ATARI.games, normalise)
    m3.finals["Pong"] = [1.0]
    with pytest.raises(AnalysisError, match="different numbers of runs per game"):
        final_matrix(m3, ATARI.games, normalise)


def test_craftax_curves_use_the_common_evaluation_steps():
    m3 = load_results_file(PUBLISHED / "craftax" / "M3.json", "M3", CRAFTAX)
    assert m3.finals[CRAFTAX.games[0]][0] == pytest.approx(16.244230857262245)
    steps, values = curve_matrix(m3, CRAFTAX.games, lambda g, v: v)
    assert steps[0] == 20_000 and steps[-1] == 1_000_000 and values.shape == (5, 1, 50)
    m3.curves[CRAFTAX.games[0]][1] = ([20_000, 40_000], [1.0, 2.0])
    steps, values = curve_matrix(m3, CRAFTAX.games, lambda g, v: v)
    assert list(steps) == [20_000, 40_000] and values[1, 0].tolist() == [1.0, 2.0]


def test_ours_without_runs_is_none_and_with_runs_reads_the_companion_curves(tmp_path):
    (tmp_path / "M3-repro.json").write_text("{}")
    assert load_ours(tmp_path, ATARI) is None
    (tmp_path / "M3-repro.json").write_text(json.dumps({"Pong": [3.0]}))
    with pytest.raises(AnalysisError, match="companion file .*M3-repro.runs.json does not exist"):
        load_ours(tmp_path, ATARI)
    run = {"game": "Pong", "epoch": 2, "mean_return": 3.0,
           "curve": {"epochs": [1, 2], "env_steps": [200, 400], "returns": [1.0, 2.0]}}
    (tmp_path / "M3-repro.runs.json").write_text(json.dumps({"runs": [run]}))
    ours = load_ours(tmp_path, ATARI)
    # the final evaluation (3.0) replaces the periodic one of the final epoch, at its env steps
    assert ours.finals == {"Pong": [3.0]} and ours.curves == {"Pong": [([200, 400], [1.0, 3.0])]}
    run.update(epoch=3)  # no periodic evaluation at the final epoch: placed at epoch x steps_per_epoch
    (tmp_path / "M3-repro.runs.json").write_text(json.dumps({"runs": [run]}))
    assert load_ours(tmp_path, ATARI).curves == {"Pong": [([200, 400, 3 * ATARI.steps_per_epoch], [1.0, 2.0, 3.0])]}
