"""Craftax-Symbolic-v1 (craftax 1.6.1, full Craftax) as an m3 env (design §1, §4.4, §8.3).

Observations are the symbolic vector decoded by `m3.envs.craftax_mapping`: vector 47 + token 1
(direction) + token_2d 99 cells x [block, item, mob, light]; 43 discrete actions. Train and test envs
are the same env (§8.3).

JAX runs on the CPU unless `JAX_PLATFORMS` says otherwise (read when this module first builds an env,
so the torch side keeps the GPU), and never preallocates accelerator memory. Compiled functions go to
JAX's persistent cache (`$M3_JAX_CACHE`, default `~/.cache/m3/jax`): a restart loads them in seconds
instead of compiling again (docs/performance.md). The env is the no-auto-reset variant: the auto-reset
one generates a new world on every step (§4.4, §10); gymnasium's caller resets instead.

An episode ends with `terminated` when the player dies or beats the final boss, and with `truncated` at
Craftax's 100,000-step limit: a time limit is not a terminal state, so the stored end flag stays 0 there
and the done head and the λ-returns never learn one (the official code stores end = 1 for both; design
D9). The last step's info carries `episode_stats`: 1.0 or 0.0 per achievement (`achievements/<name>`),
which evaluation averages over episodes (§7.4).

The 47-dim vector lies in [0, VECTOR_HIGH] = [0, 2.1] (§4.4): mana / 10 reaches 2.1 at intelligence 5
(maximum mana 6 + 3 · 5); enchantments reach 2; every other entry stays at or below 1.7.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from pathlib import Path
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from m3.envs.craftax_mapping import CRAFTAX_SPEC, CRAFTAX_VOCABS, NUM_ACTIONS, NUM_CELLS, VECTOR_DIMS, decode_symbolic
from m3.envs.registry import EnvConfig, Mode, register
from m3.envs.spec import EPISODE_STATS, EnvSpec

GAME = "Craftax-Symbolic-v1"
VECTOR_HIGH = 2.1  # the largest stats entry: mana / 10 at intelligence 5 (§4.4)
RENDER_BLOCK_PIXELS = 16  # craftax's BLOCK_PIXEL_SIZE_IMG: a 9 x 11 block view of 144 x 176 pixels plus the inventory


def jax_cache_dir() -> Path:
    return Path(os.environ.get("M3_JAX_CACHE") or Path.home() / ".cache" / "m3" / "jax")


@functools.cache
def configured_jax() -> Any:
    """Import jax on `JAX_PLATFORMS` (default cpu), without memory preallocation, with the persistent cache."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    jax.config.update("jax_platforms", os.environ.get("JAX_PLATFORMS") or "cpu")
    jax.config.update("jax_compilation_cache_dir", str(jax_cache_dir()))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return jax


class CraftaxFunctions(NamedTuple):
    """The jitted functions of one process, shared by its envs (compiled or loaded from the cache once)."""

    reset: Any  # key -> (key, obs (8268,), state)
    step: Any  # (key, state, action int32) -> (key, obs, state, reward, terminated, truncated, achievements)
    achievement_names: tuple[str, ...]


@functools.cache
def craftax_functions(game: str) -> CraftaxFunctions:
    jax = configured_jax()
    from craftax.craftax.constants import Achievement
    from craftax.craftax.util.game_logic_utils import has_beaten_boss
    from craftax.craftax_env import make_craftax_env_from_name

    env = make_craftax_env_from_name(game, auto_reset=False)
    params, static = env.default_params, env.static_env_params

    def reset(key):
        key, sub = jax.random.split(key)
        obs, state = env.reset_env(sub, params)
        return key, obs, state

    def step(key, state, action):
        key, sub = jax.random.split(key)
        obs, state, reward, _, _ = env.step_env(sub, state, action, params)
        terminated = (state.player_health <= 0) | has_beaten_boss(state, static)
        truncated = (state.timestep >= params.max_timesteps) & ~terminated
        return key, obs, state, reward, terminated, truncated, state.achievements

    names = tuple(f"achievements/{a.name.lower()}" for a in sorted(Achievement, key=lambda a: a.value))
    return CraftaxFunctions(jax.jit(reset), jax.jit(step), names)


@functools.cache
def craftax_renderer() -> Any:
    jax = configured_jax()
    from craftax.craftax.renderer import make_craftax_pixel_renderer

    with contextlib.redirect_stdout(io.StringIO()):  # craftax prints texture-cache messages to stdout
        return jax.jit(make_craftax_pixel_renderer(RENDER_BLOCK_PIXELS))


def seed_key(seed: int) -> Any:
    """A JAX PRNG key from any non-negative int (gymnasium seeds may exceed 32 bits)."""
    jax = configured_jax()
    return jax.random.PRNGKey(int(np.random.SeedSequence(seed).generate_state(1)[0]))


class CraftaxEnv(gym.Env):
    """One Craftax world on JAX, with m3's dict observations."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, game: str = GAME) -> None:
        self.game = game
        self.render_mode = "rgb_array"
        self.observation_space = gym.spaces.Dict({
            "vector": gym.spaces.Box(0.0, VECTOR_HIGH, (VECTOR_DIMS,), np.float32),
            "token": gym.spaces.MultiDiscrete([CRAFTAX_SPEC.observations["token"].vocab[0]]),
            "token_2d": gym.spaces.MultiDiscrete(np.tile(CRAFTAX_VOCABS, (NUM_CELLS, 1))),
        })
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self._key: Any = None
        self._state: Any = None

    @property
    def state(self) -> Any:
        """The current craftax `EnvState` (for tests and the play tool)."""
        return self._state

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
        super().reset(seed=seed)
        if seed is not None or self._key is None:
            self._key = seed_key(int(self.np_random.integers(2**63)) if seed is None else seed)
        self._key, obs, self._state = craftax_functions(self.game).reset(self._key)
        return decode_symbolic(np.asarray(obs)), {}

    def step(self, action: int) -> tuple[dict[str, np.ndarray], float, bool, bool, dict]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        fns = craftax_functions(self.game)
        self._key, obs, self._state, reward, terminated, truncated, achieved = fns.step(
            self._key, self._state, np.int32(action))
        obs, reward, terminated, truncated = configured_jax().device_get((obs, reward, terminated, truncated))
        info: dict[str, Any] = {}
        if terminated or truncated:
            info[EPISODE_STATS] = dict(zip(fns.achievement_names, np.asarray(achieved, dtype=np.float64).tolist()))
        return decode_symbolic(obs), float(reward), bool(terminated), bool(truncated), info

    def render(self) -> np.ndarray:
        """Craftax's pixel rendering of the current state: uint8 (H, W, 3)."""
        if self._state is None:
            raise RuntimeError("call reset() before render()")
        return np.asarray(craftax_renderer()(self._state)).clip(0, 255).astype(np.uint8)


def make_craftax(cfg: EnvConfig, mode: Mode) -> gym.Env:
    return CraftaxEnv(cfg.game)


def craftax_spec(cfg: EnvConfig) -> EnvSpec:
    return CRAFTAX_SPEC


register("craftax", make_craftax, craftax_spec, games=[GAME])
