"""The replay's storage: episodes in RAM with a byte cap, mirrored on disk one file per episode, read back as
padded segments and batches (design §7.2, §7.3). Which segments a batch holds is `m3.data.selectors`' job.

RAM cap: the official dataset evicts the oldest episodes once the *process RSS* exceeds 15 GB. We instead
count the bytes of the stored episodes' tensors, so eviction depends only on the data and runs are
reproducible; the default cap is the same 15 GiB.

Segments (design §7.2, §5.7, §6.2): a segment is `length` consecutive rows [start, start + length) of one
episode; rows outside the episode are padding (zeros, `mask_padding` False). "right" segments start inside
the episode and may run past its end (tokenizer, world model); "left" segments end inside the episode and may
begin before row 0, i.e. `start` < 0 (actor-critic). The pair (episode_id, start) identifies a segment and is
the sample key of the prioritized table (§6.4, D4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Mapping

import torch
from torch import Tensor

from m3.atomic import atomic_torch_save
from m3.data.episode import Episode

Padding = Literal["right", "left"]
Key = tuple[int, int]  # (episode_id, start)


class ReplayFileError(RuntimeError):
    """A replay episode file that a checkpoint needs is missing or unreadable; the message names it."""


def _read_episode(path: Path) -> Episode:
    try:
        return Episode.from_dict(torch.load(path, weights_only=True))
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise ReplayFileError(f"replay episode {path} is corrupt ({e}); restore it, or delete the run's "
                              "checkpoints/ to start afresh") from e


class ReplayStore:
    """Episodes by id in insertion order; FIFO eviction above `max_ram_bytes`; incremental saves.

    `directory` holds `<episode_id>.pt` files (None: RAM only).
    """

    def __init__(self, directory: Path | str | None, max_ram_bytes: int = 15 * 2**30) -> None:
        self.directory = Path(directory) if directory is not None else None
        self.max_ram_bytes = max_ram_bytes
        self._episodes: dict[int, Episode] = {}
        self._num_bytes = 0
        self._num_steps = 0
        self._dirty: set[int] = set()  # written on the next save()
        self._evicted: set[int] = set()  # files removed on the next save()

    def __contains__(self, episode_id: int) -> bool:
        return episode_id in self._episodes

    def __getitem__(self, episode_id: int) -> Episode:
        return self._episodes[episode_id]

    @property
    def episode_ids(self) -> list[int]:
        """Stored episode ids, oldest first."""
        return list(self._episodes)

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    @property
    def num_steps(self) -> int:
        """Stored rows over all episodes (N + 1 per episode with N actions)."""
        return self._num_steps

    @property
    def num_bytes(self) -> int:
        return self._num_bytes

    def update(self, episode: Episode) -> None:
        """Replace the stored episode with `episode.id` (KeyError if there is none)."""
        if episode.id not in self._episodes:
            raise KeyError(f"episode {episode.id} is not stored")
        self.add(episode)

    def add(self, episode: Episode) -> None:
        """Store `episode`; one already stored under its id (an unfinished episode, now extended) is replaced
        and keeps its place in the FIFO order. Marks the episode for the next save."""
        old = self._episodes.get(episode.id)
        if old is not None:
            self._num_bytes -= old.num_bytes
            self._num_steps -= len(old)
        self._episodes[episode.id] = episode
        self._num_bytes += episode.num_bytes
        self._num_steps += len(episode)
        self._dirty.add(episode.id)
        self._evicted.discard(episode.id)
        self._evict()

    def _evict(self) -> None:
        """Drop the oldest episodes while over the cap, always keeping the newest one."""
        while self._num_bytes > self.max_ram_bytes and len(self._episodes) > 1:
            episode_id = next(iter(self._episodes))
            episode = self._episodes.pop(episode_id)
            self._num_bytes -= episode.num_bytes
            self._num_steps -= len(episode)
            self._dirty.discard(episode_id)
            self._evicted.add(episode_id)

    def save(self, keep_evicted: bool = False) -> None:
        """Write the episodes changed since the last save, remove the files of evicted ones (§7.2) unless
        `keep_evicted` (a checkpoint keeps them until it is committed: the previous commit still lists them)."""
        directory = self._require_directory()
        directory.mkdir(parents=True, exist_ok=True)
        for episode_id in sorted(self._dirty):
            atomic_torch_save(self._episodes[episode_id].to_dict(), directory / f"{episode_id}.pt")
        self._dirty.clear()
        if keep_evicted:
            return
        for episode_id in sorted(self._evicted):
            (directory / f"{episode_id}.pt").unlink(missing_ok=True)
        self._evicted.clear()

    def manifest(self) -> dict[int, int]:
        """{episode_id: rows}, oldest first: the store as a checkpoint sees it (saved with the checkpoint)."""
        return {episode_id: len(episode) for episode_id, episode in self._episodes.items()}

    def load(self, manifest: Mapping[int, int] | None = None) -> None:
        """Replace the contents by the directory's `<episode_id>.pt` files, in id order, then apply the cap.

        Anything else in the directory (e.g. a temp file left by an interrupted atomic write) is ignored.
        With a `manifest` (saved with a checkpoint), restore the store as that checkpoint saw it, even when
        episodes were saved after it: only its episodes, in its order, each cut to its recorded rows with the
        last row's action, reward and end reset to the zero placeholders they held then; files of other
        episodes are removed on the next save. A manifest episode without a readable file raises
        `ReplayFileError` naming the file (a checkpoint's episodes are never silently dropped).
        """
        directory = self._require_directory()
        on_disk = {int(p.stem): p for p in directory.glob("*.pt") if p.stem.isdigit()}
        self._episodes.clear()
        self._dirty.clear()
        self._evicted.clear()
        self._num_bytes = self._num_steps = 0
        if manifest is None:
            for episode_id in sorted(on_disk):
                self.add(_read_episode(on_disk[episode_id]))
            self._dirty.clear()
            return
        changed = []
        for episode_id, rows in manifest.items():
            if episode_id not in on_disk:
                raise ReplayFileError(f"replay episode {directory / f'{episode_id}.pt'} is listed in the checkpoint "
                                      "but missing; restore it, or delete the run's checkpoints/ to start afresh")
            episode = _read_episode(on_disk[episode_id])
            if len(episode) > rows:
                episode = _cut(episode, rows)
                changed.append(episode_id)
            self.add(episode)
        self._dirty = {episode_id for episode_id in changed if episode_id in self._episodes}
        self._evicted |= set(on_disk) - set(manifest)

    def _require_directory(self) -> Path:
        if self.directory is None:
            raise RuntimeError("this ReplayStore has no directory")
        return self.directory

    def segment(self, episode_id: int, start: int, length: int, padding: Padding) -> dict[str, Any]:
        """Rows [start, start + length) of one episode, padded with zeros where outside it (mask False): the batch
        of the one key (episode_id, start) without its leading B.

        padding "right": 0 <= start < len(episode); "left": 1 <= start + length <= len(episode).
        Returns {"obs": {name: (L, *shape)}, "actions": (L[, A]), "rewards": (L,), "ends": (L,),
        "mask_padding": (L,), "id": (episode_id, start)}.
        """
        batch = self.collate([(episode_id, start)], length, padding)
        tensors = {k: v[0] for k, v in batch.items() if torch.is_tensor(v)}
        return {"obs": {name: v[0] for name, v in batch["obs"].items()}, **tensors, "id": batch["ids"][0]}

    def collate(self, keys: Iterable[Key], length: int, padding: Padding) -> dict[str, Any]:
        """The batch of segments `keys` (layout: docs/interfaces.md, "Batches"): segment b's rows copied straight
        into row b of each zero-filled (B, L, ...) tensor, the keys as the list `ids`."""
        ids = [(episode_id, start) for episode_id, start in keys]
        windows = [self._window(episode_id, start, length, padding) for episode_id, start in ids]
        first = windows[0][0]

        def gather(field: Callable[[Episode], Tensor]) -> Tensor:
            like = field(first)
            out = like.new_zeros(len(ids), length, *like.shape[1:])  # (B, L, ...)
            for b, ((episode, lo, hi), (_, start)) in enumerate(zip(windows, ids)):
                out[b, lo - start : hi - start] = field(episode)[lo:hi]
            return out

        return {
            "obs": {name: gather(lambda e, name=name: e.observations[name]) for name in first.observations},
            "actions": gather(lambda e: e.actions),
            "rewards": gather(lambda e: e.rewards),
            "ends": gather(lambda e: e.ends),
            "mask_padding": gather(lambda e: e.mask_padding),
            "ids": ids,
        }

    def _window(self, episode_id: int, start: int, length: int, padding: Padding) -> tuple[Episode, int, int]:
        """The episode of segment (episode_id, start) and the rows [lo, hi) of it that exist (see `segment`)."""
        episode = self._episodes[episode_id]
        n, end = len(episode), start + length
        if padding == "right" and not 0 <= start < n:
            raise ValueError(f"right-padded segment must start inside the episode: start {start}, {n} rows")
        if padding == "left" and not 1 <= end <= n:
            raise ValueError(f"left-padded segment must end inside the episode: end {end}, {n} rows")
        return episode, max(start, 0), min(end, n)

def _cut(episode: Episode, rows: int) -> Episode:
    """The first `rows` rows, the last one with the zero action, reward and end of a newest observation."""
    actions, rewards, ends = (t[:rows].clone() for t in (episode.actions, episode.rewards, episode.ends))
    actions[-1], rewards[-1], ends[-1] = 0, 0.0, 0
    observations = {name: t[:rows].clone() for name, t in episode.observations.items()}
    return Episode(episode.id, observations, actions, rewards, ends, episode.mask_padding[:rows].clone())


def batch_to(batch: dict[str, Any], device: torch.device | str) -> dict[str, Any]:
    """A collated batch with its tensors (and observation tensors) moved to `device`; `ids` unchanged."""
    out = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
    out["obs"] = {k: v.to(device) for k, v in batch["obs"].items()}
    return out

