"""Action tokens (design §4.5): discrete actions are one token; continuous actions one 51-level token
per dimension."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from m3.envs.spec import ActionSpec


class ActionTokenizer(nn.Module):
    """Maps actions to tokens and back.

    discrete: a (...,) int → (..., 1) int64.
    continuous: a (..., A) float, clipped to [-1, 1], → nearest of `levels` uniform values on [-1, 1]
    per dimension, (..., A) int64.
    """

    def __init__(self, spec: ActionSpec, levels: int = 51) -> None:
        super().__init__()
        self.spec = spec
        self.num_levels = levels
        self.register_buffer("levels", torch.linspace(-1.0, 1.0, levels), persistent=False)  # (levels,)

    @property
    def discrete(self) -> bool:
        return self.spec.kind == "discrete"

    @property
    def vocab(self) -> int:
        """Token vocabulary: the number of actions (discrete) or of levels (continuous)."""
        return self.spec.n if self.discrete else self.num_levels

    @property
    def num_tokens(self) -> int:
        return self.spec.num_tokens

    def tokenize(self, actions: Tensor) -> Tensor:
        if self.discrete:
            return actions.long().unsqueeze(-1)  # (..., 1)
        scaled = (actions.float().clamp(-1.0, 1.0) + 1.0) * ((self.num_levels - 1) / 2)
        return torch.round(scaled).long()  # (..., A)

    def detokenize(self, tokens: Tensor) -> Tensor:
        """discrete: (..., 1) → (...,) int64; continuous: (..., A) → level values (..., A) float32."""
        if self.discrete:
            return tokens[..., 0]
        return self.levels[tokens]
