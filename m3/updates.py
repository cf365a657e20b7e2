"""One optimiser step of the tokenizer, the world model or the actor-critic on replay data (design §7.1 steps 2–4,
§4.1, §5.4–§5.6, §6.2).

The trainer's epoch loop, `benchmarks/throughput.py`, `benchmarks/compare.py` and `benchmarks/components.py` all
call these functions, so what a benchmark times is what the trainer runs. Each step samples its batch from the
replay with `generator`, takes one AdamW step with the pre-clip gradient norm clipped at `max_grad_norm`, and
returns the step's metrics (the loss terms and that norm); with `bf16` the forward pass and loss run under
bfloat16 autocast (m3/speed.py). With a `TokenCache` (m3/token_cache.py) the world-model
and actor-critic steps read each replay row's tokens from the cache instead of encoding its frames again; the
tokenizer step clears the cache, since its tokens are stale once the tokenizer has changed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from m3.agent import Agent
from m3.config import OptimConfig, TrainingConfig
from m3.data import PrioritizedSampler, ReplayStore, batch_to, sample_frames, sample_uniform
from m3.models.optim import adamw
from m3.rl.imagination import ImaginationConfig, actor_critic_loss, imagine
from m3.rl.returns import ReturnScaler
from m3.speed import autocast
from m3.token_cache import TokenCache


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stops before the step that would spread it."""


def build_optimizers(agent: Agent, t: TrainingConfig) -> dict[str, torch.optim.Optimizer]:
    """The components' own AdamW optimisers (§7.1): the tokenizer's (image envs only), the world model's with weight
    decay on its matrices only (§5.6), the actor-critic's."""
    optimizers: dict[str, torch.optim.Optimizer] = {}
    if agent.tokenizer.trainable:
        optimizers["tokenizer"] = torch.optim.AdamW(agent.tokenizer.parameters(), lr=t.tokenizer.learning_rate,
                                                    weight_decay=t.tokenizer.weight_decay)
    optimizers["world_model"] = adamw(agent.world_model, t.world_model.learning_rate, t.world_model.weight_decay)
    optimizers["actor_critic"] = torch.optim.AdamW(agent.actor_critic.parameters(), lr=t.actor_critic.learning_rate,
                                                   weight_decay=t.actor_critic.weight_decay)
    return optimizers


def optimizer_step(optimizer: torch.optim.Optimizer, module: nn.Module, loss: torch.Tensor, max_grad_norm: float,
                   name: str) -> float:
    """Backward, clip the gradient norm of `module` at `max_grad_norm`, step; returns the pre-clip norm."""
    if not torch.isfinite(loss):
        raise NonFiniteLossError(f"{name} loss is {loss.item()}; no step taken")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = float(nn.utils.clip_grad_norm_(module.parameters(), max_grad_norm))
    optimizer.step()
    return grad_norm


def tokenizer_step(agent: Agent, store: ReplayStore, optimizer: torch.optim.Optimizer, c: OptimConfig,
                   generator: torch.Generator, cache: TokenCache | None = None, bf16: bool = False) -> dict[str, float]:
    """One VQ-VAE step on `c.batch_size` frames drawn uniformly from the replay (§4.1); clears `cache`."""
    frames = sample_frames(store, c.batch_size, generator).to(agent.device)  # (B, 3, 64, 64) uint8
    with autocast(agent.device, bf16):
        loss, metrics = agent.tokenizer.image.compute_loss(frames)
    grad_norm = optimizer_step(optimizer, agent.tokenizer, loss, c.max_grad_norm, "tokenizer")
    if cache is not None:
        cache.clear()
    return {"total_loss": loss.item(), **metrics, "grad_norm": grad_norm}


def world_model_step(agent: Agent, store: ReplayStore, sampler: PrioritizedSampler, optimizer: torch.optim.Optimizer,
                     c: OptimConfig, max_blocks: int, generator: torch.Generator,
                     cache: TokenCache | None = None, bf16: bool = False) -> dict[str, Any]:
    """One world-model step on a prioritized batch of right-padded `max_blocks`-step segments (§5.4–§5.6, §6.4);
    the batch's priorities are written back to `sampler`, which must be synced with `store`."""
    ids = sampler.sample(c.batch_size, generator)
    batch = batch_to(store.collate(ids, max_blocks, "right"), agent.device)
    with autocast(agent.device, bf16):
        tokens = None if cache is None else cache.tokens(batch)
        out = agent.world_model_loss(batch, tokens)
    grad_norm = optimizer_step(optimizer, agent.world_model, out.loss, c.max_grad_norm, "world_model")
    sampler.update(batch["ids"], out.priority.cpu())
    values = torch.stack([v.double() for v in out.metrics.values()]).tolist()  # one device sync for all metrics
    return {**dict(zip(out.metrics, values)), "grad_norm": grad_norm}


def actor_critic_step(agent: Agent, store: ReplayStore, optimizer: torch.optim.Optimizer, c: OptimConfig,
                      imagination: ImaginationConfig, context_length: int, scaler: ReturnScaler, train_actor: bool,
                      generator: torch.Generator, cache: TokenCache | None = None,
                      bf16: bool = False) -> dict[str, Any]:
    """One actor-critic step (§6.2): `c.batch_size` left-padded segments of burn_in + c steps drawn uniformly,
    the actor-critic burnt in and rolled out in the world model, REINFORCE + entropy + critic loss; with
    `train_actor` False (critic warm-up) only the critic learns."""
    length = imagination.burn_in + context_length
    ids = sample_uniform(store, c.batch_size, ctx=context_length + 1, length=length, generator=generator)
    batch = batch_to(store.collate(ids, length, "left"), agent.device)
    with autocast(agent.device, bf16):
        tokens = None if cache is None else cache.tokens(batch)
        traj = imagine(agent.tokenizer, agent.world_model, agent.actor_critic, batch, imagination, context_length,
                       tokens)
        loss, metrics = actor_critic_loss(traj, agent.actor_critic, imagination, scaler, train_actor)
    grad_norm = optimizer_step(optimizer, agent.actor_critic, loss, c.max_grad_norm, "actor_critic")
    return {**metrics, "grad_norm": grad_norm}


__all__ = ["NonFiniteLossError", "actor_critic_step", "build_optimizers", "optimizer_step", "tokenizer_step",
           "world_model_step"]
