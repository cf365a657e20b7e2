"""Learning check on a real benchmark env (issue 15): a seeded short DMC cartpole-balance run beats random play.

The run is the DMC benchmark at `scale=small`, cut to a few minutes (docs/learning.md, "A few-minute DMC learning
test"): 10 epochs of 500 env steps; world model from epoch 2 (150 updates per epoch), critic and actor from epoch 3
(no critic warm-up, §6.2; 80 actor-critic updates per epoch); 5 burn-in steps and a 10-step imagination horizon;
and 3 action levels per dimension instead of 51, without which the agent does not beat random play in this budget.
Learning rates, γ, λ, entropy weight, curiosity weight and the evaluation protocol are the benchmark's. The run
exercises the continuous-action path (per-dimension categorical actor, action tokens), the fixed symlog vector
tokenizer and the schedule on the real dm_control task.
"""

import numpy as np
import pytest

from benchmarks.envs import random_returns
from m3.checkpoint import RunDir
from m3.config import load_config
from m3.train import start

FEW_MINUTES = [
    "epochs=10",
    "collection.test.num_episodes_end=16",
    "evaluation.every=100",
    "world_model.retnet.max_blocks=10",
    "world_model.retnet.blocks_per_chunk=10",
    "imagination.burn_in=5",
    "actor_critic.n_action_quant_levels=3",
    "training.world_model.start_after_epochs=1",
    "training.world_model.steps_per_epoch=150",
    "training.actor_critic.start_after_epochs=2",
    "training.actor_critic.critic_warmup_epochs=0",
    "training.actor_critic.steps_per_epoch=80",
]


@pytest.mark.slow(minutes=5)
def test_dmc_cartpole_balance_agent_beats_random_play(tmp_path):
    cfg = load_config(["benchmark=dmc", "env.game=cartpole-balance", "scale=small", "seed=0",
                       f"run_dir={tmp_path / 'run'}", *FEW_MINUTES])
    trainer = start(cfg, RunDir(cfg.run_dir))
    trainer.run_epochs()
    final = trainer.finish()["final/return"]
    baseline = float(np.mean(random_returns("dmc", cfg.env, cfg.collection.test.num_episodes_end, cfg.seed)))
    assert 250 < baseline < 400
    assert final >= 1.5 * baseline, f"final return {final:.1f} vs random {baseline:.1f}"
