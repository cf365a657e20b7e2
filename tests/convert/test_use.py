"""Converted official weights work where m3 weights do (issue 17, docs/weights.md): on each benchmark the
reference checkpoint, converted by `python -m m3.convert`, plays headless in the real env and in its world model
(`m3.play ... --frames 50 --screenshot`) and evaluates (`m3.evaluate weights=... episodes=2`)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
from convert_reference import BENCHMARKS, DATA, REDUCED
from PIL import Image

from m3.convert.__main__ import main as convert_main
from m3.evaluate import main as evaluate_main
from m3.play.__main__ import main as play_main
from m3.weights import read_weights

# The reference Atari build is DemonAttack's (6 actions); its weights fit any 6-action game, and Pong's episodes
# are a third as long, which keeps the evaluation short.
GAMES = {"atari": "Pong", "dmc": "walker-run", "craftax": "Craftax-Symbolic-v1"}


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """benchmark -> the reference checkpoint converted to an m3 weights file."""
    out = tmp_path_factory.mktemp("converted")
    files = {}
    for benchmark in BENCHMARKS:
        files[benchmark] = out / f"{benchmark}.pt"
        assert convert_main(["--from-official", str(DATA / f"{benchmark}_weights.pt"), "--benchmark", benchmark,
                             *[o for o in REDUCED[benchmark] if not o.startswith("env.game=")],
                             f"env.game={GAMES[benchmark]}", "--out", str(files[benchmark])]) == 0
    return files


def assert_drawn(path) -> None:
    """Not blank: a frame as wide as the viewer with at least three colours and real contrast."""
    image = np.asarray(Image.open(path).convert("RGB"))  # (H, W, 3)
    assert image.shape[1] >= 480 and image.std() > 10 and len(np.unique(image.reshape(-1, 3), axis=0)) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_converted_weights_play_and_evaluate(benchmark, converted, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    weights = converted[benchmark]
    for mode in ([], ["-a"]):  # the agent in the real env, then in its own world model
        shot = tmp_path / f"play{''.join(mode)}.png"
        assert play_main([benchmark, "-p", str(weights), *mode, "--frames", "50", "--fps", "240",
                          "--screenshot", str(shot)]) == 0
        assert_drawn(shot)

    out = tmp_path / "scores.json"
    assert evaluate_main([f"weights={weights}", "episodes=2", "envs=2", f"out={out}"]) == 0
    scores = json.loads(out.read_text())
    assert (scores["benchmark"], scores["game"], scores["num_episodes"]) == (benchmark, GAMES[benchmark], 2)
    assert len(scores["returns"]) == 2 and all(math.isfinite(r) for r in scores["returns"])
    assert scores["checkpoint_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert scores["epoch"] is None and read_weights(weights).origin["official_checkpoint"].endswith(
        f"{benchmark}_weights.pt")


def test_converted_weights_in_a_run_folder_evaluate(converted, tmp_path):
    """The workflow's evaluate rule calls `m3.evaluate run_dir=<run>`: a converted file put at the run folder's
    weights.pt is what it evaluates."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "weights.pt").write_bytes(converted["dmc"].read_bytes())
    assert evaluate_main([f"run_dir={run}", "episodes=2", "envs=2"]) == 0
    scores = json.loads((run / "scores.json").read_text())
    assert scores["checkpoint"] == str(run / "weights.pt") and scores["num_episodes"] == 2
