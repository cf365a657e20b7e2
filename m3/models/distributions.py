"""Symlog transforms and the HL-Gauss categorical regression head (design §4.0, §5.4, §6.1).

HL-Gauss regresses a scalar y by classification over `num_bins` uniform bins on [low, high]: the
target distribution is a Gaussian N(y, σ²) integrated over each bin and renormalised to the support;
the prediction is the softmax-weighted mean of the bin centres. Both the reward head (§5.4) and the
critic (§6.1) work in symlog space; callers apply `symlog` to labels and `symexp` to predictions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def symlog(x: Tensor) -> Tensor:
    """sign(x)·ln(1 + |x|) (design §4.0)."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: Tensor) -> Tensor:
    """sign(x)·(e^{|x|} − 1), the inverse of `symlog` (design §4.0)."""
    return torch.sign(x) * torch.expm1(torch.abs(x))


def support_bias_init(support: Tensor) -> Tensor:
    """The HL-Gauss output-layer bias init −0.2·|support| (design §5.4, §6.1), float32, one entry per category."""
    return (-0.2 * support.abs()).float()


def value_support(num_bins: int = 129) -> Tensor:
    """The critic's support linspace(−15, 15, num_bins) in symlog space (design §6.1), float64."""
    return torch.linspace(-15.0, 15.0, num_bins, dtype=torch.float64)


def reward_support(num_bins: int = 129) -> Tensor:
    """The reward head's support symlog(symexp(linspace(−15, 15, num_bins)) / 100) (design §5.4), float64."""
    return symlog(symexp(torch.linspace(-15.0, 15.0, num_bins, dtype=torch.float64)) / 100.0)


class HLGauss(nn.Module):
    """Histogram loss with Gaussian targets over uniform bins on [low, high] (design §5.4).

    The constants are float32-derived, as in the official code: `low` and `high` rounded to float32, the
    float32 `edges` (num_bins + 1,) (a non-persistent buffer, it follows `.to(device)` and `.double()`),
    σ = sigma_ratio · (edges[1] − edges[0]), and the bin `centres` computed from the edges in their dtype.
    """

    def __init__(self, low: float, high: float, num_bins: int, sigma_ratio: float = 0.75) -> None:
        super().__init__()
        if not high > low or num_bins < 1:
            raise ValueError(f"need high > low and num_bins >= 1, got {low=}, {high=}, {num_bins=}")
        bounds = torch.tensor([low, high], dtype=torch.float32)
        self.low, self.high, self.num_bins = float(bounds[0]), float(bounds[1]), int(num_bins)
        self.register_buffer("edges", torch.linspace(self.low, self.high, self.num_bins + 1, dtype=torch.float32),
                             persistent=False)
        self.sigma = sigma_ratio * float(self.edges[1] - self.edges[0])

    @property
    def centres(self) -> Tensor:
        """The bin centres (num_bins,): midpoints of consecutive edges."""
        return (self.edges[:-1] + self.edges[1:]) / 2

    def targets(self, y: Tensor) -> Tensor:
        """y (...,) → target probabilities (..., num_bins); y is clamped into [low, high].

        p_i = [Φ((e_{i+1} − y)/σ) − Φ((e_i − y)/σ)] / [Φ((e_N − y)/σ) − Φ((e_0 − y)/σ)].
        """
        y = y.to(self.edges.dtype).clamp(self.low, self.high)
        cdf = torch.special.erf((self.edges - y.unsqueeze(-1)) / (self.sigma * math.sqrt(2.0)))  # (..., N+1)
        mass = cdf[..., 1:] - cdf[..., :-1]  # (..., N)
        return mass / (cdf[..., -1:] - cdf[..., :1])

    def loss(self, logits: Tensor, y: Tensor) -> Tensor:
        """Cross-entropy of logits (..., num_bins) against `targets(y)`; returns (...,)."""
        return -(self.targets(y) * F.log_softmax(logits, dim=-1)).sum(-1)

    def expectation(self, logits: Tensor) -> Tensor:
        """Σ softmax(logits)·centres: the prediction (...,) in the head's (symlog) space."""
        return (F.softmax(logits, dim=-1) * self.centres).sum(-1)

    def extra_repr(self) -> str:
        return f"low={self.low:.4f}, high={self.high:.4f}, num_bins={self.num_bins}, sigma={self.sigma:.4f}"


def reward_hl_gauss() -> HLGauss:
    """The reward head's HL-Gauss (design §5.4): 129 bins on ±symlog(symexp(15)/100) ≈ ±10.395, σ ≈ 0.121."""
    high = math.log1p(math.expm1(15.0) / 100.0)
    return HLGauss(-high, high, 129)


def value_hl_gauss(num_bins: int = 129) -> HLGauss:
    """The critic's HL-Gauss (design §6.1): `num_bins` bins on [−15, 15] in symlog space, σ ≈ 0.174."""
    return HLGauss(-15.0, 15.0, num_bins)
