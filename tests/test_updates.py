"""One tokenizer, world-model or actor-critic step (m3/updates.py) against the same step written out by hand, and
the steps with a token cache (m3/token_cache.py) against the steps without."""

import copy

import pytest
import torch
from torch import nn

from m3.agent import Agent
from m3.config import load_config
from m3.data import PrioritizedSampler, ReplayStore, sample_frames, sample_uniform
from m3.envs import registry
from m3.models.optim import adamw
from m3.rl.imagination import actor_critic_loss, imagine
from m3.rl.returns import ReturnScaler
from m3.token_cache import TokenCache
from m3.updates import NonFiniteLossError, actor_critic_step, optimizer_step, tokenizer_step, world_model_step
from tests.data.replay_episodes import random_episode


def setup(benchmark: str, game: str, lengths: list[int]):
    cfg = load_config([f"benchmark={benchmark}", f"env.game={game}", "scale=smoke", "run_dir=/tmp/unused"])
    torch.manual_seed(0)
    agent = Agent(cfg, registry.env_spec(benchmark, cfg.env))
    store, gen = ReplayStore(None), torch.Generator().manual_seed(3)
    for i, rows in enumerate(lengths):
        store.add(random_episode(agent.spec, i, rows, gen))
    return cfg, agent, store


def hand_step(module: nn.Module, optimizer, loss: torch.Tensor, max_norm: float) -> None:
    optimizer.zero_grad()
    loss.backward()
    norm = torch.sqrt(sum(p.grad.square().sum() for p in module.parameters() if p.grad is not None))
    for p in module.parameters():
        if p.grad is not None:
            p.grad.mul_(min(1.0, max_norm / (float(norm) + 1e-6)))
    optimizer.step()


def assert_same_parameters(a: nn.Module, b: nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)


def test_world_model_step_is_one_clipped_adamw_step_on_the_sampled_batch_and_writes_priorities():
    cfg, agent, store = setup("cartpole", "CartPole-v1", [15, 9, 22])
    c, L = cfg.training.world_model, cfg.world_model.retnet.max_blocks
    sampler = PrioritizedSampler(uniform_fraction=c.uniform_fraction)
    sampler.sync(store, ctx=cfg.world_model.context_length)
    reference = copy.deepcopy(agent)
    ref_opt = adamw(reference.world_model, c.learning_rate, c.weight_decay)
    gen = torch.Generator().manual_seed(7)
    ids = copy.deepcopy(sampler).sample(c.batch_size, torch.Generator().manual_seed(7))
    batch = store.collate(ids, L, "right")
    torch.manual_seed(11)  # the same dropout masks in both
    out = reference.world_model_loss(batch)
    hand_step(reference.world_model, ref_opt, out.loss, c.max_grad_norm)

    torch.manual_seed(11)
    metrics = world_model_step(agent, store, sampler, adamw(agent.world_model, c.learning_rate, c.weight_decay), c,
                               L, gen)
    assert metrics["total_loss"] == pytest.approx(out.loss.item())
    assert metrics["grad_norm"] > 0
    assert_same_parameters(agent.world_model, reference.world_model)
    rows = [sampler.keys().index(k) for k in ids]
    torch.testing.assert_close(sampler.losses[rows].float(), out.priority.float())


def test_tokenizer_step_is_one_clipped_adamw_step_on_uniform_frames():
    cfg, agent, store = setup("atari", "Breakout", [6, 4])
    c = cfg.training.tokenizer
    reference = copy.deepcopy(agent)
    frames = sample_frames(store, c.batch_size, torch.Generator().manual_seed(5))
    ref_opt = torch.optim.AdamW(reference.tokenizer.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
    loss, _ = reference.tokenizer.image.compute_loss(frames)
    hand_step(reference.tokenizer, ref_opt, loss, c.max_grad_norm)
    opt = torch.optim.AdamW(agent.tokenizer.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
    metrics = tokenizer_step(agent, store, opt, c, torch.Generator().manual_seed(5))
    assert metrics["total_loss"] == pytest.approx(loss.item())
    assert {"reconstruction_loss", "commitment_loss", "codebook_usage"} <= set(metrics)
    assert_same_parameters(agent.tokenizer, reference.tokenizer)


def test_a_non_finite_loss_stops_before_the_step():
    layer = nn.Linear(2, 1)
    before = copy.deepcopy(layer.state_dict())
    opt = torch.optim.AdamW(layer.parameters())
    with pytest.raises(NonFiniteLossError, match="world_model loss is nan"):
        optimizer_step(opt, layer, layer(torch.ones(1, 2)).sum() * float("nan"), 1.0, "world_model")
    for k, v in layer.state_dict().items():
        assert torch.equal(v, before[k])


def ac_step(agent, store, cfg, seed: int, cache=None, bf16: bool = False):
    c = cfg.training.actor_critic
    opt = torch.optim.AdamW(agent.actor_critic.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
    torch.manual_seed(seed)  # the same sampled actions
    return actor_critic_step(agent, store, opt, c, cfg.imagination, cfg.world_model.context_length,
                             ReturnScaler(cfg.imagination.return_buffer_size), True,
                             torch.Generator().manual_seed(seed), cache, bf16)


def test_actor_critic_step_is_one_clipped_adamw_step_on_an_imagined_rollout_from_uniform_segments():
    cfg, agent, store = setup("cartpole", "CartPole-v1", [30, 26, 41])
    c, ctx = cfg.training.actor_critic, cfg.world_model.context_length
    agent.eval()
    reference = copy.deepcopy(agent)
    length = cfg.imagination.burn_in + ctx
    ids = sample_uniform(store, c.batch_size, ctx=ctx + 1, length=length, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(4)
    traj = imagine(reference.tokenizer, reference.world_model, reference.actor_critic,
                   store.collate(ids, length, "left"), cfg.imagination, ctx)
    loss, _ = actor_critic_loss(traj, reference.actor_critic, cfg.imagination, ReturnScaler(), True)
    ref_opt = torch.optim.AdamW(reference.actor_critic.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
    hand_step(reference.actor_critic, ref_opt, loss, c.max_grad_norm)

    metrics = ac_step(agent, store, cfg, 4)
    assert metrics["total_loss"] == pytest.approx(loss.item())
    assert {"loss_actor", "loss_values", "loss_entropy", "grad_norm"} <= set(metrics)
    assert_same_parameters(agent.actor_critic, reference.actor_critic)


def test_steps_reading_the_token_cache_equal_the_steps_that_encode_pixels():
    cfg, agent, store = setup("atari", "Breakout", [30, 17, 25])
    agent.eval()
    plain, cached = copy.deepcopy(agent), copy.deepcopy(agent)
    cache = TokenCache(cached.tokenizer, store)
    c, L = cfg.training.world_model, cfg.world_model.retnet.max_blocks
    results = []
    for model, tokens in ((plain, None), (cached, cache)):
        sampler = PrioritizedSampler(uniform_fraction=c.uniform_fraction)
        sampler.sync(store, ctx=cfg.world_model.context_length)
        torch.manual_seed(1)
        wm = world_model_step(model, store, sampler, adamw(model.world_model, c.learning_rate, c.weight_decay), c, L,
                              torch.Generator().manual_seed(1), tokens)
        results.append((wm, ac_step(model, store, cfg, 2, tokens)))  # the AC step reads rows the WM step cached
    assert results[1][0] == pytest.approx(results[0][0], rel=1e-5)
    assert results[1][1] == pytest.approx(results[0][1], rel=1e-5)
    assert_same_parameters(cached, plain)
    assert 0 < cache.num_rows <= store.num_steps
    tokenizer_step(cached, store, torch.optim.AdamW(cached.tokenizer.parameters()), cfg.training.tokenizer,
                   torch.Generator().manual_seed(0), cache)
    assert cache.num_rows == 0  # the tokenizer changed
