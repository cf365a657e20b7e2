"""Opt-in fast paths of the training steps, from the config's `speed:` block (design §10, docs/performance.md).

Both are off by default, so a run is fp32 eager unless asked otherwise; TF32 matmuls are the separate
`float32_matmul_precision` setting. Each path changes results only within floating-point tolerance (pinned by
tests/test_speed.py against fp32 eager):
- `bf16`: the forward passes and losses of the tokenizer, world-model and actor-critic steps run under bfloat16
  autocast (CPU and CUDA); gradients and optimiser states stay float32.
- `compile`: `torch.compile` of the world model's training forward (§5.3 POP), its imagination prediction
  (consume a block, run the prediction tokens) and the image tokenizer's encoder and decoder. Compilation takes
  minutes on first use and needs a C++ compiler on the CPU.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class SpeedConfig:
    """The `speed:` block (design §10)."""

    bf16: bool = False
    compile: bool = False


def autocast(device: torch.device, bf16: bool) -> AbstractContextManager:
    """bfloat16 autocast on `device` when `bf16`, else a no-op context."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)


def compile_agent(agent: nn.Module) -> None:
    """Compile, in place, the agent's world-model training forward and imagination prediction and its image
    tokenizer's encoder and decoder (weights and state dict unchanged)."""
    wm = agent.world_model
    wm.compile()
    wm.imagine_predict = torch.compile(wm.imagine_predict)
    image = agent.tokenizer.image
    if image is not None:
        image.encoder.compile()
        image.decoder.compile()


__all__ = ["SpeedConfig", "autocast", "compile_agent"]
