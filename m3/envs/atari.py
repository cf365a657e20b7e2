"""Atari 100K envs: `<Game>NoFrameskip-v4` with the preprocessing of design §8.1 (§1, §3.5).

The ALE env (ale-py, ROMs bundled) runs one raw frame per step, with no sticky actions
(repeat_action_probability 0) and the game's minimal action set. Wrappers, innermost first:
1. `ResizeFrame`: every raw frame → `{"image": uint8 (3, 64, 64)}` (PIL bilinear); `render()` gives the raw frame;
2. reward sign-clipping (train only), applied to each raw frame's reward;
3. time limit in raw frames (gymnasium's `TimeLimit` around the one-frame env: train 20,000, test 108,000);
4. `NoopReset`: uniform 1..noop_max raw no-op frames after each reset (train 30, test 1: exactly one);
5. `MaxAndSkip`: repeat the action for 4 frames, observe the max over the last 2;
6. `EpisodicLife` (train only): a lost life ends the stored episode; the next reset continues the game.
See docs/envs.md for the details (no-op counting, life-loss resets, seeding).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import ale_py
import gymnasium as gym
import numpy as np
from PIL import Image

from m3.envs.registry import EnvConfig, Mode, register
from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec

gym.register_envs(ale_py)

GAMES: tuple[str, ...] = (
    "Alien", "Amidar", "Assault", "Asterix", "BankHeist", "BattleZone", "Boxing", "Breakout", "ChopperCommand",
    "CrazyClimber", "DemonAttack", "Freeway", "Frostbite", "Gopher", "Hero", "Jamesbond", "Kangaroo", "Krull",
    "KungFuMaster", "MsPacman", "Pong", "PrivateEye", "Qbert", "RoadRunner", "Seaquest", "UpNDown",
)
"""The 26 Atari 100K games (design §1), named as in the results files."""

NOOP = 0  # index of NOOP in every minimal action set


@dataclass(frozen=True)
class AtariSettings:
    """One mode's preprocessing (design §3.5): time limit in raw frames, no-op range, life loss, reward clipping."""

    max_frames: int
    noop_max: int
    episodic_life: bool
    clip_reward: bool
    frame_skip: int = 4
    size: int = 64


SETTINGS: dict[str, AtariSettings] = {
    "train": AtariSettings(max_frames=20_000, noop_max=30, episodic_life=True, clip_reward=True),
    "test": AtariSettings(max_frames=108_000, noop_max=1, episodic_life=False, clip_reward=False),
}


def ale_id(game: str) -> str:
    """Results-file name → gymnasium id, e.g. `Breakout` → `BreakoutNoFrameskip-v4`."""
    return f"{game}NoFrameskip-v4"


def sign(reward: float) -> float:
    """Reward sign-clipping: -1, 0 or 1."""
    return float(np.sign(reward))


def resize(frame: np.ndarray, size: int) -> np.ndarray:
    """Raw RGB frame (H, W, 3) uint8 → (3, size, size) uint8, PIL bilinear."""
    small = Image.fromarray(frame).resize((size, size), Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(small).transpose(2, 0, 1))


class ResizeFrame(gym.ObservationWrapper):
    """Raw frame (210, 160, 3) → `{"image": (3, size, size)}`; `render()` returns the last raw frame."""

    def __init__(self, env: gym.Env, size: int) -> None:
        super().__init__(env)
        self.size = size
        self.frame = np.zeros(env.observation_space.shape, dtype=np.uint8)  # (210, 160, 3)
        image = gym.spaces.Box(0, 255, (3, size, size), dtype=np.uint8)
        self.observation_space = gym.spaces.Dict({"image": image})

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        self.frame = observation
        return {"image": resize(observation, self.size)}

    def render(self) -> np.ndarray:
        return self.frame.copy()


class NoopReset(gym.Wrapper):
    """After each reset, play a uniform 1..noop_max raw NOOP frames (drawn from the env's seeded RNG)."""

    def __init__(self, env: gym.Env, noop_max: int) -> None:
        super().__init__(env)
        if noop_max < 1:
            raise ValueError(f"noop_max must be >= 1, got {noop_max}")
        self.noop_max = noop_max

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        for _ in range(int(self.np_random.integers(1, self.noop_max + 1))):
            obs, _, terminated, truncated, info = self.env.step(NOOP)
            if terminated or truncated:
                obs, info = self.env.reset()
        return obs, info


class MaxAndSkip(gym.Wrapper):
    """Repeat an action for `skip` raw frames, sum the rewards and observe the pixel-wise max of the last two
    frames (only the last one when the episode ends on the step's first frame)."""

    def __init__(self, env: gym.Env, skip: int) -> None:
        super().__init__(env)
        self.skip = skip

    def step(self, action: int):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is outside {self.action_space}")
        total, images = 0.0, []
        for _ in range(self.skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            images = [*images[-1:], obs["image"]]
            if terminated or truncated:
                break
        return {"image": np.maximum.reduce(images)}, total, terminated, truncated, info


class EpisodicLife(gym.Wrapper):
    """A lost life returns terminated=True; the next `reset()` then continues the same game with one NOOP
    agent step instead of resetting it. A real reset happens after game over, after a time-limit
    truncation, and whenever `reset` gets a seed."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.lives = 0
        self.game_over = True

    def step(self, action: int):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if self.game_over or seed is not None:
            obs, info = self.env.reset(seed=seed, options=options)
        else:
            obs, _, terminated, truncated, info = self.env.step(NOOP)
            if terminated or truncated:
                obs, info = self.env.reset()
        self.game_over = False
        self.lives = self.unwrapped.ale.lives()
        return obs, info


def build_atari(game: str, settings: AtariSettings) -> gym.Env:
    """The wrapped env of design §8.1 for `game` (a name from GAMES) under `settings`."""
    env = ResizeFrame(gym.make(ale_id(game)), settings.size)
    if settings.clip_reward:
        env = gym.wrappers.TransformReward(env, sign)
    env = gym.wrappers.TimeLimit(env, max_episode_steps=settings.max_frames)
    env = MaxAndSkip(NoopReset(env, settings.noop_max), settings.frame_skip)
    return EpisodicLife(env) if settings.episodic_life else env


def make_atari(cfg: EnvConfig, mode: Mode) -> gym.Env:
    return build_atari(cfg.game, SETTINGS[mode])


@functools.cache
def num_actions(game: str) -> int:
    """Size of the game's minimal action set, read from its ROM."""
    env = gym.make(ale_id(game))
    n = int(env.action_space.n)
    env.close()
    return n


def atari_spec(cfg: EnvConfig) -> EnvSpec:
    size = SETTINGS["train"].size
    return EnvSpec({"image": ModalitySpec((3, size, size))}, ActionSpec("discrete", num_actions(cfg.game)))


register("atari", make_atari, atari_spec, games=GAMES)
