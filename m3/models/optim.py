"""AdamW with weight decay on weight matrices only (design §5.6)."""

from __future__ import annotations

import torch
from torch import nn

_NO_DECAY_MODULES = (nn.Embedding, nn.LayerNorm, nn.GroupNorm, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def decay_split(module: nn.Module) -> tuple[list[str], list[str]]:
    """Names of the trainable parameters that get weight decay and of those that do not.

    Decayed: weight matrices (≥ 2 dims: Linear, conv kernels). Not decayed: biases, norm parameters,
    embedding tables, and any parameter whose name contains "embed" (§5.6).
    """
    decay, no_decay = [], []
    for name, param in module.named_parameters():
        if not param.requires_grad:
            continue
        owner = module.get_submodule(name.rpartition(".")[0])
        excluded = isinstance(owner, _NO_DECAY_MODULES) or "embed" in name.lower() or param.ndim < 2
        (no_decay if excluded else decay).append(name)
    return decay, no_decay


def adamw(module: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW (default betas and eps) with `weight_decay` on `decay_split`'s matrices and 0 elsewhere."""
    params = dict(module.named_parameters())
    decay, no_decay = decay_split(module)
    groups = [
        {"params": [params[n] for n in decay], "weight_decay": weight_decay},
        {"params": [params[n] for n in no_decay], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr)
