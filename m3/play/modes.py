"""The four play modes (design §8.6): each yields one `Frame` per displayed step.

- `AgentInEnv` (default): the agent acts in the real environment (test env, `temperature`).
- `PlayInWorldModel` (`-w`): the keyboard acts in the world model's dream.
- `AgentInWorldModel` (`-a`): the agent acts in the dream, reading the imagined tokens as in training.
- `EpisodeReplay` (`-e`): the episodes stored in `media/episodes` step by step.

A dream is seeded from the real env: reset, then c − 1 steps with the mode's own policy (the agent; the
keyboard map's default action for `-w`), so the agent's LSTM has seen the same context the world model
reads (§6.2, §11 D2). Reset (Enter) starts a new episode, a new dream, or the next stored episode.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from m3.agent import Agent
from m3.media import load_episode
from m3.play.dream import Dream
from m3.play.keys import KeyMap

@dataclass
class Frame:
    """What one step shows: the observation (raw, or imagined tokens) and the header values."""

    step: int
    action: Any  # the action that led here; None after a reset
    reward: float
    ret: float
    done: bool
    obs: dict[str, np.ndarray] | None = None  # raw observation {name: (*shape)} (real env, replay)
    tokens: dict[str, Tensor] | None = None  # imagined observation tokens {name: (1, ...)} (dreams)
    picture: np.ndarray | None = None  # full-resolution RGB (H, W, 3) from env.render() (real env)
    note: str = ""


class Mode(Protocol):
    """A play mode: `reset()` starts an episode (or dream), `step(pressed keys)` advances it one step."""

    name: str

    def reset(self) -> Frame: ...

    def step(self, pressed: frozenset[int]) -> Frame: ...


def env_action(action: Any, continuous: bool) -> Any:
    """A policy or keyboard action → what `env.step` takes: int, or float32 (A,)."""
    return np.asarray(action, dtype=np.float32).reshape(-1) if continuous else int(np.asarray(action))


class AgentPolicy:
    """The agent's actor-critic acting on raw observations or imagined tokens (batch 1, §6.1)."""

    def __init__(self, agent: Agent, temperature: float, generator: torch.Generator) -> None:
        self.agent, self.temperature, self.generator = agent, temperature, generator
        self.continuous = agent.spec.action.kind == "continuous"
        self.reset()

    def reset(self) -> None:
        self.state = self.agent.actor_critic.initial_state(1, self.agent.device)

    def on_obs(self, obs: dict[str, np.ndarray]) -> Any:
        actions, self.state = self.agent.act({k: v[None] for k, v in obs.items()}, self.state, self.temperature,
                                             generator=self.generator)
        return env_action(actions[0], self.continuous)

    def on_tokens(self, tokens: dict[str, Tensor]) -> Any:
        actions, self.state = self.agent.act_tokens(tokens, self.state, self.temperature, generator=self.generator)
        return env_action(actions[0], self.continuous)


class AgentInEnv:
    name = "agent in env"

    def __init__(self, env: gym.Env, policy: AgentPolicy) -> None:
        self.env, self.policy = env, policy

    def reset(self) -> Frame:
        self.obs, _ = self.env.reset()
        self.policy.reset()
        self.t, self.ret = 0, 0.0
        return Frame(0, None, 0.0, 0.0, False, obs=self.obs, picture=self.env.render())

    def step(self, pressed: frozenset[int]) -> Frame:
        action = self.policy.on_obs(self.obs)
        self.obs, reward, terminated, truncated, _ = self.env.step(action)
        self.t, self.ret = self.t + 1, self.ret + float(reward)
        return Frame(self.t, action, float(reward), self.ret, terminated or truncated, obs=self.obs,
                     picture=self.env.render())


class _DreamMode(ABC):
    """Shared by the two world-model modes: seeding from the real env, then stepping the dream."""

    name = ""

    def __init__(self, env: gym.Env, dream: Dream) -> None:
        self.env, self.dream = env, dream

    @abstractmethod
    def seed_action(self, obs: dict[str, np.ndarray]) -> Any:
        """The action taken in the real env while collecting the c seed observations."""

    @abstractmethod
    def action(self, tokens: dict[str, Tensor], pressed: frozenset[int]) -> Any:
        """The action applied to the dream's newest observation."""

    def reset(self) -> Frame:
        observations, actions = [self.env.reset()[0]], []
        while len(observations) < self.dream.context:
            actions.append(self.seed_action(observations[-1]))
            obs, _, terminated, truncated, _ = self.env.step(actions[-1])
            observations.append(obs)
            if terminated or truncated:
                return self.reset()
        self.tokens = self.dream.reset(observations, actions)
        self.t, self.ret = 0, 0.0
        return Frame(0, None, 0.0, 0.0, False, tokens=self.tokens, note=f"seeded from {len(observations)} real obs")

    def step(self, pressed: frozenset[int]) -> Frame:
        action = self.action(self.tokens, pressed)
        out = self.dream.step(action)
        self.tokens, self.t, self.ret = out.tokens, self.t + 1, self.ret + out.reward
        return Frame(self.t, action, out.reward, self.ret, out.done, tokens=out.tokens,
                     note="memory flushed" if out.flushed else "")


class PlayInWorldModel(_DreamMode):
    name = "keyboard in world model"

    def __init__(self, env: gym.Env, dream: Dream, keys: KeyMap) -> None:
        super().__init__(env, dream)
        self.keys = keys

    def seed_action(self, obs: dict[str, np.ndarray]) -> Any:
        return self.keys.action(frozenset())  # already what env.step takes: an int or float32 (A,)

    def action(self, tokens: dict[str, Tensor], pressed: frozenset[int]) -> Any:
        return self.keys.action(pressed)


class AgentInWorldModel(_DreamMode):
    name = "agent in world model"

    def __init__(self, env: gym.Env, dream: Dream, policy: AgentPolicy) -> None:
        super().__init__(env, dream)
        self.policy = policy

    def reset(self) -> Frame:
        self.policy.reset()
        return super().reset()

    def seed_action(self, obs: dict[str, np.ndarray]) -> Any:
        return self.policy.on_obs(obs)

    def action(self, tokens: dict[str, Tensor], pressed: frozenset[int]) -> Any:
        return self.policy.on_tokens(tokens)


class EpisodeReplay:
    """Stored episodes one after the other; reset moves to the next file."""

    name = "episode replay"

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths, self.index = list(paths), -1

    def _frame(self, note: str = "") -> Frame:
        ep, t = self.stored.episode, self.t
        obs = {name: x[t].numpy() for name, x in ep.observations.items()}
        action = None if t == 0 else ep.actions[t - 1].numpy()
        reward = 0.0 if t == 0 else float(ep.rewards[t - 1])
        return Frame(t, action, reward, float(ep.rewards[:t].sum()), t == len(ep) - 1, obs=obs, note=note)

    def reset(self) -> Frame:
        self.index = (self.index + 1) % len(self.paths)
        self.stored, self.t = load_episode(self.paths[self.index]), 0
        return self._frame(f"{self.stored.path.name} (return {self.stored.ret:.1f})")

    def step(self, pressed: frozenset[int]) -> Frame:
        self.t = min(self.t + 1, len(self.stored.episode) - 1)
        return self._frame(self.stored.path.name)
