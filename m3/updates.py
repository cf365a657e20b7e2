"""One optimiser step of the tokenizer or the world model on replay data (design §7.1 steps 2–3, §4.1, §5.4–§5.6).

The same steps as the trainer's epoch loop, as module-level functions, so that a component can be trained
without the loop (benchmarks/components.py) and the trainer can call them in place of its own methods.
Each step samples its batch from the replay with `generator`, takes one AdamW step with the pre-clip gradient
norm clipped at `max_grad_norm`, and returns the step's metrics (the loss terms and that norm).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from m3.agent import Agent
from m3.config import OptimConfig
from m3.data import PrioritizedSampler, ReplayStore, batch_to


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stops before the step that would spread it."""


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
                   generator: torch.Generator) -> dict[str, float]:
    """One VQ-VAE step on `c.batch_size` frames drawn uniformly from the replay (§4.1)."""
    frames = store.sample_frames(c.batch_size, generator).to(agent.device)  # (B, 3, 64, 64) uint8
    loss, metrics = agent.tokenizer.image.compute_loss(frames)
    grad_norm = optimizer_step(optimizer, agent.tokenizer, loss, c.max_grad_norm, "tokenizer")
    return {"total_loss": loss.item(), **metrics, "grad_norm": grad_norm}


def world_model_step(agent: Agent, store: ReplayStore, sampler: PrioritizedSampler, optimizer: torch.optim.Optimizer,
                     c: OptimConfig, max_blocks: int, generator: torch.Generator) -> dict[str, Any]:
    """One world-model step on a prioritized batch of right-padded `max_blocks`-step segments (§5.4–§5.6, §6.4);
    the batch's priorities are written back to `sampler`, which must be synced with `store`."""
    ids = sampler.sample(c.batch_size, generator)
    batch = batch_to(store.collate(ids, max_blocks, "right"), agent.device)
    out = agent.world_model_loss(batch)
    grad_norm = optimizer_step(optimizer, agent.world_model, out.loss, c.max_grad_norm, "world_model")
    sampler.update(batch["ids"], out.priority.cpu())
    return {**{k: float(v) for k, v in out.metrics.items()}, "grad_norm": grad_norm}


__all__ = ["NonFiniteLossError", "optimizer_step", "tokenizer_step", "world_model_step"]
