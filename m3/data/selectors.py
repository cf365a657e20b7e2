"""The selectors: which replay samples a batch holds (design §4.1, §6.2, §6.4, §7.2, §11 D4).

Samples (§7.2): an episode with n + 1 rows (n = len(actions) − 1, the last action being padding) yields the
sample indices i ∈ [0, n − ctx]; sample i's segment starts at row i ("right" padding) or ends at row ctx + i
("left" padding: rows [ctx + 1 + i − length, ctx + 1 + i)). With ctx = 0 the samples are the stored rows.
One flat index (`FlatIndex`) numbers the samples of all stored episodes, oldest first, and every selector draws
flat rows from it:

- `sample_frames`: tokenizer batches (§4.1), distinct image frames uniform over every stored row (ctx = 0);
- `sample_uniform`: actor-critic batches (§6.2), distinct keys uniform over the samples (ctx = c + 1, left
  padding);
- `PrioritizedSampler`: world-model batches (§6.4), the 70/30 mixture of uniform keys and keys drawn by
  softmax of their last loss (ctx = c, right padding), the losses kept per key (D4) and checkpointed.

Every draw takes the caller's `torch.Generator`, so a seed fixes the samples (tests/data/test_pinned_draws.py).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor

from m3.data.replay import Key, Padding, ReplayStore

_REJECTION_ROUNDS = 8  # rounds of draws with replacement before the exact O(size) fallback


def num_samples(episode_rows: int, ctx: int) -> int:
    """n − ctx + 1 sample indices i ∈ [0, n − ctx] of an episode with n + 1 rows (§7.2)."""
    return max(0, episode_rows - ctx)


class FlatIndex:
    """Flat rows over the samples of several episodes: episode e owns rows [offsets[e], offsets[e] + counts[e]);
    episodes without samples are left out."""

    def __init__(self, episode_ids: Tensor, counts: Tensor) -> None:
        keep = counts > 0
        self.episode_ids = episode_ids[keep].to(torch.int64)  # (E,)
        self.counts = counts[keep].to(torch.int64)  # (E,)
        self.offsets = self.counts.cumsum(0) - self.counts  # (E,)
        self.index = {eid: e for e, eid in enumerate(self.episode_ids.tolist())}

    @classmethod
    def of(cls, store: ReplayStore, ctx: int) -> FlatIndex:
        """The samples of `store`'s episodes for context `ctx` (ctx = 0: every stored row)."""
        ids = store.episode_ids
        counts = [num_samples(len(store[eid]), ctx) for eid in ids]
        return cls(torch.tensor(ids, dtype=torch.int64), torch.tensor(counts, dtype=torch.int64))

    def __len__(self) -> int:
        return int(self.counts.sum())

    def locate(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """Flat rows (B,) → (episode ids (B,), sample indices i (B,))."""
        e = torch.searchsorted(self.offsets, rows, right=True) - 1  # (B,) the last episode starting at or before
        return self.episode_ids[e], rows - self.offsets[e]

    def rows(self, keys: Sequence[Key]) -> Tensor:
        """(episode id, sample index) keys → flat rows (B,); KeyError for a sample the index does not hold."""
        out = []
        for eid, i in keys:
            e = self.index.get(eid)
            if e is None or not 0 <= i < int(self.counts[e]):
                raise KeyError(f"no sample ({eid}, {i}) in the index")
            out.append(int(self.offsets[e]) + i)
        return torch.tensor(out, dtype=torch.int64)


def draw_distinct(
    n: int, size: int, taken: set[int], generator: torch.Generator, weights: Tensor | None = None
) -> Tensor:
    """n of the rows 0..size-1 not in `taken`, each drawn ∝ `weights` (None: uniformly) among the rows not yet
    taken: sampling without replacement. Rows are drawn with replacement and repeats rejected, which is exact and
    costs O(n) per round rather than O(size); after a few rounds the remainder comes from torch.multinomial
    without replacement. The picks are added to `taken`.
    """
    picks: list[int] = []
    for _ in range(_REJECTION_ROUNDS):
        need = n - len(picks)
        if need == 0:
            break
        if weights is None:
            draws = torch.randint(size, (need,), generator=generator)
        else:
            draws = torch.multinomial(weights, need, replacement=True, generator=generator)
        for row in draws.tolist():
            if row not in taken:
                taken.add(row)
                picks.append(row)
    need = n - len(picks)
    if need > 0:
        remaining = torch.ones(size, dtype=torch.float64) if weights is None else weights.clone()
        remaining[list(taken)] = 0.0
        rest = torch.multinomial(remaining, need, replacement=False, generator=generator).tolist()
        taken.update(rest)
        picks.extend(rest)
    return torch.tensor(picks, dtype=torch.int64)


def _require(n: int, index: FlatIndex, what: str) -> None:
    if n > len(index):
        raise ValueError(f"asked for {n} {what}, the replay holds {len(index)}")


def sample_frames(store: ReplayStore, n: int, generator: torch.Generator) -> Tensor:
    """n distinct image frames, uniform over all stored rows (tokenizer batches, §4.1): uint8 (n, 3, H, W)."""
    index = FlatIndex.of(store, 0)
    _require(n, index, "frames")
    if n and "image" not in store[store.episode_ids[0]].observations:
        raise KeyError("the stored observations have no image modality")
    rows = torch.randperm(len(index), generator=generator)[:n]  # (n,)
    episode_ids, local = index.locate(rows)
    return torch.stack([store[e].observations["image"][t] for e, t in zip(episode_ids.tolist(), local.tolist())])


def sample_uniform(store: ReplayStore, batch_size: int, ctx: int, length: int, generator: torch.Generator,
                   padding: Padding = "left") -> list[Key]:
    """B distinct keys drawn uniformly over all samples (actor-critic: left padding, ctx = c + 1, §6.2).

    Each batch is drawn afresh (distinct within the batch), where the official loader walks shuffled passes
    over the samples; the two differ only in whether a sample can recur within one epoch.
    """
    index = FlatIndex.of(store, ctx)
    _require(batch_size, index, "samples")
    episode_ids, indices = index.locate(draw_distinct(batch_size, len(index), set(), generator))  # (B,), (B,)
    starts = indices + ctx + 1 - length if padding == "left" else indices
    return list(zip(episode_ids.tolist(), starts.tolist()))


class PrioritizedSampler:
    """World-model replay (§6.4): ⌈(1 − uniform_fraction)·B⌉ samples by softmax(loss), the rest uniform.

    Keys are (episode_id, i) with i the start row of a right-padded segment. New samples enter at
    `initial_loss`; `update` writes each per-sample loss to exactly its key (D4); the table is checkpointed.
    """

    def __init__(self, uniform_fraction: float = 0.7, initial_loss: float = 10.0) -> None:
        self.uniform_fraction = uniform_fraction
        self.initial_loss = initial_loss
        self._index = FlatIndex(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))
        self.losses = torch.zeros(0, dtype=torch.float64)  # (K,) per flat row
        self.visits = torch.zeros(0, dtype=torch.int64)  # (K,)
        self._weights = torch.zeros(0, dtype=torch.float64)  # (K,) softmax numerators of the losses

    def __len__(self) -> int:
        return len(self.losses)

    def __getitem__(self, key: Key) -> tuple[float, int]:
        """(loss, visit count) of one sample."""
        row = int(self._index.rows([key])[0])
        return float(self.losses[row]), int(self.visits[row])

    def keys(self) -> list[Key]:
        ids, starts = self._index.locate(torch.arange(len(self)))
        return list(zip(ids.tolist(), starts.tolist()))

    def sync(self, store: ReplayStore, ctx: int) -> None:
        """Match the store: keep known samples, add new ones at `initial_loss`, drop those of evicted episodes."""
        new = FlatIndex.of(store, ctx)
        losses = torch.full((len(new),), self.initial_loss, dtype=torch.float64)
        visits = torch.zeros(len(new), dtype=torch.int64)
        old = self._index
        for e, eid in enumerate(new.episode_ids.tolist()):
            o = old.index.get(eid)
            if o is None:
                continue
            kept = min(int(old.counts[o]), int(new.counts[e]))
            src, dst = int(old.offsets[o]), int(new.offsets[e])
            losses[dst : dst + kept] = self.losses[src : src + kept]
            visits[dst : dst + kept] = self.visits[src : src + kept]
        self._index, self.losses, self.visits = new, losses, visits
        self._weights = self._softmax_numerators(losses)

    def num_prioritized(self, batch_size: int) -> int:
        """⌈(1 − uniform_fraction)·B⌉ (rounded first, so 0.3·10 counts as 3, not 4)."""
        return math.ceil(round((1 - self.uniform_fraction) * batch_size, 9))

    def sample(self, batch_size: int, generator: torch.Generator) -> list[Key]:
        """B distinct keys: the prioritized part, then uniform over the rest, shuffled together."""
        if batch_size > len(self):
            raise ValueError(f"batch of {batch_size} from {len(self)} samples")
        n_prior = self.num_prioritized(batch_size)
        taken: set[int] = set()
        prior = draw_distinct(n_prior, len(self), taken, generator, self._weights)
        uniform = draw_distinct(batch_size - n_prior, len(self), taken, generator)
        rows = torch.cat([prior, uniform])[torch.randperm(batch_size, generator=generator)]  # (B,)
        ids, starts = self._index.locate(rows)
        return list(zip(ids.tolist(), starts.tolist()))

    def update(self, ids: list[Key], losses: Tensor | Sequence[float]) -> None:
        """Write losses[b] to sample ids[b] and count a visit (D4)."""
        rows = self._index.rows(ids)
        self.losses[rows] = torch.as_tensor(losses).detach().to(device="cpu", dtype=torch.float64).reshape(-1)
        self.visits.index_add_(0, rows, torch.ones_like(rows))
        self._weights[rows] = self._softmax_numerators(self.losses[rows])

    def _softmax_numerators(self, losses: Tensor) -> Tensor:
        """exp(loss − initial_loss): proportional to softmax(losses), finite for any loss below initial + 700."""
        weights = torch.exp(losses - self.initial_loss)
        if not torch.isfinite(weights).all():
            raise ValueError(f"losses too large for the softmax: max {float(losses.max())}")
        return weights

    def state_dict(self) -> dict[str, Tensor]:
        return {
            "episode_ids": self._index.episode_ids.clone(),
            "counts": self._index.counts.clone(),
            "losses": self.losses.clone(),
            "visits": self.visits.clone(),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        index = FlatIndex(state["episode_ids"], state["counts"])
        if len(index) != len(state["losses"]) or len(index) != len(state["visits"]):
            raise ValueError("priority table sizes disagree")
        self._index, self.losses, self.visits = index, state["losses"].clone(), state["visits"].clone()
        self._weights = self._softmax_numerators(self.losses)
