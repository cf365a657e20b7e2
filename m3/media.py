"""Run-folder media written during training (design §7.1 step 5, §7.3): reconstruction PNGs and sample episodes.

```
<run_dir>/media/
  reconstructions/epoch_<epoch:03d>_t_<step:03d>.png   originals above their VQ-VAE reconstructions (image envs)
  episodes/{train,test}/episode_<id>_epoch_<e>.pt    at most MAX_EPISODES per folder (the newest), plus
  episodes/{train,test}/best_episode_<id>_epoch_<e>.pt   the one with the highest return so far
  episodes/imagination/                             created, empty (as officially)
  recordings/<timestamp>.mp4, .npz                  written by the play tool (Shift+R)
```
An episode file is `{"format", "episode": Episode.to_dict(), "epoch", "return", "benchmark", "game"}`;
the play tool replays these files (`python -m m3.play <benchmark> -p <run> -e`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from m3.atomic import atomic_torch_save
from m3.checkpoint import CheckpointError, load_file
from m3.data.episode import Episode
from m3.models.tokenizers.image import ImageTokenizer

MAX_EPISODES = 10
"""Episode files kept per folder, besides the best one (§7.3)."""

EPISODE_FORMAT = "m3-episode-v1"
SPLITS = ("train", "test")
_EPISODE_NAME = re.compile(r"^(best_)?episode_(\d+)_epoch_(\d+)\.pt$")


@dataclass(frozen=True)
class MediaDir:
    """The paths under `<run_dir>/media`."""

    root: Path

    @property
    def reconstructions(self) -> Path:
        return self.root / "reconstructions"

    @property
    def recordings(self) -> Path:
        return self.root / "recordings"

    @property
    def imagination(self) -> Path:
        return self.root / "episodes" / "imagination"

    def episodes(self, split: str) -> Path:
        if split not in SPLITS:
            raise ValueError(f"unknown episode split {split!r}; allowed: {list(SPLITS)}")
        return self.root / "episodes" / split

    def create(self) -> None:
        """Create the training-time folders (the recordings folder is created when a recording starts)."""
        for path in (self.reconstructions, self.imagination, *(self.episodes(s) for s in SPLITS)):
            path.mkdir(parents=True, exist_ok=True)


def reconstruction_grid(originals: np.ndarray, reconstructions: np.ndarray, columns: int = 8) -> np.ndarray:
    """uint8 frames (N, 3, H, W) twice → one RGB grid (2·⌈N/columns⌉·H, min(N, columns)·W, 3): each row
    of up to `columns` originals has their reconstructions right below it; missing cells stay black."""
    if originals.shape != reconstructions.shape or originals.ndim != 4 or originals.shape[1] != 3:
        raise ValueError(f"expected two (N, 3, H, W) arrays of one shape, got {originals.shape} and "
                         f"{reconstructions.shape}")
    n, _, h, w = originals.shape
    cols, rows = min(n, columns), -(-n // columns)
    grid = np.zeros((2 * rows * h, cols * w, 3), dtype=np.uint8)
    for i in range(n):
        r, c = divmod(i, columns)
        grid[2 * r * h:(2 * r + 1) * h, c * w:(c + 1) * w] = originals[i].transpose(1, 2, 0)
        grid[(2 * r + 1) * h:(2 * r + 2) * h, c * w:(c + 1) * w] = reconstructions[i].transpose(1, 2, 0)
    return grid


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """Images in [0, 1] (any shape) → uint8 numpy, rounded."""
    return (images.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


@torch.no_grad()
def save_reconstructions(media: MediaDir, epoch: int, frames: torch.Tensor, tokenizer: ImageTokenizer) -> list[Path]:
    """uint8 frames (B, T, 3, H, W), e.g. B test segments of T steps → one PNG per step t:
    `reconstructions/epoch_<epoch:03d>_t_<step:03d>.png`, the B originals above their reconstructions
    (§7.1 step 5)."""
    if frames.ndim != 5 or frames.dtype != torch.uint8:
        raise ValueError(f"expected uint8 frames (B, T, 3, H, W), got {frames.dtype} {tuple(frames.shape)}")
    was_training = tokenizer.training
    tokenizer.eval()
    media.reconstructions.mkdir(parents=True, exist_ok=True)
    device = tokenizer.codebook.weight.device
    paths = []
    for t in range(frames.shape[1]):
        originals = frames[:, t]
        reconstructions = to_uint8(tokenizer.reconstruct(originals.to(device)))
        path = media.reconstructions / f"epoch_{epoch:03d}_t_{t:03d}.png"
        Image.fromarray(reconstruction_grid(originals.cpu().numpy(), reconstructions)).save(path)
        paths.append(path)
    tokenizer.train(was_training)
    return paths


@dataclass
class StoredEpisode:
    episode: Episode
    epoch: int
    ret: float
    benchmark: str
    game: str
    path: Path


def _parse_name(path: Path) -> tuple[bool, int, int] | None:
    """(is_best, episode id, epoch) of an episode file name, None for other files."""
    match = _EPISODE_NAME.match(path.name)
    return None if match is None else (match[1] is not None, int(match[2]), int(match[3]))


def _files(folder: Path, best: bool) -> list[Path]:
    """The episode (or best-episode) files of `folder`, oldest first (by epoch, then id)."""
    found = [(p, _parse_name(p)) for p in folder.glob("*.pt")] if folder.is_dir() else []
    return [p for p, key in sorted((x for x in found if x[1] is not None and x[1][0] == best),
                                   key=lambda x: (x[1][2], x[1][1]))]


_best_returns: dict[Path, float] = {}  # best-episode file → its return: each is read at most once per process


def _best_return(path: Path) -> float:
    if path not in _best_returns:
        _best_returns[path] = load_episode(path).ret
    return _best_returns[path]


def save_episode(media: MediaDir, split: str, episode: Episode, epoch: int, benchmark: str, game: str) -> Path:
    """Write `episodes/<split>/episode_<id>_epoch_<epoch>.pt` and keep only the MAX_EPISODES newest there;
    if its return beats the folder's best episode (or there is none), it also becomes `best_episode_*`."""
    folder = media.episodes(split)
    ret = float(episode.rewards.sum())
    blob = {"format": EPISODE_FORMAT, "episode": episode.to_dict(), "epoch": epoch, "return": ret,
            "benchmark": benchmark, "game": game}
    path = folder / f"episode_{episode.id}_epoch_{epoch}.pt"
    atomic_torch_save(blob, path)
    for old in _files(folder, best=False)[:-MAX_EPISODES]:
        old.unlink()
    best = _files(folder, best=True)
    if not best or ret > _best_return(best[-1]):
        atomic_torch_save(blob, folder / f"best_{path.name}")
        _best_returns[folder / f"best_{path.name}"] = ret
        for old in best:
            if old.name != f"best_{path.name}":
                old.unlink()
    return path


def load_episode(path: str | Path) -> StoredEpisode:
    """Read an episode file; `CheckpointError` names the file if it is missing, corrupt or foreign."""
    path = Path(path)
    blob = load_file(path)
    if not isinstance(blob, dict) or blob.get("format") != EPISODE_FORMAT:
        raise CheckpointError(f"{path} is not an m3 episode file (expected format {EPISODE_FORMAT!r})")
    return StoredEpisode(Episode.from_dict(blob["episode"]), int(blob["epoch"]), float(blob["return"]),
                         str(blob["benchmark"]), str(blob["game"]), path)


def list_episodes(episodes_root: str | Path) -> list[Path]:
    """The episode files under `episodes_root` (a `media/episodes` folder) in replay order: per split
    (test, then train) the best episode first, then the others from oldest to newest."""
    root = Path(episodes_root)
    return [p for split in ("test", "train") for best in (True, False) for p in _files(root / split, best)]


__all__ = ["MAX_EPISODES", "EPISODE_FORMAT", "MediaDir", "StoredEpisode", "reconstruction_grid",
           "save_reconstructions", "save_episode", "load_episode", "list_episodes", "to_uint8"]
