"""The process-wide random streams a run seeds, checkpoints and restores (design §7.3): Python's, NumPy's global
and torch's default generator. The trainer's own `torch.Generator` is checkpointed beside them."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


__all__ = ["seed_everything", "rng_state", "set_rng_state"]
