"""Multi-scale retention and the pre-LN RetNet layer (design §5.2)."""
from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from m3.models.retnet.retention import retention
from m3.models.retnet.xpos import rotate


def _init_linear(linear: nn.Linear) -> nn.Linear:
    """Xavier-normal weight, zero bias (§5.2 initialisation)."""
    nn.init.xavier_normal_(linear.weight)
    nn.init.zeros_(linear.bias)
    return linear


class MultiScaleRetention(nn.Module):
    """H retention heads with per-head decay γ_h, a per-token GroupNorm and a swish gate (§5.2).

    out = out_proj(GroupNorm(Dropout(retention(q, k, v))) ⊙ swish(g_proj(x))), keys scaled by 1/√d_h,
    q and k rotated by the xPos tables.
    """

    def __init__(self, embed_dim: int, num_heads: int, gammas: Sequence[float], dropout: float):
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError(f"embed_dim {embed_dim} is not divisible by num_heads {num_heads}")
        if len(gammas) != num_heads:
            raise ValueError(f"expected {num_heads} decays, got {len(gammas)}")
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.gammas = tuple(float(g) for g in gammas)  # python floats: the decay-table cache key
        self.q_proj, self.k_proj, self.v_proj, self.g_proj, self.out_proj = (
            _init_linear(nn.Linear(embed_dim, embed_dim)) for _ in range(5)
        )
        self.dropout = nn.Dropout(dropout)
        self.group_norm = nn.GroupNorm(num_heads, embed_dim, eps=1e-6, affine=False)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, N, d) -> (B, H, N, d_h)."""
        return x.unflatten(-1, (self.num_heads, self.head_dim)).transpose(1, 2)

    def forward(
        self, x: Tensor, cos: Tensor, sin: Tensor, state: Tensor | None = None, block_size: int | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """x (B, N, d); cos/sin broadcastable to (B, H, N, d_h); state (B, H, d_h, d_h) or None.

        Returns y (B, N, d), the state after the last token and the per-block states (or None).
        """
        B, N, d = x.shape
        q = rotate(self._heads(self.q_proj(x)), cos, sin)  # (B, H, N, d_h)
        k = rotate(self._heads(self.k_proj(x) * self.head_dim**-0.5), cos, sin)
        v = self._heads(self.v_proj(x))
        out, state, block_states = retention(q, k, v, self.gammas, state, block_size)  # (B, H, N, d_h)
        out = self.dropout(out.transpose(1, 2).reshape(B * N, d))  # (B·N, d): GroupNorm per token
        out = self.group_norm(out).view(B, N, d)
        return self.out_proj(out * F.silu(self.g_proj(x))), state, block_states


class FeedForward(nn.Module):
    """Linear d→4d → swish → dropout → Linear 4d→d → dropout (§5.2)."""

    def __init__(self, embed_dim: int, dropout: float):
        super().__init__()
        self.fc1 = _init_linear(nn.Linear(embed_dim, 4 * embed_dim))
        self.fc2 = _init_linear(nn.Linear(4 * embed_dim, embed_dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.fc2(self.dropout(F.silu(self.fc1(x)))))


class RetNetLayer(nn.Module):
    """Pre-LN layer (§5.2): x ← x + Dropout(MSR(LN(x))); x ← x + FFN(LN(x)), LayerNorm eps 1e-6."""

    def __init__(self, embed_dim: int, num_heads: int, gammas: Sequence[float], dropout: float):
        super().__init__()
        self.retention_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.retention = MultiScaleRetention(embed_dim, num_heads, gammas, dropout)
        self.dropout = nn.Dropout(dropout)
        self.ffn_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.ffn = FeedForward(embed_dim, dropout)

    def forward(
        self, x: Tensor, cos: Tensor, sin: Tensor, state: Tensor | None = None, block_size: int | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """x (B, N, d) -> (y (B, N, d), state (B, H, d_h, d_h), block states (B, nb, H, d_h, d_h) or None)."""
        y, state, block_states = self.retention(self.retention_norm(x), cos, sin, state, block_size)
        x = x + self.dropout(y)
        x = x + self.ffn(self.ffn_norm(x))
        return x, state, block_states
