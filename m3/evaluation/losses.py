"""Tokenizer and world-model losses on the test episodes of a periodic evaluation (design §7.1 step 5, §7.4).

The losses are the training losses, computed without gradient with every component in eval mode, on data
the models never trained on: `tokenizer/eval/<loss>` over every image frame of the test episodes, and
`world_model/eval/<loss>` over right-padded windows of `max_blocks` steps that start every `max_blocks − c`
steps (c = context length), so each step past an episode's first c is an observation target once and each
step pair (t, t + 1) is a reward and end target. Batch means are weighted by the frames or windows they hold.
Nothing here draws random numbers: training's random stream is the same with or without it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from m3.agent import Agent
from m3.config import M3Config
from m3.data import Episode, Key, ReplayStore, batch_to


def eval_windows(store: ReplayStore, length: int, context_length: int) -> list[Key]:
    """(episode id, start) of every evaluation window: starts 0, s, 2s, … with s = length − c, while the window
    still has a step past its first c rows inside the episode."""
    stride = length - context_length
    if stride < 1:
        raise ValueError(f"windows of {length} blocks leave no target after a context of {context_length}")
    return [(e, start) for e in store.episode_ids for start in range(0, len(store[e]) - context_length, stride)]


def _chunks(items: list, size: int) -> Iterator[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _weighted_means(parts: list[tuple[int, dict[str, float]]], prefix: str) -> dict[str, float]:
    total = sum(n for n, _ in parts)
    return {f"{prefix}/{k}": sum(n * m[k] for n, m in parts) / total for k in parts[0][1]} if total else {}


@torch.no_grad()
def tokenizer_losses(agent: Agent, episodes: list[Episode], batch_size: int) -> dict[str, float]:
    """`tokenizer/eval/*`: the image tokenizer's training losses over every frame of `episodes`, in batches of
    `batch_size` frames (the caller sets the modes)."""
    frames = torch.cat([e.observations["image"] for e in episodes])  # (F, 3, 64, 64) uint8
    parts = []
    for chunk in frames.split(batch_size):
        loss, m = agent.tokenizer.image.compute_loss(chunk.to(agent.device))
        parts.append((len(chunk), {"total_loss": loss.item(), **m}))
    return _weighted_means(parts, "tokenizer/eval")


@torch.no_grad()
def eval_losses(agent: Agent, cfg: M3Config, episodes: list[Episode]) -> dict[str, float]:
    """`tokenizer/eval/*` (image envs) and `world_model/eval/*` on `episodes`; the agent's modes are restored."""
    was_training = agent.training
    agent.eval()
    store = ReplayStore(None)
    for episode in episodes:
        store.add(episode)
    metrics: dict[str, float] = {}
    if agent.tokenizer.image is not None and agent.tokenizer.trainable:
        metrics |= tokenizer_losses(agent, episodes, cfg.training.tokenizer.batch_size)
    length, ctx = cfg.world_model.retnet.max_blocks, cfg.world_model.context_length
    parts = []
    for keys in _chunks(eval_windows(store, length, ctx), cfg.training.world_model.batch_size):
        out = agent.world_model_loss(batch_to(store.collate(keys, length, "right"), agent.device))
        parts.append((len(keys), {k: float(v) for k, v in out.metrics.items()}))
    metrics |= _weighted_means(parts, "world_model/eval")
    agent.train(was_training)
    return metrics
