"""Retention with per-head exponential decay (design §5.2, §10).

Per head with decay γ, the recurrent form is S_n = γ S_{n-1} + k_nᵀ v_n and o_n = q_n S_n.
`retention` evaluates a chunk of N tokens in parallel: within the chunk O = (Q Kᵀ ⊙ D) V with
D_nm = γ^{n-m} for n ≥ m (else 0), plus the decayed incoming state, query i receiving γ^{i+1} q_i S
(S = the state after the token just before the chunk). It also returns the state after the chunk and,
optionally, the state after every block of the chunk. `retention_recurrent` (token by token) and
`retention_chunkwise` (a loop of `retention` over chunks) compute the same function.

Decay tables are built in float64 on the CPU and cached per (γ, N, block size, device, dtype).
"""
import math
from functools import lru_cache
from typing import NamedTuple, Sequence

import torch
from torch import Tensor


def decay_gammas(num_heads: int, min_blocks: float, max_blocks: float, tokens_per_block: int) -> Tensor:
    """Block-scaled per-head decay (§5.2): γ_h = 1 − exp(linspace(ln 1/(min·T), ln 1/(max·T), H)).

    Returns a float64 CPU tensor (H,); head h keeps a memory of roughly
    min_blocks..max_blocks blocks of `tokens_per_block` tokens.
    """
    lo = math.log(1.0 / (min_blocks * tokens_per_block))
    hi = math.log(1.0 / (max_blocks * tokens_per_block))
    return 1.0 - torch.exp(torch.linspace(lo, hi, num_heads, dtype=torch.float64))


class DecayTables(NamedTuple):
    """Powers of γ used by one chunk of N tokens (H heads)."""

    mask: Tensor  # (H, N, N): γ^{n-m} for n ≥ m, else 0
    query_decay: Tensor  # (H, N, 1): γ^{i+1}, the incoming state's decay at query i
    key_decay: Tensor  # (H, N, 1): γ^{N-1-m}, key m's decay up to the end of the chunk
    chunk_decay: Tensor  # (H, 1, 1): γ^N
    block_key_decay: Tensor | None  # (H, 1, bs, 1): γ^{bs-1-r}, key r of a block to the block end
    block_mask: Tensor | None  # (H, nb, nb): γ^{bs(j-i)} for j ≥ i, else 0
    block_state_decay: Tensor | None  # (nb, H, 1, 1): γ^{bs(j+1)}, incoming state to the end of block j


def _powers(log_gamma: Tensor, exponents: Tensor) -> Tensor:
    """γ^e per head for a float64 exponent grid: (H,) × (...) -> (H, ...)."""
    return torch.exp(log_gamma.view(-1, *([1] * exponents.dim())) * exponents)


@lru_cache(maxsize=64)
def decay_tables(
    gammas: tuple[float, ...], length: int, block_size: int | None, device: torch.device, dtype: torch.dtype
) -> DecayTables:
    """Cached `DecayTables` for a chunk of `length` tokens (blocks of `block_size` tokens if given).

    Built outside any inference-mode region, so tables first made during imagination can still be
    saved for backward in training.
    """
    with torch.inference_mode(False), torch.no_grad():
        log_gamma = torch.log(torch.tensor(gammas, dtype=torch.float64))  # (H,)
        idx = torch.arange(length, dtype=torch.float64)
        diff = idx[:, None] - idx[None, :]  # (N, N): n - m
        mask = _powers(log_gamma, diff.clamp(min=0)) * (diff >= 0)
        tables = dict(
            mask=mask,
            query_decay=_powers(log_gamma, idx + 1)[..., None],
            key_decay=_powers(log_gamma, length - 1 - idx)[..., None],
            chunk_decay=_powers(log_gamma, torch.tensor(float(length))).view(-1, 1, 1),
            block_key_decay=None,
            block_mask=None,
            block_state_decay=None,
        )
        if block_size is not None:
            if length % block_size != 0:
                raise ValueError(f"chunk length {length} is not a multiple of block_size {block_size}")
            r = torch.arange(block_size, dtype=torch.float64)
            j = torch.arange(length // block_size, dtype=torch.float64)
            block_diff = j[:, None] - j[None, :]  # (nb, nb): j - i
            tables["block_key_decay"] = _powers(log_gamma, block_size - 1 - r).view(-1, 1, block_size, 1)
            tables["block_mask"] = _powers(log_gamma, block_size * block_diff.clamp(min=0)) * (block_diff >= 0)
            tables["block_state_decay"] = _powers(log_gamma, block_size * (j + 1)).T[..., None, None]
        return DecayTables(**{k: None if t is None else t.to(device=device, dtype=dtype) for k, t in tables.items()})


def _gamma_key(gamma: Tensor | Sequence[float]) -> tuple[float, ...]:
    """γ as a hashable tuple of python floats (pass a CPU tensor or a sequence to avoid a device sync)."""
    values = gamma.tolist() if isinstance(gamma, Tensor) else gamma
    return tuple(float(g) for g in values)


def retention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    gamma: Tensor | Sequence[float],
    state: Tensor | None = None,
    block_size: int | None = None,
) -> tuple[Tensor, Tensor, Tensor | None]:
    """Parallel retention over one chunk with an optional incoming state (§5.2 parallel/chunkwise form).

    q, k: (B, H, N, d_k); v: (B, H, N, d_v); gamma: (H,); state: (B, H, d_k, d_v) or None (zeros).
    Returns out (B, H, N, d_v), the state after the last token (B, H, d_k, d_v) and, when
    `block_size` divides N, the state after every block (B, N // block_size, H, d_k, d_v), else None.
    """
    B, H, N, d_k = q.shape
    d_v = v.shape[-1]
    t = decay_tables(_gamma_key(gamma), N, block_size, q.device, q.dtype)
    scores = (q @ k.transpose(-1, -2)) * t.mask  # (B, H, N, N)
    out = scores @ v  # (B, H, N, d_v)
    if state is not None:
        out = out + (q @ state) * t.query_decay
    if block_size is None:
        final_state = (k * t.key_decay).transpose(-1, -2) @ v  # (B, H, d_k, d_v)
        if state is not None:
            final_state = final_state + t.chunk_decay * state
        return out, final_state, None
    num_blocks = N // block_size
    k_blocks = k.view(B, H, num_blocks, block_size, d_k) * t.block_key_decay
    block_kv = k_blocks.transpose(-1, -2) @ v.view(B, H, num_blocks, block_size, d_v)  # (B, H, nb, d_k, d_v)
    block_states = torch.einsum("hji,bhikv->bjhkv", t.block_mask, block_kv)  # (B, nb, H, d_k, d_v)
    if state is not None:
        block_states = block_states + t.block_state_decay * state[:, None]
    return out, block_states[:, -1], block_states


def retention_chunkwise(
    q: Tensor, k: Tensor, v: Tensor, gamma: Tensor | Sequence[float], chunk_size: int, state: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Chunkwise form (§5.2): `retention` on consecutive chunks, carrying the state across them.

    Shapes as in `retention`; the last chunk may be shorter. Returns (out (B, H, N, d_v), final state).
    """
    outs = []
    for begin in range(0, q.shape[2], chunk_size):
        chunk = slice(begin, begin + chunk_size)
        out, state, _ = retention(q[:, :, chunk], k[:, :, chunk], v[:, :, chunk], gamma, state)
        outs.append(out)
    return torch.cat(outs, dim=2), state


def retention_recurrent(
    q: Tensor, k: Tensor, v: Tensor, gamma: Tensor | Sequence[float], state: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Recurrent form (§5.2), token by token: S_n = γ S_{n-1} + k_nᵀ v_n, o_n = q_n S_n (reference only).

    Shapes as in `retention`. Returns (out (B, H, N, d_v), final state (B, H, d_k, d_v)).
    """
    B, H, N, d_k = q.shape
    g = torch.tensor(_gamma_key(gamma), dtype=q.dtype, device=q.device).view(1, H, 1, 1)
    if state is None:
        state = q.new_zeros(B, H, d_k, v.shape[-1])
    outs = []
    for n in range(N):
        state = g * state + k[:, :, n, :, None] * v[:, :, n, None, :]  # (B, H, d_k, d_v)
        outs.append((q[:, :, n, None, :] @ state).squeeze(2))  # (B, H, d_v)
    return torch.stack(outs, dim=2), state
