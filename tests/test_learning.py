"""Learning check (issue 2): a seeded short CartPole run beats random play by a clear margin.

The run is the CartPole preset cut to 25 epochs (5,000 env steps; the critic trains from epoch 4, the actor
from epoch 5: `critic_warmup_epochs` 2 zeroes it while epoch < 3 + 2, §6.2). Random play on CartPole-v1 lasts
about 22 steps; the trained agent must at least double the random return measured here on the same env.
"""

import numpy as np
import pytest

from benchmarks.envs import random_returns
from m3.checkpoint import RunDir
from m3.config import load_config
from m3.train import start


@pytest.mark.slow(minutes=6)
def test_cartpole_agent_beats_random_play(tmp_path):
    cfg = load_config(["benchmark=cartpole", "seed=0", "epochs=25", f"run_dir={tmp_path / 'run'}"])
    trainer = start(cfg, RunDir(cfg.run_dir))
    trainer.run_epochs()
    final = trainer.finish()["final/return"]
    baseline = float(np.mean(random_returns("cartpole", cfg.env, episodes=100, seed=cfg.seed)))
    assert 15 < baseline < 30
    assert final >= 2 * baseline, f"final return {final:.1f} vs random {baseline:.1f}"
