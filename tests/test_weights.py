"""The final-weights file: round trip, run-folder fallback, and one clear error per bad input (design §7.3)."""

import pytest
import torch

from m3.agent import Agent
from m3.checkpoint import CheckpointError, RunDir
from m3.config import load_config
from m3.envs import registry
from m3.train import prepare_run
from m3.trainer import Trainer
from m3.weights import load_agent, read_weights, save_weights


@pytest.fixture
def cfg(tmp_path):
    return load_config(["benchmark=cartpole", "scale=smoke", "seed=3", f"run_dir={tmp_path / 'run'}"])


def make_agent(cfg, seed):
    torch.manual_seed(seed)
    return Agent(cfg, registry.env_spec(cfg.benchmark, cfg.env))


def test_weights_round_trip(cfg, tmp_path):
    agent = make_agent(cfg, 0)
    save_weights(tmp_path / "w.pt", cfg, agent.state_dict(), epoch=7, code_version="abc")
    loaded, info = load_agent(tmp_path / "w.pt")
    assert info.epoch == 7 and info.code_version == "abc" and info.cfg == cfg
    assert not loaded.training
    for k, v in agent.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k
    other = make_agent(cfg, 1).state_dict()
    assert any(not torch.equal(other[k], v) for k, v in agent.state_dict().items())


def test_run_folder_without_weights_uses_last_checkpoint(cfg):
    prepare_run(cfg, RunDir(cfg.run_dir))
    trainer = Trainer(cfg, RunDir(cfg.run_dir))
    trainer.run_epochs(stop_after=cfg.evaluation.every)
    loaded, info = load_agent(cfg.run_dir)
    assert info.path.name == "last.pt" and info.epoch == cfg.evaluation.every
    for k, v in trainer.agent.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v), k


def test_bad_weights_give_one_clear_error(cfg, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_weights(tmp_path / "missing.pt")
    (tmp_path / "corrupt.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="corrupt"):
        read_weights(tmp_path / "corrupt.pt")
    torch.save({"some": "dict"}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an m3 weights file"):
        read_weights(tmp_path / "foreign.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not an m3 run folder"):
        read_weights(tmp_path / "empty")
    state = make_agent(cfg, 0).state_dict()
    state.pop(next(iter(state)))
    save_weights(tmp_path / "partial.pt", cfg, state, epoch=1, code_version="x")
    with pytest.raises(CheckpointError, match="does not match"):
        load_agent(tmp_path / "partial.pt")
