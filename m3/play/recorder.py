"""Shift+R recordings of the play tool (design §8.6): `<folder>/<timestamp>.mp4` and `<timestamp>.npz`.

The mp4 (H.264 through imageio-ffmpeg, at the play fps) holds the window as shown; every frame is
fitted to the first one's size, rounded up to even sides (yuv420p needs them). The npz holds the raw
frames, unscaled (`frames` (T, H, W, 3) uint8: the env's full-resolution frame, the stored observation
or the decoded dream), `actions` (T,) or (T, A) float32 (NaN where a frame follows a reset), `rewards`
and `returns` (T,) float32.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import imageio.v2 as imageio
import numpy as np

from m3.atomic import atomic_savez


def fit(frame: np.ndarray, height: int, width: int) -> np.ndarray:
    """Crop or pad (H, W, 3) with black to (height, width, 3)."""
    frame = frame[:height, :width]
    return np.pad(frame, ((0, height - frame.shape[0]), (0, width - frame.shape[1]), (0, 0)))


class Recorder:
    def __init__(self, folder: str | Path, fps: int, action_dims: int) -> None:
        self.folder, self.fps, self.action_dims = Path(folder), fps, action_dims
        self.writer: Any = None
        self.path: Path | None = None

    @property
    def active(self) -> bool:
        return self.writer is not None

    def start(self) -> Path:
        """Open `<folder>/<timestamp>.mp4` (a suffix keeps two recordings of one second apart)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path, n = self.folder / f"{stamp}.mp4", 1
        while path.exists():
            path, n = self.folder / f"{stamp}-{n}.mp4", n + 1
        self.path = path
        self.writer = imageio.get_writer(path, format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                                         pixelformat="yuv420p", macro_block_size=1, ffmpeg_log_level="error")
        self.size: tuple[int, int] = (0, 0)  # (H, W) of the mp4, set by the first frame
        self.frames: list[np.ndarray] = []
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.returns: list[float] = []
        return path

    def add(self, shown: np.ndarray, raw: np.ndarray, action: Any, reward: float, ret: float) -> None:
        """One displayed frame: the window `shown` goes to the mp4, the rest to the npz."""
        if not self.frames:
            self.size = (shown.shape[0] + shown.shape[0] % 2, shown.shape[1] + shown.shape[1] % 2)
        self.writer.append_data(fit(shown, *self.size))
        self.frames.append(raw if not self.frames else fit(raw, *self.frames[0].shape[:2]))
        none = np.full(self.action_dims, np.nan, np.float32) if self.action_dims else np.float32(np.nan)
        self.actions.append(none if action is None else np.asarray(action, np.float32).reshape(none.shape))
        self.rewards.append(reward)
        self.returns.append(ret)

    def stop(self) -> tuple[Path, Path]:
        """Close the mp4 and write the npz next to it (atomically); returns both paths."""
        self.writer.close()
        self.writer = None
        npz = self.path.with_suffix(".npz")
        atomic_savez(npz, frames=np.stack(self.frames), actions=np.stack(self.actions),
                     rewards=np.asarray(self.rewards, np.float32), returns=np.asarray(self.returns, np.float32))
        return self.path, npz
