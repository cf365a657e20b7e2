"""Every env seed of a run, from one mixer (docs/envs.md "Seeds"; design §7.1 steps 1, 5 and 7, §8.4).

A seed is `numpy.random.SeedSequence(run_seed, spawn_key=(purpose code, *indices))` reduced to one 32-bit
word, so it lies in [0, 2**32) — the range numpy's `RandomState` (which dm_control seeds its tasks with)
and `np.random.seed` accept; ALE, JAX/Craftax, gymnasium, torch and Python accept it too. Each purpose
has a fixed code and a fixed number of indices, so different (run seed, purpose, indices) tuples are
different SeedSequence inputs and their seeds are independent 32-bit hashes: two of n seeds coincide with
probability below n²/2³³ (0.6 % for all 7,408 evaluation seeds of two paper-length DMC runs). The seed of a tuple never
changes, so a run seed fixes every episode; a new purpose gets a new code, never a reused one.
"""

from __future__ import annotations

import numpy as np

SEED_LIMIT = 2**32
"""Every seed here, and every run seed, is an int in [0, SEED_LIMIT)."""

PURPOSES: dict[str, tuple[int, tuple[str, ...]]] = {
    "train": (0, ("episode",)),  # train env: the first episode, and the first after a resume without env state
    "test_env": (1, ("env",)),  # construction of test env worker i
    "evaluation": (2, ("epoch", "episode")),  # periodic evaluation at an epoch: episode j
    "final": (3, ("episode",)),  # the final evaluation of a training run: episode j
    "evaluate": (4, ("seed", "episode")),  # `python -m m3.evaluate seed=k`: episode j
}
"""purpose → (its code in the spawn key, the names of its indices)."""


def check_run_seed(seed: int) -> int:
    """`seed` if it is an int in [0, 2**32), else a ValueError naming it."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < SEED_LIMIT:
        raise ValueError(f"seed={seed!r} is not allowed; a run seed is an integer in [0, {SEED_LIMIT})")
    return int(seed)


def derive_seed(run_seed: int, purpose: str, *indices: int) -> int:
    """The seed for `purpose` of the run `run_seed` at `indices` (see PURPOSES), an int in [0, 2**32)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown seed purpose {purpose!r}; allowed: {sorted(PURPOSES)}")
    code, names = PURPOSES[purpose]
    if len(indices) != len(names):
        raise ValueError(f"seed purpose {purpose!r} takes {len(names)} indices {names}, got {indices}")
    for name, index in zip(names, indices):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < SEED_LIMIT:
            raise ValueError(f"{purpose} seed index {name}={index!r} must be an integer in [0, {SEED_LIMIT})")
    sequence = np.random.SeedSequence(check_run_seed(run_seed), spawn_key=(code, *(int(i) for i in indices)))
    return int(sequence.generate_state(1, np.uint32)[0])


__all__ = ["SEED_LIMIT", "PURPOSES", "check_run_seed", "derive_seed"]
