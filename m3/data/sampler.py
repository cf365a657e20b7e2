"""Prioritized world-model replay and its DataLoader path (design §6.4, §5.7, §11 D4).

A world-model sample is sample index i of an episode (i ∈ [0, n − ctx] with ctx = c, §7.2), read as the
right-padded segment of rows [i, i + max_blocks); it is keyed by (episode_id, i), the same key
`ReplayStore.segment` takes and batches carry in `ids`. (Uniform actor-critic batches and tokenizer frames come
from `ReplayStore.sample_uniform` and `ReplayStore.sample_frames`.)

Every random draw takes the caller's `torch.Generator`, so a seed fixes the samples.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from m3.data.replay import Key, Padding, ReplayStore, collate_segments, draw_distinct, num_samples


class _KeyTable:
    """Flat rows over the samples of several episodes: episode e owns rows [offsets[e], offsets[e] + counts[e])."""

    def __init__(self, episode_ids: Tensor, counts: Tensor) -> None:
        keep = counts > 0
        self.episode_ids = episode_ids[keep].to(torch.int64)  # (E,)
        self.counts = counts[keep].to(torch.int64)  # (E,)
        self.offsets = self.counts.cumsum(0) - self.counts  # (E,)
        self.index = {eid: e for e, eid in enumerate(self.episode_ids.tolist())}

    @classmethod
    def of(cls, store: ReplayStore, ctx: int) -> _KeyTable:
        ids = store.episode_ids
        counts = [num_samples(len(store[eid]), ctx) for eid in ids]
        return cls(torch.tensor(ids, dtype=torch.int64), torch.tensor(counts, dtype=torch.int64))

    def __len__(self) -> int:
        return int(self.counts.sum())

    def locate(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """Flat rows (B,) → (episode ids (B,), sample indices i (B,))."""
        e = torch.searchsorted(self.offsets, rows, right=True) - 1
        return self.episode_ids[e], rows - self.offsets[e]

    def rows(self, episode_ids: list[int], indices: list[int]) -> Tensor:
        """(episode id, sample index) pairs → flat rows; KeyError for a sample the table does not hold."""
        out = []
        for eid, i in zip(episode_ids, indices):
            e = self.index.get(eid)
            if e is None or not 0 <= i < int(self.counts[e]):
                raise KeyError(f"no sample ({eid}, {i}) in the table")
            out.append(int(self.offsets[e]) + i)
        return torch.tensor(out, dtype=torch.int64)


class PrioritizedSampler:
    """World-model replay (§6.4): ⌈(1 − uniform_fraction)·B⌉ samples by softmax(loss), the rest uniform.

    Keys are (episode_id, i) with i the start row of a right-padded segment. New samples enter at
    `initial_loss`; `update` writes each per-sample loss to exactly its key (D4); the table is checkpointed.
    """

    def __init__(self, uniform_fraction: float = 0.7, initial_loss: float = 10.0) -> None:
        self.uniform_fraction = uniform_fraction
        self.initial_loss = initial_loss
        self._table = _KeyTable(torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64))
        self.losses = torch.zeros(0, dtype=torch.float64)  # (K,) per flat row
        self.visits = torch.zeros(0, dtype=torch.int64)  # (K,)
        self._weights = torch.zeros(0, dtype=torch.float64)  # (K,) softmax numerators of the losses

    def __len__(self) -> int:
        return len(self.losses)

    def __getitem__(self, key: Key) -> tuple[float, int]:
        """(loss, visit count) of one sample."""
        row = int(self._table.rows([key[0]], [key[1]])[0])
        return float(self.losses[row]), int(self.visits[row])

    def keys(self) -> list[Key]:
        ids, starts = self._table.locate(torch.arange(len(self)))
        return list(zip(ids.tolist(), starts.tolist()))

    def sync(self, store: ReplayStore, ctx: int) -> None:
        """Match the store: keep known samples, add new ones at `initial_loss`, drop those of evicted episodes."""
        new = _KeyTable.of(store, ctx)
        losses = torch.full((len(new),), self.initial_loss, dtype=torch.float64)
        visits = torch.zeros(len(new), dtype=torch.int64)
        old = self._table
        for e, eid in enumerate(new.episode_ids.tolist()):
            o = old.index.get(eid)
            if o is None:
                continue
            kept = min(int(old.counts[o]), int(new.counts[e]))
            src, dst = int(old.offsets[o]), int(new.offsets[e])
            losses[dst : dst + kept] = self.losses[src : src + kept]
            visits[dst : dst + kept] = self.visits[src : src + kept]
        self._table, self.losses, self.visits = new, losses, visits
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
        ids, starts = self._table.locate(rows)
        return list(zip(ids.tolist(), starts.tolist()))

    def update(self, ids: list[Key], losses: Tensor | Sequence[float]) -> None:
        """Write losses[b] to sample ids[b] and count a visit (D4)."""
        rows = self._table.rows([k[0] for k in ids], [k[1] for k in ids])
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
            "episode_ids": self._table.episode_ids.clone(),
            "counts": self._table.counts.clone(),
            "losses": self.losses.clone(),
            "visits": self.visits.clone(),
        }

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        table = _KeyTable(state["episode_ids"], state["counts"])
        if len(table) != len(state["losses"]) or len(table) != len(state["visits"]):
            raise ValueError("priority table sizes disagree")
        self._table, self.losses, self.visits = table, state["losses"].clone(), state["visits"].clone()
        self._weights = self._softmax_numerators(self.losses)


class SegmentDataset(Dataset):
    """Map-style dataset over sample keys: dataset[(episode_id, start)] is that key's segment."""

    def __init__(self, store: ReplayStore, length: int, padding: Padding) -> None:
        self.store, self.length, self.padding = store, length, padding

    def __getitem__(self, key: Key) -> dict[str, Any]:
        return self.store.segment(key[0], key[1], self.length, self.padding)


class PrioritizedBatchSampler:
    """`num_batches` key lists drawn from a PrioritizedSampler in the main process (a DataLoader batch_sampler)."""

    def __init__(
        self, sampler: PrioritizedSampler, batch_size: int, num_batches: int, generator: torch.Generator
    ) -> None:
        self.sampler, self.batch_size, self.num_batches, self.generator = sampler, batch_size, num_batches, generator

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[Key]]:
        for _ in range(self.num_batches):
            yield self.sampler.sample(self.batch_size, self.generator)


def prioritized_loader(
    store: ReplayStore,
    sampler: PrioritizedSampler,
    batch_size: int,
    num_batches: int,
    length: int,
    generator: torch.Generator,
    num_workers: int = 0,
) -> DataLoader:
    """World-model batches (right padding) built in `num_workers` worker processes; each carries its `ids`.

    Workers fork a copy of the store when iteration starts, so build a fresh iterator after the store changes
    (e.g. once per epoch, after `sampler.sync`). With prefetching, batches are drawn before earlier losses are
    written back; the ids still route every loss to its own sample (D4).
    """
    return DataLoader(
        SegmentDataset(store, length, "right"),
        batch_sampler=PrioritizedBatchSampler(sampler, batch_size, num_batches, generator),
        num_workers=num_workers,
        collate_fn=collate_segments,
        generator=generator,
        multiprocessing_context="fork" if num_workers > 0 else None,
    )
