"""Playing test episodes with the agent on parallel envs (design §7.1 steps 5 and 7, §8.4).

N envs run side by side in worker processes (`m3.envs.parallel`); every env's episode is cut at its
first end (the env is left out of later steps); all envs are reset together, with fresh seeds, once all
are done, so requested episode counts round up to a multiple of N (the official protocol). Episode j
(round r, env i, j = r * N + i) starts from `reset(seed=episode_seed(j))` (`m3.envs.seeding` gives the
callers' seeds), and actions are sampled with the given generator, so the seeds and a generator state fix
every episode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from m3.agent import Agent
from m3.data import Episode, EpisodeBuilder
from m3.envs.parallel import ParallelEnvs
from m3.envs.spec import EPISODE_STATS, FINAL_OBS


@dataclass
class EpisodeResult:
    ret: float
    length: int
    stats: dict[str, float] = field(default_factory=dict)  # the env's `episode_stats` (e.g. Craftax achievements)
    episode: Episode | None = None  # the whole episode, for the one `play_episodes` was asked to record


def episodes_played(num_episodes: int, num_envs: int) -> int:
    """How many episodes `play_episodes` plays for `num_episodes` on `num_envs` envs: whole rounds of N."""
    if num_episodes <= 0:
        raise ValueError(f"num_episodes must be positive, got {num_episodes}")
    return math.ceil(num_episodes / num_envs) * num_envs


@torch.no_grad()
def play_episodes(agent: Agent, envs: ParallelEnvs, num_episodes: int, temperature: float,
                  episode_seed: Callable[[int], int], generator: torch.Generator | None = None, progress: bool = False,
                  record: int = 0) -> list[EpisodeResult]:
    """Play ⌈num_episodes / N⌉ rounds on the N envs at `temperature`, ε = 0; returns all episodes, N per round.
    The first `record` episodes are also kept whole, episode j as `Episode` j (the test dataset of §7.1 step 5)."""
    n = envs.num_envs
    rounds = episodes_played(num_episodes, n) // n
    results: list[EpisodeResult] = []
    was_training = agent.training
    agent.eval()
    with tqdm(total=rounds * n, desc="eval episodes", unit="ep", disable=not progress, leave=False) as bar:
        for r in range(rounds):
            obs, _ = envs.reset([episode_seed(r * n + i) for i in range(n)])
            alive = np.ones(n, dtype=bool)
            returns, lengths = np.zeros(n), np.zeros(n, dtype=np.int64)
            stats: list[dict[str, float]] = [{} for _ in range(n)]
            state = agent.actor_critic.initial_state(n, agent.device)
            builders = {i: EpisodeBuilder(r * n + i, agent.spec.action) for i in range(n) if r * n + i < record}
            for i, builder in builders.items():
                builder.start({k: v[i] for k, v in obs.items()})
            while alive.any():
                actions, state = agent.act(obs, state, temperature=temperature, generator=generator)
                recording = [i for i in builders if alive[i]]
                obs, rewards, terminated, truncated, infos = envs.step(actions, active=alive)
                for i in recording:
                    last = infos[i].get(FINAL_OBS, {k: v[i] for k, v in obs.items()})
                    builders[i].step(actions[i], float(rewards[i]), bool(terminated[i]), last)
                returns[alive] += rewards[alive]
                lengths[alive] += 1
                for i in np.flatnonzero(alive & (terminated | truncated)):
                    stats[i] = dict(infos[i].get(EPISODE_STATS, {}))
                    alive[i] = False
                    bar.update(1)
            results += [EpisodeResult(float(returns[i]), int(lengths[i]), stats[i],
                                      builders[i].episode() if i in builders else None) for i in range(n)]
    agent.train(was_training)
    return results


def episode_metrics(results: list[EpisodeResult], prefix: str) -> dict[str, float]:
    """`{prefix}/return`, `return_std`, `episode_length`, `#episodes`, and each episode stat averaged."""
    returns = np.array([r.ret for r in results])
    lengths = np.array([r.length for r in results])
    metrics = {f"{prefix}/return": float(returns.mean()), f"{prefix}/return_std": float(returns.std()),
               f"{prefix}/episode_length": float(lengths.mean()), f"{prefix}/#episodes": len(results)}
    for name in sorted({k for r in results for k in r.stats}):
        metrics[f"{prefix}/{name}"] = float(np.mean([r.stats.get(name, 0.0) for r in results]))
    return metrics
