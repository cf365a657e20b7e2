"""The benchmark registry: one name per benchmark, its env factory, its `EnvSpec` and its games (design §1, §3.5).

Each wrapper module registers its benchmark with one `register` call at import time; `m3.envs` imports
the wrapper modules, so importing `m3.envs` (or anything in it) fills the registry. Names are checked
by `validate` before anything is built, so a typo fails at once with the allowed values listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import gymnasium as gym

from m3.envs.spec import EnvSpec

Mode = Literal["train", "test"]
MODES: tuple[str, ...] = ("train", "test")


@dataclass
class EnvConfig:
    """Which game/task/env id of the benchmark to play (e.g. `Breakout`, `walker-run`, `Craftax-Symbolic-v1`)."""

    game: str = "CartPole-v1"


MakeFn = Callable[[EnvConfig, Mode], gym.Env]
SpecFn = Callable[[EnvConfig], EnvSpec]


@dataclass(frozen=True)
class Benchmark:
    """A registered benchmark. `games` is None when any game name is accepted."""

    make: MakeFn
    spec: SpecFn
    games: tuple[str, ...] | None


_BENCHMARKS: dict[str, Benchmark] = {}


def register(name: str, make_fn: MakeFn, spec_fn: SpecFn, games: Sequence[str] | None) -> None:
    """Add a benchmark. `make_fn(cfg, mode)` builds an unseeded env; `spec_fn(cfg)` describes it."""
    if name in _BENCHMARKS:
        raise ValueError(f"benchmark {name!r} is already registered")
    _BENCHMARKS[name] = Benchmark(make_fn, spec_fn, None if games is None else tuple(games))


def benchmarks() -> list[str]:
    """Registered benchmark names, sorted."""
    return sorted(_BENCHMARKS)


def games(benchmark: str) -> tuple[str, ...] | None:
    """The games of `benchmark` in its own order (None: any name is accepted); the one list config and workflow use."""
    if benchmark not in _BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; allowed: {benchmarks()}")
    return _BENCHMARKS[benchmark].games


def validate(benchmark: str, cfg: EnvConfig) -> None:
    """Raise one `ValueError` naming the bad benchmark or game and listing the allowed ones (sorted)."""
    if benchmark not in _BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; allowed: {benchmarks()}")
    games = _BENCHMARKS[benchmark].games
    if games is not None and cfg.game not in games:
        raise ValueError(f"unknown game {cfg.game!r} for benchmark {benchmark!r}; allowed: {sorted(games)}")


def env_spec(benchmark: str, cfg: EnvConfig) -> EnvSpec:
    """The observation modalities and action space of `cfg.game` in `benchmark`, without building the env."""
    validate(benchmark, cfg)
    return _BENCHMARKS[benchmark].spec(cfg)


def make_env(benchmark: str, cfg: EnvConfig, mode: Mode, seed: int) -> gym.Env:
    """Build the train or test env of `cfg.game` and seed it.

    Seeding resets once with `reset(seed=seed)` and seeds the action space, so the caller's next plain
    `reset()` starts an episode that depends only on `seed`.
    """
    validate(benchmark, cfg)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; allowed: {sorted(MODES)}")
    env = _BENCHMARKS[benchmark].make(cfg, mode)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    return env
