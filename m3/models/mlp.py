"""The LayerNorm-SiLU MLP helper (design §6.1, §11 D7)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(sizes: Sequence[int], *, norm: bool = True, last_norm_act: bool) -> nn.Sequential:
    """Linear layers sizes[0] → sizes[1] → … → sizes[-1].

    Every hidden layer is Linear → LayerNorm (if `norm`) → SiLU. The last Linear gets the same
    LayerNorm/SiLU only when `last_norm_act` is True (the actor-critic's fuser does, §6.1); the choice is
    explicit because the official helper silently ignored its "linear out" option (§11 D7).
    """
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least an input and an output size, got {list(sizes)}")
    layers: list[nn.Module] = []
    num_linear = len(sizes) - 1
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(d_in, d_out))
        if i < num_linear - 1 or last_norm_act:
            if norm:
                layers.append(nn.LayerNorm(d_out))
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)
