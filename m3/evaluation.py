"""Playing test episodes with the agent (spec §7.1 step 5, §8.4).

N envs run side by side; every env's episode is cut at its first end; all envs are reset together
once all are done, so requested episode counts round up to a multiple of N (the official protocol).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import gymnasium as gym
import numpy as np
import torch
from tqdm import tqdm

from m3.agent import Agent


@dataclass
class EpisodeResult:
    ret: float
    length: int


def stack_obs(obs: Sequence[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.stack([o[k] for o in obs]) for k in obs[0]}


@torch.no_grad()
def play_episodes(agent: Agent, envs: Sequence[gym.Env], num_episodes: int, temperature: float, seed: int,
                  generator: torch.Generator | None = None, progress: bool = False) -> list[EpisodeResult]:
    """Play ⌈num_episodes / N⌉ rounds on the N envs; returns every finished episode (N per round)."""
    n = len(envs)
    rounds = math.ceil(num_episodes / n)
    results: list[EpisodeResult] = []
    was_training = agent.training
    agent.eval()
    bar = tqdm(total=rounds * n, desc="eval episodes", disable=not progress, leave=False)
    for r in range(rounds):
        obs = [env.reset(seed=seed + r * n + i)[0] for i, env in enumerate(envs)]
        alive = np.ones(n, dtype=bool)
        returns, lengths = np.zeros(n), np.zeros(n, dtype=int)
        state = agent.actor_critic.initial_state(n, agent.device)
        while alive.any():
            actions, state = agent.act(stack_obs(obs), state, temperature=temperature, generator=generator)
            for i in np.flatnonzero(alive):
                obs[i], reward, terminated, truncated, _ = envs[i].step(actions[i])
                returns[i] += reward
                lengths[i] += 1
                if terminated or truncated:
                    alive[i] = False
                    bar.update(1)
        results += [EpisodeResult(float(returns[i]), int(lengths[i])) for i in range(n)]
    bar.close()
    agent.train(was_training)
    return results
