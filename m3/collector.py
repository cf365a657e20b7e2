"""Collecting train episodes with one env (design §7.1 step 1, §7.2).

The env, the current observation and the unfinished episode persist across epochs; an unfinished
episode is stored after every collection and extended in the next. At the start of a collection the
actor-critic's LSTM is burned in on the last `burn_in` stored steps of the unfinished episode, with the
same obs/action interleaving as acting (§11 D3) and symlog inside the tokenizer (D5), so its state
depends only on stored data and the current weights.
"""

from __future__ import annotations

import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from m3.agent import Agent
from m3.data import Episode, EpisodeBuilder, ReplayStore
from m3.envs.seeding import derive_seed


class Collector:
    def __init__(self, env: gym.Env, store: ReplayStore, agent: Agent, burn_in: int, seed: int) -> None:
        self.env, self.store, self.agent, self.burn_in, self.seed = env, store, agent, burn_in, seed
        self.builder: EpisodeBuilder | None = None
        self.obs: dict[str, np.ndarray] | None = None
        self.last_finished: Episode | None = None  # the last episode that ended during the latest collect()
        self.next_episode_id = 0
        self.num_env_steps = 0
        self.num_episodes = 0
        self.env_seeded = False  # whether this env's RNG already holds the run's stream of train episodes

    def _start_episode(self) -> None:
        # One seed, then the env's own RNG continues; a fresh env after a resume is seeded for its episode.
        seed = None if self.env_seeded else derive_seed(self.seed, "train", self.next_episode_id)
        self.env_seeded = True
        self.obs, _ = self.env.reset(seed=seed)
        self.builder = EpisodeBuilder(self.next_episode_id, self.agent.spec.action)
        self.builder.start(self.obs)
        self.next_episode_id += 1

    @torch.no_grad()
    def _burn_in_state(self) -> Any:
        """LSTM state after the last `burn_in` stored transitions before the current observation."""
        actor_critic = self.agent.actor_critic
        end = len(self.builder) - 1  # the current observation's row; it is fed by the next act()
        start = max(0, end - self.burn_in)
        if end == start:
            return actor_critic.initial_state(1, self.agent.device)
        episode = self.store[self.builder.episode_id]  # stored at the end of the last collection
        obs = {k: v[None, start:end].to(self.agent.device) for k, v in episode.observations.items()}
        inputs = self.agent.tokenizer.codes(self.agent.tokenizer.tokenize(obs))
        actions = episode.actions[None, start:end].to(self.agent.device)
        mask = torch.ones(1, end - start, dtype=torch.bool, device=self.agent.device)
        return actor_critic.burn_in(inputs, actions, mask)

    @torch.no_grad()
    def collect(self, num_steps: int, temperature: float, epsilon: float, generator: torch.Generator,
                progress: Any = None) -> dict[str, float]:
        """`num_steps` env steps into the replay; returns train_dataset/* metrics of finished episodes."""
        self.agent.eval()
        if self.builder is None:
            self._start_episode()
        state = self._burn_in_state()
        returns, lengths, step_rewards, actions = [], [], [], []
        self.last_finished = None
        for _ in range(num_steps):
            batch_obs = {k: v[None] for k, v in self.obs.items()}
            action, state = self.agent.act(batch_obs, state, temperature=temperature, epsilon=epsilon,
                                           generator=generator)
            self.obs, reward, terminated, truncated, _ = self.env.step(action[0])
            self.builder.step(action[0], float(reward), bool(terminated), self.obs)
            step_rewards.append(float(reward))
            actions.append(action[0])
            self.num_env_steps += 1
            if progress is not None:
                progress.update(1)
            if terminated or truncated:
                episode = self.last_finished = self.builder.episode()
                self.store.add(episode)
                returns.append(float(episode.rewards.sum()))
                lengths.append(len(episode) - 1)
                self.num_episodes += 1
                self._start_episode()
                state = self.agent.actor_critic.initial_state(1, self.agent.device)
        self.store.add(self.builder.episode())  # the unfinished episode, extended next epoch
        metrics = {"train_dataset/#episodes": self.num_episodes, "train_dataset/#steps": self.num_env_steps}
        if num_steps > 0:
            metrics["train_dataset/rewards_per_step"] = float(np.mean(step_rewards))
        if num_steps > 0 and self.agent.spec.action.kind == "discrete":  # each action's share of the steps (§7.4)
            counts = np.bincount(np.asarray(actions, dtype=np.int64), minlength=self.agent.spec.action.n)
            metrics |= {f"train_dataset/action_dist/{a}": float(c) / num_steps for a, c in enumerate(counts)}
        if returns:
            metrics |= {"train_dataset/return": float(np.mean(returns)),
                        "train_dataset/episode_length": float(np.mean(lengths))}
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """Counters, the current observation and the env itself (pickled when it can be), for an exact resume."""
        try:
            env_bytes = pickle.dumps(self.env)
        except Exception:  # an env holding native handles: resume starts a fresh episode instead
            env_bytes = None
        episode_id = None if self.builder is None else self.builder.episode_id
        return {"env": env_bytes, "obs": self.obs, "episode_id": episode_id,
                "next_episode_id": self.next_episode_id, "num_env_steps": self.num_env_steps,
                "num_episodes": self.num_episodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.next_episode_id = state["next_episode_id"]
        self.num_env_steps, self.num_episodes = state["num_env_steps"], state["num_episodes"]
        if state["env"] is not None and state["episode_id"] is not None and state["episode_id"] in self.store:
            self.env.close()
            self.env = pickle.loads(state["env"])
            self.env_seeded = True
            self.obs = state["obs"]
            self.builder = EpisodeBuilder.from_episode(self.store[state["episode_id"]], self.agent.spec.action)
        else:
            self.builder, self.obs = None, None
