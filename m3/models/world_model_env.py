"""The world model as an environment, used by imagination training and by the play tool (design §5.3, §6.2, §8.6).

`reset(context_tokens, context_actions)` queues c observations and the c − 1 actions between them; each
`step(actions)` applies the actions to the newest observation and samples the next observation's tokens, the
reward (symexp of the HL-Gauss expectation), the done flag and the curiosity reward (ensemble JSD).

Imagination training (`m3.rl.imagination`, batched) rolls H' = H − c + 1 steps from one reset and never flushes
(H = `retnet.max_blocks`). The play tool (`m3.play.dream`, batch 1) dreams on without end, so it sets
`flush_every = H − c`: the world model was trained on segments of H blocks, so before the step that would
predict block H its memory is flushed and it is re-seeded from the last c observations (real or imagined) and
the actions between them, with positions starting at 0 again.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from m3.models.world_model import ImaginationState, WorldModel


class WorldModelStep(NamedTuple):
    tokens: dict[str, Tensor]  # sampled next observation {name: (B, ...)}
    reward: Tensor  # (B,) symexp of the HL-Gauss expectation
    done: Tensor  # (B,) bool, sampled
    intrinsic: Tensor  # (B,) ensemble JSD summed over modalities (zeros without curiosity)
    flushed: bool  # the memory was flushed and re-seeded from the last c observations before this step


class WorldModelEnv:
    """A batch of imagined environments driven by `world_model` (in whatever mode the caller set).

    codebook: the tokenizer's image codebook the world model embeds image tokens with (None without images);
    flush_every: imagined steps between memory flushes (None: never flush).
    """

    def __init__(self, world_model: WorldModel, codebook: Tensor | None = None,
                 flush_every: int | None = None) -> None:
        if flush_every is not None and flush_every < 1:
            raise ValueError(f"flush_every must be a positive number of steps or None, got {flush_every}")
        self.world_model, self.codebook, self.flush_every = world_model, codebook, flush_every
        self.context_length = world_model.cfg.context_length  # c
        self.state: ImaginationState | None = None
        self.steps = 0  # imagined steps since the last (re-)seed
        self._context: tuple[dict[str, Tensor], Tensor] | None = None  # the last c observations, c − 1 actions

    def reset(self, context_tokens: dict[str, Tensor], context_actions: Tensor) -> dict[str, Tensor]:
        """Seed from c observations' tokens {name: (B, c, ...)} and the c − 1 actions between them (B, c − 1[, A]);
        returns the newest observation's tokens {name: (B, ...)}."""
        c = self.context_length
        lengths = {name: t.shape[1] for name, t in context_tokens.items()}
        if set(lengths.values()) != {c} or context_actions.shape[1] != c - 1:
            raise ValueError(f"the world model starts from {c} observations and {c - 1} actions, got observation "
                             f"lengths {lengths} and {context_actions.shape[1]} actions")
        self._context = (context_tokens, context_actions)
        self._seed()
        return {name: t[:, -1] for name, t in context_tokens.items()}

    def _seed(self) -> None:
        self.state = self.world_model.imagine_reset(*self._context, self.codebook)
        self.steps = 0

    @torch.no_grad()
    def step(self, actions: Tensor) -> WorldModelStep:
        """Apply `actions` (B,) int64 or (B, A) float to the newest observations and sample the next ones
        (flushing first when due)."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        flushed = self.steps == self.flush_every
        if flushed:
            self._seed()
        out = self.world_model.imagine_step(self.state, actions, self.codebook)
        self.state, self.steps = out.state, self.steps + 1
        if self.flush_every is not None:  # keep the last c observations and the c − 1 actions between them
            tokens, taken = self._context
            tokens = {name: torch.cat([t[:, 1:], out.tokens[name].unsqueeze(1)], dim=1) for name, t in tokens.items()}
            self._context = (tokens, torch.cat([taken, actions.unsqueeze(1)], dim=1)[:, 1:])
        return WorldModelStep(out.tokens, out.reward, out.done, out.intrinsic, flushed)
