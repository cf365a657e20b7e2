"""The fixed symlog quantizer for continuous vectors (design §4.2, §11 D5)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from m3.models.distributions import symlog


def vector_levels() -> Tensor:
    """The 125 quantization levels in symlog space, ascending, float64 (design §4.2).

    Positive half: 32 points on [0, ln(1+π)] and 31 points on (ln(1+π), 6]; mirrored, 0 once.
    """
    inner = torch.linspace(0.0, math.log1p(math.pi), 32, dtype=torch.float64)
    outer = torch.linspace(math.log1p(math.pi), 6.0, 32, dtype=torch.float64)[1:]
    positive = torch.cat([inner, outer])  # (63,)
    return torch.cat([-positive[1:].flip(0), positive])  # (125,)


class VectorTokenizer(nn.Module):
    """One token per vector dimension: symlog, then the nearest of 125 fixed levels; no parameters.

    Symlog is applied inside `tokenize`, so every path that tokenizes a raw vector gets the same tokens
    (§11 D5). Values beyond ±6 in symlog space clamp to the extreme tokens.
    """

    VOCAB = 125

    def __init__(self) -> None:
        super().__init__()
        levels = vector_levels()
        self.register_buffer("levels", levels.float(), persistent=False)  # (125,)
        self.register_buffer("midpoints", ((levels[:-1] + levels[1:]) / 2).float(), persistent=False)  # (124,)

    @torch.no_grad()
    def tokenize(self, raw: Tensor) -> Tensor:
        """raw (..., n) float → tokens (..., n) int64."""
        x = symlog(raw.to(self.midpoints.dtype)).contiguous()
        return torch.bucketize(x, self.midpoints)

    def detokenize(self, tokens: Tensor) -> Tensor:
        """tokens (..., n) int64 → level values (..., n) float32, in symlog space."""
        return self.levels[tokens]
