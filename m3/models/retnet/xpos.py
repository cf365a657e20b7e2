"""xPos/RoPE-style rotation of queries and keys by absolute token index (design §5.2).

Channel pairs (2i, 2i+1) of each head are rotated by the angle position·θ_i with
θ_i = 1 / 10000^{linspace(0, 1, d_h/2)}_i, so q(m)·k(n) depends only on m − n. Positions are
start + 0..N-1, with one start per batch row when `start` is a tensor (POP prediction tokens, §5.3).
θ is computed in float32, as the official code stores it (its `thetas` buffer): a float64 θ differs
by ~1e-7 relative, which shifts the angle at token ~900 by ~5e-5 rad.
"""
from functools import lru_cache

import torch
from torch import Tensor


def rotation_frequencies(head_dim: int) -> Tensor:
    """θ (d_h,) float64 holding float32 values, each θ_i repeated twice (interleaved channel pairs)."""
    if head_dim % 2 != 0:
        raise ValueError(f"head_dim must be even, got {head_dim}")
    theta = 1.0 / 10000 ** torch.linspace(0, 1, head_dim // 2, dtype=torch.float32)
    return theta.double().repeat_interleave(2)


def rotation_angles(start: int | Tensor, length: int, head_dim: int, device: torch.device) -> Tensor:
    """Angles position·θ, float64: (N, d_h) for an int start, (B, 1, N, d_h) for a start tensor (B,).

    Each θ_i is repeated twice (interleaved pairs), matching the channel pairs that `rotate` mixes.
    """
    theta = rotation_frequencies(head_dim).to(device)  # (d_h,)
    offsets = torch.arange(length, dtype=torch.float64, device=device)  # (N,)
    if isinstance(start, Tensor):
        positions = start.to(device=device, dtype=torch.float64)[:, None] + offsets  # (B, N)
        return (positions[..., None] * theta)[:, None]  # (B, 1, N, d_h)
    return (start + offsets)[:, None] * theta  # (N, d_h)


def rotation_tables(
    start: int | Tensor, length: int, head_dim: int, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """(cos, sin) of `rotation_angles`, cast to `dtype`; they broadcast against (B, H, N, d_h). Tables for an
    int start (every imagination step, the training chunks) are cached."""
    if isinstance(start, Tensor):
        return _tables(rotation_angles(start, length, head_dim, device), dtype)
    return _cached_tables(start, length, head_dim, device, dtype)


def _tables(angles: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    return angles.cos().to(dtype), angles.sin().to(dtype)


@lru_cache(maxsize=256)
def _cached_tables(start: int, length: int, head_dim: int, device: torch.device,
                   dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Built outside any inference-mode region, so tables first made during imagination can be saved for backward
    in training (as the decay tables, retention.py)."""
    with torch.inference_mode(False), torch.no_grad():
        return _tables(rotation_angles(start, length, head_dim, device), dtype)


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each channel pair (x_{2i}, x_{2i+1}) of x (..., N, d_h) by the tabulated angle."""
    pairs = x.unflatten(-1, (-1, 2))  # (..., N, d_h/2, 2)
    swapped = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)  # (..., N, d_h)
    return x * cos + swapped * sin
