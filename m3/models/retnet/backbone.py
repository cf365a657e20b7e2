"""The RetNet backbone of the world model (design §5.2, used by POP §5.3; sizes §3.2).

A stack of independently initialised pre-LN layers sharing one xPos table per call. The design's stack
has no final LayerNorm (the per-modality heads of §5.4 normalise themselves), so the output is the
last layer's residual stream.
"""
from dataclasses import dataclass
from typing import NamedTuple

from torch import Tensor, nn

from m3.models.retnet.layer import RetNetLayer
from m3.models.retnet.retention import decay_gammas
from m3.models.retnet.xpos import rotation_tables


@dataclass
class RetNetConfig:
    """RetNet sizes (§3.2; defaults are Atari's). `max_blocks` and `blocks_per_chunk` are read by the world model."""

    num_layers: int = 10
    num_heads: int = 4
    embed_dim: int = 256
    dropout: float = 0.1
    blocks_per_chunk: int = 5
    decay_scale_min_num_blocks: float = 4
    decay_scale_max_num_blocks: float = 16
    max_blocks: int = 10


class RetNetOutput(NamedTuple):
    y: Tensor  # (B, N, d)
    states: list[Tensor]  # per layer (B, H, d_h, d_h): the state after the last token
    block_states: list[Tensor] | None  # per layer (B, N // block_size, H, d_h, d_h), or None


class RetNet(nn.Module):
    """Pre-LN multi-scale retention stack with block-scaled decay (§5.2).

    One call runs a chunk of N tokens in parallel against incoming per-layer states; training calls it
    per chunk of blocks, imagination per block, POP prediction tokens with per-row starts (§5.3).
    """

    def __init__(self, cfg: RetNetConfig, tokens_per_block: int):
        super().__init__()
        if cfg.embed_dim % cfg.num_heads != 0 or (cfg.embed_dim // cfg.num_heads) % 8 != 0:
            raise ValueError(f"head dim {cfg.embed_dim}/{cfg.num_heads} must be a multiple of 8 (§3.2)")
        self.cfg = cfg
        self.head_dim = cfg.embed_dim // cfg.num_heads
        gammas = decay_gammas(
            cfg.num_heads, cfg.decay_scale_min_num_blocks, cfg.decay_scale_max_num_blocks, tokens_per_block
        ).tolist()
        self.layers = nn.ModuleList(
            RetNetLayer(cfg.embed_dim, cfg.num_heads, gammas, cfg.dropout) for _ in range(cfg.num_layers)
        )

    def forward(
        self, x: Tensor, start: int | Tensor, states: list[Tensor] | None = None, block_size: int | None = None
    ) -> RetNetOutput:
        """x (B, N, d) at absolute token positions start + 0..N-1 (`start` int or int64 (B,)).

        `states`: per-layer incoming states (B, H, d_h, d_h), None for zeros. With `block_size`
        (dividing N) the per-layer state after every block is returned as well.
        """
        cos, sin = rotation_tables(start, x.shape[1], self.head_dim, x.device, x.dtype)
        new_states, block_states = [], []
        for i, layer in enumerate(self.layers):
            x, state, blocks = layer(x, cos, sin, None if states is None else states[i], block_size)
            new_states.append(state)
            block_states.append(blocks)
        return RetNetOutput(x, new_states, block_states if block_size is not None else None)
