"""The world model learns CartPole's termination from random play: on held-out episodes it gives terminal
transitions a much higher done probability than the others (a seeded learning check of design §5.4)."""

import numpy as np
import pytest
import torch

from m3.agent import Agent
from m3.config import load_config
from m3.data import EpisodeBuilder, PrioritizedSampler, ReplayStore
from m3.envs import registry
from m3.models.optim import adamw


def random_play(spec, env, steps: int, seed: int) -> ReplayStore:
    store, rng, episode_id = ReplayStore(None), np.random.default_rng(seed), 0
    while store.num_steps < steps:
        obs, _ = env.reset(seed=seed * 100_000 + episode_id)
        builder = EpisodeBuilder(episode_id, spec.action)
        builder.start(obs)
        episode_id += 1
        done = False
        while not done:
            action = int(rng.integers(2))
            obs, reward, terminated, truncated, _ = env.step(action)
            builder.step(action, reward, terminated, obs)
            done = terminated or truncated
        store.add(builder.episode())
    return store


@pytest.mark.slow
def test_world_model_learns_cartpole_termination():
    torch.manual_seed(0)
    cfg = load_config(["benchmark=cartpole", "run_dir=/tmp/unused"])
    spec = registry.env_spec("cartpole", cfg.env)
    agent = Agent(cfg, spec)
    env = registry.make_env("cartpole", cfg.env, "train", seed=0)
    train, held_out = random_play(spec, env, 4000, seed=1), random_play(spec, env, 1500, seed=2)
    wm, length = agent.world_model, cfg.world_model.retnet.max_blocks
    sampler, generator = PrioritizedSampler(), torch.Generator().manual_seed(0)
    sampler.sync(train, ctx=cfg.world_model.context_length)
    optimizer = adamw(wm, 2e-4, 0.05)
    wm.train()
    for _ in range(400):
        batch = train.collate(sampler.sample(16, generator), length, "right")
        out = wm.compute_loss(agent.tokenizer.tokenize(batch["obs"]), batch["actions"], batch["rewards"],
                              batch["ends"], batch["mask_padding"], None)
        optimizer.zero_grad()
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(wm.parameters(), 3.0)
        optimizer.step()
        sampler.update(batch["ids"], out.priority)
    wm.eval()
    terminal, other = [], []
    with torch.no_grad():
        for episode_id in held_out.episode_ids:
            start = max(0, len(held_out[episode_id]) - length)  # the segment holding the episode's end
            batch = held_out.collate([(episode_id, start)], length, "right")
            p_done = wm(agent.tokenizer.tokenize(batch["obs"]), batch["actions"], None).done.softmax(-1)[0, 1:, 1]
            valid = batch["mask_padding"][0, :-1] & batch["mask_padding"][0, 1:]  # d_t read at block t+1 (D1)
            ends = batch["ends"][0, :-1] == 1
            terminal += p_done[valid & ends].tolist()
            other += p_done[valid & ~ends].tolist()
    assert len(terminal) > 30
    assert np.mean(terminal) > 0.4 and np.mean(other) < 0.15, (np.mean(terminal), np.mean(other))
