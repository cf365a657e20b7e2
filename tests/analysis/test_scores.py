"""Per-run scores files and the params file: what loads, and one clear error per bad input."""

import json

import pytest
import yaml
from analysis_helpers import ATARI_GAMES, ROOT, scores_record, write_scores

from m3.analysis.params import OURS, AnalysisError, load_params
from m3.analysis.scores import collect_runs, load_run

GAMES = tuple(ATARI_GAMES)


def test_the_project_params_file_loads():
    params = load_params(ROOT / "config" / "analysis.yaml")
    assert params.statistics.interval_reps == 50000 and params.statistics.profile_reps == 2000
    assert params.statistics.improvement_reps == 1000  # §9.3
    atari = params.benchmark("atari")
    assert len(atari.games) == 26 and atari.tau[0] == 0 and atari.tau[-1] == 8 and len(atari.tau) == 201
    assert len(params.benchmark("dmc").games) == 18 and params.benchmark("craftax").games == ("Craftax-Symbolic-v1",)
    assert list(params.colors)[0] == OURS and len(set(params.colors.values())) == len(params.colors)
    with pytest.raises(AnalysisError, match="unknown benchmark 'pong'"):
        params.benchmark("pong")


@pytest.mark.parametrize("edit, message", [
    (lambda raw: raw["statistics"].pop("seed"), "has no key 'statistics.seed'"),
    (lambda raw: raw["statistics"].update(interval_reps="many"), "statistics.interval_reps='many' must be an integer"),
    (lambda raw: raw["benchmarks"]["atari"].update(metrics=["IQM", "Best"]), "has 'Best'"),
    (lambda raw: raw["benchmarks"]["atari"].update(normalisation="z"), "normalisation='z'"),
    (lambda raw: raw["algorithms"].pop(OURS), "must include 'M3-repro'"),
    (lambda raw: raw["benchmarks"]["craftax"]["metrics"].append("Optimality Gap"), "optimality_gamma must be"),
])
def test_a_bad_params_file_names_the_key(tmp_path, edit, message):
    raw = yaml.safe_load((ROOT / "config" / "analysis.yaml").read_text())
    edit(raw)
    path = tmp_path / "analysis.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(AnalysisError, match=message):
        load_params(path)


def test_a_scores_file_loads(tmp_path):
    path = write_scores(tmp_path, "atari", "Pong", 3, [1.0, 2.0, 6.0], curve_epochs=[20, 40])
    run = load_run(path, "atari", GAMES)
    assert (run.game, run.seed, run.score) == ("Pong", 3, 3.0)
    assert run.curve.epochs == (20, 40) and run.curve.env_steps == (2000, 4000)


@pytest.mark.parametrize("edit, message", [
    (lambda r: r.pop("returns"), "has no key 'returns'"),
    (lambda r: r.update(seed="0"), "seed='0' has the wrong type"),
    (lambda r: r.update(mean_return=99.0), "mean_return=99.0 is not the mean of its returns"),
    (lambda r: r.update(returns=[1.0, float("nan"), 2.0]), "returns has nan"),
    (lambda r: r.update(num_episodes=5), "num_episodes=5 but 3 returns"),
    (lambda r: r.update(game="Breakout"), "game='Breakout' does not match its place"),
    (lambda r: r.update(seed=4), "seed=4 does not match its place"),
    (lambda r: r.update(benchmark="dmc"), "benchmark='dmc' does not match"),
    (lambda r: r["curve"].update(returns=[1.0]), "differ in length"),
])
def test_a_malformed_scores_file_names_file_and_key(tmp_path, edit, message):
    record = scores_record("atari", "Pong", 0, [1.0, 2.0, 3.0], curve_epochs=[20, 40])
    edit(record)
    path = tmp_path / "Pong" / "seed0.json"
    path.parent.mkdir()
    path.write_text(json.dumps(record))
    with pytest.raises(AnalysisError, match=message) as info:
        load_run(path, "atari", GAMES)
    assert str(path) in str(info.value)


def test_unreadable_missing_and_misplaced_files(tmp_path):
    path = tmp_path / "Pong" / "seed0.json"
    path.parent.mkdir()
    path.write_text("{not json")
    with pytest.raises(AnalysisError, match=f"scores file {path} is not valid JSON"):
        load_run(path, "atari", GAMES)
    with pytest.raises(AnalysisError, match="does not exist"):
        load_run(tmp_path / "Pong" / "seed9.json", "atari", GAMES)
    with pytest.raises(AnalysisError, match=f"scores folder {tmp_path / 'nowhere'} does not exist"):
        collect_runs(tmp_path / "nowhere", "atari", GAMES)
    path.unlink()
    write_scores(tmp_path, "atari", "Pong", 0, [1.0])
    (tmp_path / "Pong" / "final.json").write_text("{}")
    with pytest.raises(AnalysisError, match="unexpected file .*final.json"):
        collect_runs(tmp_path, "atari", GAMES)


def test_unknown_game_is_named(tmp_path):
    path = write_scores(tmp_path, "atari", "Tetris", 0, [1.0])
    with pytest.raises(AnalysisError, match="unknown atari game 'Tetris'"):
        load_run(path, "atari", GAMES)


def test_runs_come_in_game_then_seed_order(tmp_path):
    for game, seed in [("Pong", 1), ("Alien", 2), ("Pong", 0), ("Alien", 10)]:
        write_scores(tmp_path, "atari", game, seed, [float(seed)])
    (tmp_path / ".gitkeep").touch()
    runs = collect_runs(tmp_path, "atari", GAMES)
    assert [(r.game, r.seed) for r in runs] == [("Alien", 2), ("Alien", 10), ("Pong", 0), ("Pong", 1)]
