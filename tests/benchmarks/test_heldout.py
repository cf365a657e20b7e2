"""Held-out world-model losses and their baselines (benchmarks/heldout.py) against hand computations."""

import math

import numpy as np
import pytest
import torch

from benchmarks.heldout import COPY_EPSILONS, Baselines, heldout_losses
from m3.agent import Agent
from m3.config import load_config
from m3.data import Episode
from m3.envs import registry
from m3.models.distributions import symlog
from tests.data.replay_episodes import random_episode


@pytest.fixture(scope="module")
def setup():
    cfg = load_config(["benchmark=cartpole", "scale=smoke", "run_dir=/tmp/unused"])
    torch.manual_seed(0)
    agent = Agent(cfg, registry.env_spec("cartpole", cfg.env)).eval()
    gen = torch.Generator().manual_seed(4)
    train = [random_episode(agent.spec, i, rows, gen) for i, rows in enumerate([9, 14, 7])]
    L = cfg.world_model.retnet.max_blocks
    test = [random_episode(agent.spec, 10, L, gen)]  # exactly one window
    return agent, train, test, Baselines(agent, train)


def test_world_model_numbers_equal_its_training_loss_on_the_one_window(setup):
    agent, _, test, baselines = setup
    e = test[0]
    with torch.no_grad():
        out = agent.world_model_loss({"obs": {k: v[None] for k, v in e.observations.items()},
                                      "actions": e.actions[None], "rewards": e.rewards[None], "ends": e.ends[None],
                                      "mask_padding": e.mask_padding[None]})
    got = heldout_losses(agent, baselines, test)
    assert got["obs_ce"]["world_model"] == pytest.approx(float(out.metrics["loss_obs"]), rel=1e-5)
    assert got["reward_ce"]["world_model"] == pytest.approx(float(out.metrics["loss_rewards"]), rel=1e-5)
    assert got["end_ce"]["world_model"] == pytest.approx(float(out.metrics["loss_ends"]), rel=1e-5)
    ctx, rows = agent.world_model.cfg.context_length, len(e)
    assert got["targets"] == {"observations": rows - ctx, "steps": rows - 1}


def test_baselines_equal_a_hand_computation(setup):
    agent, train, test, baselines = setup
    tok = lambda e: agent.tokenizer.vector.tokenize(e.observations["vector"]).numpy()  # noqa: E731  (rows, 4)
    train_tokens = np.concatenate([tok(e) for e in train])
    n, dims, vocab = len(train_tokens), train_tokens.shape[1], 125
    prob = lambda d, x: (np.sum(train_tokens[:, d] == x) + 1) / (n + vocab)  # noqa: E731
    x, ctx, eps = tok(test[0]), agent.world_model.cfg.context_length, baselines.token_epsilon
    marginal = [-math.log(prob(d, x[t, d])) for t in range(ctx, len(x)) for d in range(dims)]
    copy = [-math.log((1 - eps) * (x[t, d] == x[t - 1, d]) + eps * prob(d, x[t, d]))
            for t in range(ctx, len(x)) for d in range(dims)]
    hl = agent.world_model.reward_head.hl_gauss
    p_bar = torch.cat([hl.targets(symlog(e.rewards[:-1])) for e in train]).mean(0).clamp_min(1e-8)  # as documented
    r = test[0].rewards[:-1]
    q = hl.targets(symlog(r))
    reward_marginal = -(q * p_bar.log()).sum(-1)
    e_r = baselines.reward_epsilon
    prev = torch.stack([p_bar] + [(1 - e_r) * hl.targets(symlog(r[t - 1])) + e_r * p_bar for t in range(1, len(r))])
    reward_copy = -(q * prev.log()).sum(-1)
    rate = float(torch.cat([e.ends[:-1] for e in train]).float().mean())
    d = test[0].ends[:-1].float()
    end_marginal = -(d * math.log(rate) + (1 - d) * math.log(1 - rate))
    got = heldout_losses(agent, baselines, test)
    assert got["obs_ce"]["marginal"] == pytest.approx(np.mean(marginal), rel=1e-5)
    assert got["obs_ce"]["copy_last"] == pytest.approx(np.mean(copy), rel=1e-5)
    assert got["obs_accuracy"]["copy_last"] == pytest.approx(np.mean(x[ctx:] == x[ctx - 1 : -1]))
    assert got["reward_ce"]["marginal"] == pytest.approx(float(reward_marginal.mean()), rel=1e-4)
    assert got["reward_ce"]["copy_last"] == pytest.approx(float(reward_copy.mean()), rel=1e-4)
    assert got["reward_ce"]["target_entropy"] < got["reward_ce"]["marginal"]
    assert got["end_ce"]["marginal"] == pytest.approx(float(end_marginal.mean()), rel=1e-5)


def constant_episode(spec, rows: int) -> Episode:
    obs = {"vector": torch.full((rows, *spec.observations["vector"].shape), 0.3)}
    zeros = torch.zeros(rows, dtype=torch.int64)
    return Episode(0, obs, zeros, torch.full((rows,), 0.5), zeros, torch.ones(rows, dtype=torch.bool))


def test_the_copy_mixture_is_fitted_on_the_training_episodes(setup):
    agent, train, _, baselines = setup
    assert baselines.token_epsilon == max(COPY_EPSILONS)  # random vectors: the previous token rarely repeats
    still = Baselines(agent, [constant_episode(agent.spec, 12)])
    assert still.token_epsilon == min(COPY_EPSILONS) and still.reward_epsilon == min(COPY_EPSILONS)
