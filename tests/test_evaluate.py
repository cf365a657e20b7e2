"""`python -m m3.evaluate` (design §8.4, §8.5): a valid scores file from a run folder or a weights file elsewhere,
deterministic for a seed, and exit 2 with one line for bad input, before any env starts."""

import hashlib
import json
import multiprocessing
import shutil
import subprocess
import sys

import pytest
import torch

from m3.agent import Agent
from m3.config import load_config
from m3.envs import env_spec
from m3.evaluate import main, parse_args
from m3.metrics import MetricsLogger, read_metrics
from m3.weights import read_weights, save_weights

KEYS = {"benchmark", "game", "seed", "returns", "lengths", "mean_return", "num_episodes", "temperature", "checkpoint",
        "checkpoint_sha256", "epoch", "code_version", "seconds", "curve"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished-looking CartPole run folder written with the real writers: weights.pt and metrics.jsonl."""
    root = tmp_path_factory.mktemp("run")
    cfg = load_config(["benchmark=cartpole", "scale=smoke", "seed=3", f"run_dir={root}"])
    torch.manual_seed(0)
    agent = Agent(cfg, env_spec(cfg.benchmark, cfg.env))
    save_weights(root / "weights.pt", cfg, agent.state_dict(), epoch=4, code_version="test")
    logger = MetricsLogger(root)
    logger.log({"train_dataset/#steps": 50}, 1)
    logger.log({"train_dataset/#steps": 100, "test_dataset/return": 12.5}, 2)
    logger.log({"world_model/train/total_loss": 1.0}, 3)  # an epoch without collection: steps carry over
    logger.log({"test_dataset/return": 20.0}, 4)
    logger.log({"final/return": 19.0, "final/#episodes": 2}, 4)
    return root


def check_scores(scores: dict, run_dir, episodes: int, envs: int, weights=None) -> None:
    """The scores file of common_interfaces.md, checked against the run folder and weights it came from."""
    weights = weights or run_dir / "weights.pt"
    assert set(scores) == KEYS
    cfg = read_weights(weights).cfg
    assert (scores["benchmark"], scores["game"], scores["seed"]) == (cfg.benchmark, cfg.env.game, cfg.seed)
    assert scores["num_episodes"] == len(scores["returns"]) == len(scores["lengths"]) == -(-episodes // envs) * envs
    assert scores["mean_return"] == pytest.approx(sum(scores["returns"]) / len(scores["returns"]))
    assert all(length > 0 for length in scores["lengths"])
    assert scores["temperature"] == 0.5
    assert scores["checkpoint"] == str(weights)
    assert scores["checkpoint_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert scores["code_version"] and scores["seconds"] > 0
    periodic = [r for r in read_metrics(run_dir) if "test_dataset/return" in r]
    assert scores["curve"]["epochs"] == [r["epoch"] for r in periodic]
    assert scores["curve"]["returns"] == [r["test_dataset/return"] for r in periodic]
    assert len(scores["curve"]["env_steps"]) == len(periodic)


def test_scores_file_from_a_run_folder(run_dir, capsys):
    assert main([f"run_dir={run_dir}", "episodes=3", "envs=2"]) == 0
    scores = json.loads((run_dir / "scores.json").read_text())
    check_scores(scores, run_dir, episodes=3, envs=2)
    assert scores["epoch"] == 4 and scores["seed"] == 3
    assert scores["curve"] == {"epochs": [2, 4], "env_steps": [100, 100], "wall_s": [0.0, 0.0], "returns": [12.5, 20.0]}
    assert "mean return" in capsys.readouterr().out


def test_same_seed_same_episodes_and_a_weights_file_elsewhere(run_dir, tmp_path):
    """A pulled-style weights file (results/weights/.../seed3.pt) evaluates alone, and equals the run's own."""
    pulled = tmp_path / "results" / "weights" / "cartpole" / "CartPole-v1" / "seed3.pt"
    pulled.parent.mkdir(parents=True)
    shutil.copy(run_dir / "weights.pt", pulled)
    assert main([f"run_dir={run_dir}", "episodes=4", "envs=2", "seed=1", f"out={tmp_path / 'a.json'}"]) == 0
    assert main([f"weights={pulled}", "episodes=4", "envs=2", "seed=1", f"out={tmp_path / 'b.json'}"]) == 0
    assert main([f"run_dir={run_dir}", f"weights={pulled}", "episodes=4", "envs=2", "seed=2",
                 f"out={tmp_path / 'c.json'}"]) == 0
    a, b, c = (json.loads((tmp_path / f"{x}.json").read_text()) for x in "abc")
    check_scores(c, run_dir, episodes=4, envs=2, weights=pulled)
    assert b["checkpoint"] == str(pulled) and b["checkpoint_sha256"] == a["checkpoint_sha256"]
    assert b["curve"] == {"epochs": [], "env_steps": [], "wall_s": [], "returns": []}
    assert a["returns"] == b["returns"] and a["lengths"] == b["lengths"]
    assert c["returns"] != a["returns"]


def test_a_run_without_weights_uses_its_last_checkpoint(tmp_path):
    from m3.checkpoint import RunDir
    from m3.config import to_yaml

    cfg = load_config(["benchmark=cartpole", "scale=smoke", f"run_dir={tmp_path}"])
    agent = Agent(cfg, env_spec(cfg.benchmark, cfg.env))
    run = RunDir(tmp_path)
    run.config.parent.mkdir(parents=True)
    run.config.write_text(to_yaml(cfg))
    run.save(agent=agent.state_dict(), optimizers={}, trainer={}, metadata={"epoch": 2, "best_eval_score": 0.0,
                                                                              "epoch_of_best_score": 0})
    assert main([f"run_dir={tmp_path}", "episodes=1"]) == 0
    scores = json.loads((tmp_path / "scores.json").read_text())
    assert scores["checkpoint"] == str(run.checkpoints / "last.pt") and scores["epoch"] == 2
    assert scores["num_episodes"] == 1


def _bad(tmp_path, run_dir):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a torch file")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    empty = tmp_path / "empty_run"
    empty.mkdir()
    return [
        ([f"run_dir={run_dir}", "episodes=0"], "episodes=0 is not allowed; it must lie in [1, inf)"),
        ([f"run_dir={run_dir}", "episodes=-2"], "episodes=-2 is not allowed; it must lie in [1, inf)"),
        ([f"run_dir={run_dir}", "envs=0"], "envs=0 is not allowed; it must lie in [1, inf)"),
        ([f"run_dir={run_dir}", "episodes=ten"], "Value 'ten' of type 'str' could not be converted to Integer"),
        ([f"run_dir={run_dir}", "seed=-1"], "seed=-1 is not allowed; it must lie in [0, 4294967296)"),
        ([f"run_dir={run_dir}", "seed=4294967296"], "seed=4294967296 is not allowed; it must lie in [0, 4294967296)"),
        ([f"run_dir={run_dir}", "episode=3"], "Could not override 'episode'"),
        ([f"run_dir={run_dir}", "+episode=3"],
         "unknown config key 'episode' (from an override or a config file); allowed keys: run_dir, episodes, envs, "
         "weights, out, seed, device"),
        ([f"run_dir={run_dir}", "--episodes", "3"],
         "'--episodes' is not an override: arguments are Hydra overrides key=value (e.g. episodes=<value>, no dashes)"),
        ([f"run_dir={run_dir}", "device=tpu"], "device='tpu' is not allowed; choose one of ['cpu', 'cuda']"),
        ([f"run_dir={tmp_path / 'missing'}"], f"run_dir='{tmp_path / 'missing'}' is not a folder"),
        ([f"run_dir={empty}"], f"{empty} is not an m3 run folder"),
        ([f"run_dir={run_dir}", f"weights={corrupt}"], f"checkpoint file {corrupt} is corrupt"),
        ([f"run_dir={run_dir}", f"weights={foreign}"], f"{foreign} is not an m3 weights file"),
        ([f"run_dir={run_dir}", f"weights={tmp_path / 'nope.pt'}"], f"weights='{tmp_path / 'nope.pt'}' is not a file"),
        ([f"weights={run_dir / 'weights.pt'}"], "out=<file> is required when no run_dir is given"),
        (["episodes=3"], "run_dir=<dir> is required"),
        ([f"run_dir={run_dir}", f"out={tmp_path}"], "is a folder; give a file path"),
    ]


def test_bad_input_exits_2_with_one_line_before_any_env_starts(run_dir, tmp_path, capsys):
    for argv, message in _bad(tmp_path, run_dir):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("m3.evaluate: error: ") and message in err, (argv, err)
        assert multiprocessing.active_children() == [], argv


def test_the_cli_exits_2_with_one_line(run_dir):
    result = subprocess.run([sys.executable, "-m", "m3.evaluate", f"run_dir={run_dir}", "episodes=0"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr == "m3.evaluate: error: episodes=0 is not allowed; it must lie in [1, inf)\n"


SMOKE_GAMES = [("cartpole", "CartPole-v1"), ("craftax", "Craftax-Symbolic-v1"), ("atari", "Breakout"),
               ("dmc", "walker-run")]


@pytest.mark.slow
@pytest.mark.parametrize("benchmark,game", SMOKE_GAMES, ids=[b for b, _ in SMOKE_GAMES])
def test_smoke_training_then_evaluate(tmp_path, benchmark, game):
    run_dir = tmp_path / "run"
    train = subprocess.run([sys.executable, "-m", "m3.train", f"benchmark={benchmark}", "scale=smoke", "seed=0",
                            f"env.game={game}", f"run_dir={run_dir}"], capture_output=True, text=True, timeout=1800)
    assert train.returncode == 0, train.stderr[-3000:]
    result = subprocess.run([sys.executable, "-m", "m3.evaluate", f"run_dir={run_dir}", "episodes=3", "envs=2"],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads((run_dir / "scores.json").read_text())
    check_scores(scores, run_dir, episodes=3, envs=2)
    assert scores["epoch"] == 4 and scores["curve"]["epochs"] == [2, 4]
    assert scores["curve"]["env_steps"] == [100, 200]
    if benchmark == "craftax":  # achievements reach metrics.jsonl (§7.4)
        final = [r for r in read_metrics(run_dir) if "final/return" in r][-1]
        assert "final/achievements/collect_wood" in final
    episodes = list((run_dir / "media" / "episodes" / "train").glob("*.pt"))
    assert episodes or benchmark in ("dmc", "craftax"), "a finished train episode is saved as media (§7.3)"
    pngs = sorted((run_dir / "media" / "reconstructions").glob("epoch_*_t_*.png"))
    assert (benchmark == "atari") == bool(pngs), "reconstruction PNGs exactly for image envs (§7.1 step 5)"


def test_arguments_are_hydra_overrides_like_m3_train(run_dir):
    args = parse_args([f"run_dir={run_dir}", "episodes=3", "episodes=5", "seed=7"])  # the last value wins
    assert (args.run_dir, args.episodes, args.envs, args.seed) == (run_dir, 5, None, 7)
    assert args.out == run_dir / "scores.json"
