"""The pictures shown for one `Frame`, as RGB uint8 numpy arrays (design §8.6).

- Real env: the env's full-resolution frame (`render()`: ALE frame, MuJoCo offscreen render, Craftax's
  pixel renderer, gymnasium's CartPole drawing).
- `-r`: image envs show the original frame, the 64×64 input and the VQ-VAE reconstruction side by side;
  vector and grid envs show the original frame, the observation and its decoded tokens.
- Dreams show the imagined tokens decoded: images through the VQ-VAE decoder, vectors as bars of the
  dequantized symlog levels (§4.2), Craftax maps drawn with Craftax's textures.
- Vectors are drawn as bars in symlog space, positive green, negative red.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from m3.agent import Agent
from m3.media import to_uint8
from m3.play.craftax_tiles import draw_map
from m3.play.modes import Frame
from m3.models.distributions import symlog

Pictures = list[tuple[str, np.ndarray]]  # (title, RGB uint8 (H, W, 3)) left to right

BAR_HEIGHT = 96
BACKGROUND = 24


def bars(values: np.ndarray, scale: float) -> np.ndarray:
    """values (n,) → RGB (96, n·w, 3): one bar per value from the middle line, full height at ±scale."""
    values = np.clip(np.asarray(values, dtype=np.float64), -scale, scale)
    width = max(3, min(24, 192 // len(values)))
    image = np.full((BAR_HEIGHT, len(values) * width, 3), BACKGROUND, np.uint8)
    mid = BAR_HEIGHT // 2
    image[mid] = 90
    for i, v in enumerate(values):
        size = int(round(abs(v) / scale * (mid - 2)))
        rows = slice(mid - size, mid) if v > 0 else slice(mid + 1, mid + 1 + size)
        image[rows, i * width + 1:(i + 1) * width - 1] = (80, 200, 120) if v > 0 else (220, 90, 80)
    return image


def stack(pictures: list[np.ndarray]) -> np.ndarray:
    """Pictures one above the other, centred, on the background colour."""
    width = max(p.shape[1] for p in pictures)
    rows = []
    for p in pictures:
        left = (width - p.shape[1]) // 2
        rows.append(np.pad(p, ((0, 0), (left, width - p.shape[1] - left), (0, 0)), constant_values=BACKGROUND))
    return np.concatenate(rows)


def bar_scale(values: np.ndarray) -> float:
    """The bar scale: the smallest whole number ≥ 1 that holds every value."""
    return float(max(1, math.ceil(float(np.abs(values).max(initial=0.0)))))


class Painter:
    """Draws frames for one agent; `reconstruction` is the `-r` view."""

    def __init__(self, agent: Agent, reconstruction: bool) -> None:
        self.agent, self.reconstruction = agent, reconstruction
        self.tokenizer = agent.tokenizer

    def _picture(self, image: np.ndarray | None, vector: np.ndarray | None, grid: tuple[np.ndarray, int] | None,
                 scale: float | None) -> np.ndarray:
        parts = []
        if image is not None:
            parts.append(image)
        if grid is not None:
            parts.append(draw_map(*grid))
        if vector is not None:
            parts.append(bars(vector, scale or bar_scale(vector)))
        return stack(parts)

    def observation(self, obs: dict[str, np.ndarray], scale: float | None = None) -> np.ndarray:
        """A raw observation: the 64×64 image, the map, the vector as symlog bars."""
        vector = None if "vector" not in obs else symlog(torch.as_tensor(obs["vector"])).numpy()
        image = None if "image" not in obs else np.asarray(obs["image"]).transpose(1, 2, 0)
        grid = None if "token_2d" not in obs else (obs["token_2d"], int(obs["token"][0]))
        return self._picture(image, vector, grid, scale)

    @torch.no_grad()
    def tokens(self, tokens: dict[str, Tensor], scale: float | None = None) -> np.ndarray:
        """Observation tokens {name: (1, ...)} decoded: image via the VQ-VAE decoder, vector as its levels."""
        image = vector = grid = None
        if "image" in tokens:
            decoded = self.tokenizer.image.decode(self.tokenizer.image.embed(tokens["image"]))  # (1, 3, 64, 64)
            image = to_uint8((decoded[0] + 1) / 2).transpose(1, 2, 0)
        if "vector" in tokens:
            vector = self.tokenizer.vector.detokenize(tokens["vector"][0]).cpu().numpy()
        if "token_2d" in tokens:
            grid = (tokens["token_2d"][0].cpu().numpy(), int(tokens["token"][0, 0]))
        return self._picture(image, vector, grid, scale)

    def main(self, frame: Frame) -> np.ndarray:
        """The one picture a frame is about: the env frame, else the observation, else the dream."""
        if frame.picture is not None:
            return frame.picture
        if frame.obs is not None:
            return self.observation(frame.obs)
        return self.tokens(frame.tokens)

    @torch.no_grad()
    def pictures(self, frame: Frame) -> Pictures:
        """The titled pictures of a frame, left to right."""
        if frame.obs is None:
            return [("world model", self.main(frame))]
        if not self.reconstruction:
            return [("env" if frame.picture is not None else "episode", self.main(frame))]
        shown = [] if frame.picture is None else [("original", frame.picture)]
        obs = self.agent.obs_to_tensors({k: v[None] for k, v in frame.obs.items()})  # {name: (1, ...)}
        if "image" in frame.obs:
            recon = to_uint8(self.tokenizer.image.reconstruct(obs["image"])[0]).transpose(1, 2, 0)
            return [*shown, ("input 64x64", frame.obs["image"].transpose(1, 2, 0)), ("reconstruction", recon)]
        scale = bar_scale(symlog(obs["vector"]).cpu().numpy()) if "vector" in obs else None
        return [*shown, ("observation", self.observation(frame.obs, scale)),
                ("decoded tokens", self.tokens(self.tokenizer.tokenize(obs), scale))]
