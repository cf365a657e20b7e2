"""Observation tokens of replay rows, encoded once while the tokenizer stays unchanged (design §4.1, §7.1).

The tokenizer trains only in its own phase of an epoch (§7.1 step 2); in the world-model and actor-critic phases
it is frozen, so a row's tokens are the same every time the row is sampled. `TokenCache` encodes each replay row
the first time a batch needs it and keeps the tokens until `clear()` (which `m3.updates.tokenizer_step` calls
after every tokenizer step), so the world-model and actor-critic steps read tokens instead of encoding pixels
again. Batches built from the cache equal `tokenizer.tokenize(batch["obs"])`, padding included: padded rows get
the tokens of the all-zero observation the replay pads with.

Memory: at most one token row per replay row (Atari: 64 int64 tokens = 512 bytes, against 12 KiB of pixels);
entries of episodes the replay has evicted or replaced are dropped at the next batch. The data package knows
nothing of the cache: it reads the replay's episodes and the batch's segment keys.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from m3.data import Episode, ReplayStore
from m3.models.tokenizers import MultiModalTokenizer


ENCODE_ROWS = 32
"""Rows encoded per tokenizer call: bounds the encoder's activations in flight, so that filling the cache for a
whole batch (or a whole episode) needs no more memory than encoding a small batch of frames."""


class _Entry:
    """The tokens of one stored episode, {name: (rows, ...)}, and which rows are filled, (rows,) bool."""

    def __init__(self, episode: Episode, example: dict[str, Tensor]) -> None:
        self.episode = episode  # the stored object these tokens belong to (a replaced episode is a new object)
        self.tokens = {name: t.new_zeros(len(episode), *t.shape[1:]) for name, t in example.items()}
        self.filled = torch.zeros(len(episode), dtype=torch.bool)


class TokenCache:
    """Tokens of `store`'s rows by `tokenizer`, filled on demand (see the module docstring)."""

    def __init__(self, tokenizer: MultiModalTokenizer, store: ReplayStore) -> None:
        self.tokenizer, self.store = tokenizer, store
        self._entries: dict[int, _Entry] = {}
        self._pad: dict[str, Tensor] | None = None  # tokens of the all-zero observation {name: (...)}

    @property
    def num_rows(self) -> int:
        """Rows whose tokens are cached."""
        return sum(int(e.filled.sum()) for e in self._entries.values())

    def clear(self) -> None:
        """Forget every token (the tokenizer has changed)."""
        self._entries.clear()
        self._pad = None

    def tokens(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """The tokens of a batch collated from `store` (segment keys `batch["ids"]`, either padding): {name: (B, L,
        ...)} on the batch's device, equal to `tokenizer.tokenize(batch["obs"])`."""
        self._drop_stale()
        device, length = batch["mask_padding"].device, batch["mask_padding"].shape[1]
        spans = []  # (episode id, start, lo, hi): the segment's rows [lo, hi) that exist
        for episode_id, start in batch["ids"]:
            rows = len(self.store[episode_id])
            spans.append((episode_id, start, max(start, 0), min(start + length, rows)))
        self._fill(spans, device)
        pad = self._pad_tokens(device)
        out = {name: t.expand(len(spans), length, *t.shape).clone() for name, t in pad.items()}
        for b, (episode_id, start, lo, hi) in enumerate(spans):
            for name, t in self._entries[episode_id].tokens.items():
                out[name][b, lo - start : hi - start] = t[lo:hi]
        return out

    def _drop_stale(self) -> None:
        for episode_id in [i for i, e in self._entries.items()
                           if i not in self.store or self.store[i] is not e.episode]:
            del self._entries[episode_id]

    def _fill(self, spans: list[tuple[int, int, int, int]], device: torch.device) -> None:
        """Encode, in one tokenizer call, every row the spans need that is not cached yet."""
        need: dict[int, Tensor] = {}  # episode id → (rows,) bool
        for episode_id, _, lo, hi in spans:
            mask = need.setdefault(episode_id, torch.zeros(len(self.store[episode_id]), dtype=torch.bool))
            mask[lo:hi] = True
        todo = {}  # episode id → (n_i,) row numbers to encode
        for episode_id, mask in need.items():
            entry = self._entries.get(episode_id)
            rows = (mask & ~entry.filled if entry is not None else mask).nonzero().squeeze(1)
            if len(rows):
                todo[episode_id] = rows
        if not todo:
            return
        obs = {name: torch.cat([self.store[i].observations[name][rows] for i, rows in todo.items()])
               for name in self.tokenizer.modalities}  # {name: (Σ n_i, ...)} on the CPU
        n = len(next(iter(obs.values())))
        parts = [self.tokenizer.tokenize({name: x[lo : lo + ENCODE_ROWS].to(device) for name, x in obs.items()})
                 for lo in range(0, n, ENCODE_ROWS)]
        tokens = {name: torch.cat([part[name] for part in parts]) for name in obs}  # {name: (Σ n_i, ...)}
        offset = 0
        for episode_id, rows in todo.items():
            part = {name: t[offset : offset + len(rows)] for name, t in tokens.items()}
            entry = self._entries.get(episode_id)
            if entry is None:
                entry = self._entries[episode_id] = _Entry(self.store[episode_id], part)
            for name, t in part.items():
                entry.tokens[name][rows.to(t.device)] = t
            entry.filled[rows] = True
            offset += len(rows)

    def _pad_tokens(self, device: torch.device) -> dict[str, Tensor]:
        if self._pad is None:
            episode = next(iter(self._entries.values())).episode
            zeros = {name: torch.zeros_like(episode.observations[name][:1]).to(device)
                     for name in self.tokenizer.modalities}
            self._pad = {name: t[0] for name, t in self.tokenizer.tokenize(zeros).items()}
        return self._pad


__all__ = ["TokenCache"]
