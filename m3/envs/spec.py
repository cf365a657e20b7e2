"""The interface every environment wrapper returns (design §4.0, §4.5).

An m3 environment is a gymnasium env whose observation is a dict keyed by modality name, in the fixed
modality order image | vector | token | token_2d. Its `EnvSpec` says what each modality holds, so the
tokenizers, world model and actor-critic can be built without looking at the env itself. The info keys that
carry episode data (`EPISODE_STATS`, `FINAL_OBS`) are named here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

MODALITIES: tuple[str, ...] = ("image", "vector", "token", "token_2d")
"""Modality names in the order they appear inside a token block (design §4.0)."""

EPISODE_STATS = "episode_stats"
"""Info key an env may set on the last step of an episode: {name: number}, averaged over episodes by evaluation."""

FINAL_OBS = "final_obs"
"""Info key of an auto-resetting env's step that ended an episode: that episode's last observation (§8.4)."""


@dataclass(frozen=True)
class ModalitySpec:
    """One observation modality.

    shape: the raw per-step observation shape: image (3, 64, 64) uint8; vector (n,) float32;
        token (n,) int64; token_2d (cells, F) int64.
    vocab: token: (V,), one vocabulary for every entry; token_2d: one vocabulary per column (F entries);
        image and vector: () (their vocabularies belong to their tokenizers).
    """

    shape: tuple[int, ...]
    vocab: tuple[int, ...] = ()


@dataclass(frozen=True)
class ActionSpec:
    """discrete: `n` actions, one token; continuous: `n` dimensions in [-1, 1], one token per dimension."""

    kind: Literal["discrete", "continuous"]
    n: int

    @property
    def num_tokens(self) -> int:
        return 1 if self.kind == "discrete" else self.n


@dataclass(frozen=True)
class EnvSpec:
    """Observation modalities (ordered by MODALITIES) and the action space of an environment."""

    observations: dict[str, ModalitySpec] = field(default_factory=dict)
    action: ActionSpec = ActionSpec("discrete", 1)

    def __post_init__(self) -> None:
        unknown = [m for m in self.observations if m not in MODALITIES]
        if unknown:
            raise ValueError(f"unknown modalities {unknown}; allowed: {list(MODALITIES)}")
        ordered = {m: self.observations[m] for m in MODALITIES if m in self.observations}
        object.__setattr__(self, "observations", ordered)

    def obs_tokens(self, modality: str) -> int:
        """Tokens one observation of `modality` contributes to a block."""
        shape = self.observations[modality].shape
        if modality == "image":  # 3 stride-2 stages: an 8x8 grid of codes for 64x64 frames (design §4.1)
            return (shape[1] // 8) * (shape[2] // 8)
        return shape[0]

    @property
    def tokens_per_obs(self) -> int:
        """K: obs tokens per block."""
        return sum(self.obs_tokens(m) for m in self.observations)

    @property
    def tokens_per_block(self) -> int:
        """T: obs tokens plus action tokens per block."""
        return self.tokens_per_obs + self.action.num_tokens
