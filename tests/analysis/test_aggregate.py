"""Aggregation CLI: per-run scores → results/data in the official formats (design §9.1) plus the companion file."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from analysis_helpers import ATARI_GAMES, PUBLISHED, ROOT, write_atari_runs, write_scores

from m3.analysis.aggregate import complete_block, main
from m3.analysis.scores import Curve, RunScores

PARAMS = ROOT / "config" / "analysis.yaml"


def aggregate(benchmark, scores, out):
    return main(["--benchmark", benchmark, "--scores", str(scores), "--out", str(out), "--params", str(PARAMS)])


def test_atari_runs_become_game_to_seed_scores(tmp_path):
    write_atari_runs(tmp_path / "scores", seeds=(0, 2))
    assert aggregate("atari", tmp_path / "scores", tmp_path / "data") == 0
    table = json.loads((tmp_path / "data" / "M3-repro.json").read_text())
    published = json.loads((PUBLISHED / "atari" / "M3.json").read_text())
    assert list(table) == ATARI_GAMES
    assert table["Pong"] == pytest.approx([published["Pong"][0], published["Pong"][2]])  # mean of (0.9, 1.1, 1) x
    companion = json.loads((tmp_path / "data" / "M3-repro.runs.json").read_text())
    assert companion["code_versions"] == ["0123abc"] and len(companion["runs"]) == 52
    first = companion["runs"][0]
    assert (first["game"], first["seed"], len(first["returns"])) == ("Alien", 0, 3)
    assert first["checkpoint_sha256"] == "0" * 64 and first["source"].endswith("Alien/seed0.json")
    assert first["curve"]["env_steps"] == [20000, 40000, 60000]


def test_craftax_runs_become_a_list_with_the_final_eval_last(tmp_path):
    scores = tmp_path / "scores"
    write_scores(scores, "craftax", "Craftax-Symbolic-v1", 0, [10.0, 14.0], curve_epochs=[200, 400, 600], epoch=600)
    write_scores(scores, "craftax", "Craftax-Symbolic-v1", 1, [9.0], curve_epochs=[200, 400], epoch=600)
    assert aggregate("craftax", scores, tmp_path / "data") == 0
    runs = json.loads((tmp_path / "data" / "M3-repro.json").read_text())
    assert [r["eval_epochs"] for r in runs] == [[200, 400, 600], [200, 400, 600]]
    assert runs[0]["eval_scores"][-1] == 12.0 and runs[1]["eval_scores"][-1] == 9.0
    assert runs[0]["eval_scores"][0] == 4.0  # periodic evaluations kept (the helper's curve: 12 * 1/3)


def test_no_runs_yet_gives_empty_files(tmp_path):
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / ".gitkeep").touch()
    assert aggregate("dmc", tmp_path / "scores", tmp_path / "dmc") == 0
    assert aggregate("craftax", tmp_path / "scores", tmp_path / "craftax") == 0
    assert json.loads((tmp_path / "dmc" / "M3-repro.json").read_text()) == {}
    assert json.loads((tmp_path / "craftax" / "M3-repro.json").read_text()) == []
    assert json.loads((tmp_path / "dmc" / "M3-repro.runs.json").read_text())["runs"] == []


def test_bad_input_exits_2_with_one_line_naming_the_file(tmp_path):
    path = write_scores(tmp_path / "scores", "atari", "Pong", 0, [1.0])
    path.write_text(json.dumps({**json.loads(path.read_text()), "returns": []}))
    done = subprocess.run([sys.executable, "-m", "m3.analysis.aggregate", "--benchmark", "atari", "--scores",
                           str(tmp_path / "scores"), "--out", str(tmp_path / "data"), "--params", str(PARAMS)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and not (tmp_path / "data").exists()
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "returns must be a non-empty list" in lines[0]


def runs_of(pairs):
    return [RunScores(Path(f"{g}/seed{s}.json"), g, s, 1.0, Curve((), (), ()), {}) for g, s in pairs]


@pytest.mark.parametrize("games, pairs, kept, left", [
    ("AB", [("A", 0), ("A", 1), ("B", 0), ("B", 1)], {("A", 0), ("A", 1), ("B", 0), ("B", 1)}, []),
    # one seed missing in one of three games: dropping the game keeps 4 runs, dropping the seed only 3
    ("ABC", [("A", 0), ("A", 1), ("B", 0), ("B", 1), ("C", 0)], {("A", 0), ("A", 1), ("B", 0), ("B", 1)},
     ["C: seed 1 missing, so its runs (seed 0) are left out"]),
    # two games, one short of a seed: 2 games x 1 seed ties with 1 game x 2 seeds; the tie goes to more games
    ("AB", [("A", 0), ("A", 1), ("B", 0)], {("A", 0), ("B", 0)}, ["A: seed 1 left out (not every game has it)"]),
    ("ABC", [("A", 3), ("B", 3)], {("A", 3), ("B", 3)}, ["C: no runs"]),
])
def test_the_largest_complete_block_is_kept(games, pairs, kept, left):
    runs, out = complete_block(runs_of(pairs), tuple(games))
    assert {(r.game, r.seed) for r in runs} == kept
    assert [e["text"] for e in out] == left
