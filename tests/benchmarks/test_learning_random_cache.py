"""benchmarks/learning.py keeps each seed's random baseline beside its run dir and reuses it only for the same
benchmark, env config, seed and episode count."""

import argparse
import json

import pytest

from benchmarks import learning
from m3.envs import EnvConfig


def args_for(tmp_path) -> argparse.Namespace:
    return argparse.Namespace(env="cartpole", game=None, run_root=tmp_path)


def test_the_baseline_is_played_once_and_then_read(tmp_path, monkeypatch):
    args, cfg = args_for(tmp_path), EnvConfig(game="CartPole-v1")
    first = learning.random_baseline(args, cfg, episodes=3, seed=5)
    saved = json.loads((tmp_path / "cartpole" / "seed5.random.json").read_text())
    assert saved["returns"] == first and len(first) == 3 and min(first) > 0

    def no_play(*_):
        raise AssertionError("played again")

    monkeypatch.setattr(learning, "random_returns", no_play)
    assert learning.random_baseline(args, cfg, episodes=3, seed=5) == first


@pytest.mark.parametrize("change", ["episodes", "seed"])
def test_a_different_key_plays_again(tmp_path, change):
    args, cfg = args_for(tmp_path), EnvConfig(game="CartPole-v1")
    learning.random_baseline(args, cfg, episodes=3, seed=5)
    episodes, seed = (4, 5) if change == "episodes" else (3, 6)
    again = learning.random_baseline(args, cfg, episodes=episodes, seed=seed)
    assert len(again) == episodes
    saved = json.loads((tmp_path / "cartpole" / f"seed{seed}.random.json").read_text())
    assert saved["key"]["episodes"] == episodes and saved["key"]["seed"] == seed
