"""Episodes as the replay stores them (design §7.2).

An episode with N actions has N + 1 rows. Row t holds:

    observations[name][t]  o_t: the observation the agent saw at step t (raw: image uint8 (3, 64, 64),
                           vector float32, token / token_2d int64)
    actions[t]             a_t: the action taken from o_t; () int64 (discrete) or (A,) float32 (continuous)
    rewards[t]             r_t: the reward received after a_t
    ends[t]                1 if a_t ended the episode by the env's `terminated` (truncation is not an end)
    mask_padding[t]        True: every stored row is a real step (padding only appears in segments)

The last row holds the newest observation with a zero action, zero reward and end 0. Its action has not been
taken yet (an unfinished episode, extended when collection continues) or never will be (a finished episode:
"the final observation is appended with zero action, zero reward and end 0"). So an episode that terminated
after a_{N-1} has ends[N-1] = 1 and its terminal observation in row N.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np
import torch
from torch import Tensor

from m3.envs.spec import ActionSpec

OBS_DTYPES: dict[str, torch.dtype] = {
    "image": torch.uint8,
    "vector": torch.float32,
    "token": torch.int64,
    "token_2d": torch.int64,
}
"""Storage dtype of each observation modality (raw values, design §4.0)."""


@dataclass(eq=False)
class Episode:
    """One stored episode; see the module docstring for what row t holds (compared by identity)."""

    id: int
    observations: dict[str, Tensor]  # {name: (N+1, *shape)}
    actions: Tensor  # (N+1,) int64 or (N+1, A) float32
    rewards: Tensor  # (N+1,) float32
    ends: Tensor  # (N+1,) int64
    mask_padding: Tensor  # (N+1,) bool

    def __post_init__(self) -> None:
        self.rewards = self.rewards.to(torch.float32)
        self.ends = self.ends.to(torch.int64)
        self.mask_padding = self.mask_padding.to(torch.bool)
        rows = len(self.actions)
        lengths = {name: len(t) for name, t in self.observations.items()}
        lengths.update(rewards=len(self.rewards), ends=len(self.ends), mask_padding=len(self.mask_padding))
        if rows == 0 or any(n != rows for n in lengths.values()):
            raise ValueError(f"episode {self.id}: row counts differ or are zero: actions {rows}, {lengths}")
        ended = self.ends.nonzero()
        if len(ended) > 0:  # §7.2: cut two rows after the first end flag, keeping the terminal observation
            self._truncate(int(ended[0, 0]) + 2)

    def _truncate(self, rows: int) -> None:
        self.observations = {name: t[:rows] for name, t in self.observations.items()}
        self.actions, self.rewards = self.actions[:rows], self.rewards[:rows]
        self.ends, self.mask_padding = self.ends[:rows], self.mask_padding[:rows]

    def __len__(self) -> int:
        """Stored rows: N + 1 for N actions taken."""
        return len(self.actions)

    @property
    def tensors(self) -> list[Tensor]:
        return [*self.observations.values(), self.actions, self.rewards, self.ends, self.mask_padding]

    @property
    def num_bytes(self) -> int:
        """Bytes held by the episode's tensors (the replay's RAM measure)."""
        return sum(t.numel() * t.element_size() for t in self.tensors)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of tensors for `torch.save` (one `<id>.pt` per episode, §7.2)."""
        return {
            "id": self.id,
            "observations": dict(self.observations),
            "actions": self.actions,
            "rewards": self.rewards,
            "ends": self.ends,
            "mask_padding": self.mask_padding,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Episode:
        return cls(
            id=int(d["id"]),
            observations=dict(d["observations"]),
            actions=d["actions"],
            rewards=d["rewards"],
            ends=d["ends"],
            mask_padding=d["mask_padding"],
        )


class EpisodeBuilder:
    """Grows one episode step by step for the collector (design §7.1–§7.2).

    `start(obs)` stores o_0; `step(a_t, r_t, terminated, o_{t+1})` fills row t's action, reward and end and
    appends o_{t+1} as the new last row (zero action, reward and end). Rows live in buffers whose capacity
    doubles, so a step costs amortised O(1); `episode()` returns a compact copy of the rows so far, which the
    collector hands to the replay after every collection (unfinished episodes are stored, then extended).
    """

    def __init__(self, episode_id: int, action: ActionSpec) -> None:
        self.episode_id = episode_id
        self.action_spec = action
        self._rows = 0
        self._obs: dict[str, Tensor] = {}  # {name: (capacity, *shape)}
        self._actions = self._rewards = self._ends = torch.empty(0)

    @classmethod
    def from_episode(cls, episode: Episode, action: ActionSpec) -> EpisodeBuilder:
        """Continue a stored (unfinished) episode."""
        builder = cls(episode.id, action)
        builder._allocate({name: t[0] for name, t in episode.observations.items()}, capacity=2 * len(episode))
        rows = len(episode)
        for name, t in episode.observations.items():
            builder._obs[name][:rows] = t
        builder._actions[:rows] = episode.actions
        builder._rewards[:rows] = episode.rewards
        builder._ends[:rows] = episode.ends
        builder._rows = rows
        return builder

    def __len__(self) -> int:
        return self._rows

    @property
    def terminated(self) -> bool:
        """True once an action ended the episode (env `terminated`); no further steps are allowed."""
        return self._rows >= 2 and bool(self._ends[self._rows - 2])

    def start(self, obs: Mapping[str, Any]) -> None:
        """Store the first observation o_0."""
        if self._rows:
            raise RuntimeError(f"episode {self.episode_id} already started")
        first = {name: _as_obs(name, value) for name, value in obs.items()}
        self._allocate(first, capacity=64)
        for name, value in first.items():
            self._obs[name][0] = value
        self._rows = 1

    def step(self, action: Any, reward: float, terminated: bool, next_obs: Mapping[str, Any]) -> None:
        """Record a_t taken from the last stored observation, r_t, end_t = terminated, and append o_{t+1}."""
        if self._rows == 0:
            raise RuntimeError("call start(obs) first")
        if self.terminated:
            raise RuntimeError(f"episode {self.episode_id} has terminated")
        t = self._rows - 1
        self._actions[t] = self._as_action(action)
        self._rewards[t] = float(reward)
        self._ends[t] = int(bool(terminated))
        if self._rows == len(self._actions):
            self._grow()
        for name, value in next_obs.items():
            self._obs[name][t + 1] = _as_obs(name, value)
        self._rows += 1

    def episode(self) -> Episode:
        """A compact copy of the rows so far (the last row: newest observation, zero action/reward/end)."""
        n = self._rows
        return Episode(
            id=self.episode_id,
            observations={name: buf[:n].clone() for name, buf in self._obs.items()},
            actions=self._actions[:n].clone(),
            rewards=self._rewards[:n].clone(),
            ends=self._ends[:n].clone(),
            mask_padding=torch.ones(n, dtype=torch.bool),
        )

    def _as_action(self, action: Any) -> Tensor:
        if self.action_spec.kind == "discrete":
            return torch.as_tensor(int(action), dtype=torch.int64)
        return torch.as_tensor(np.asarray(action, dtype=np.float32)).reshape(self.action_spec.n)

    def _allocate(self, obs: Mapping[str, Tensor], capacity: int) -> None:
        self._obs = {name: torch.zeros(capacity, *v.shape, dtype=v.dtype) for name, v in obs.items()}
        if self.action_spec.kind == "discrete":
            self._actions = torch.zeros(capacity, dtype=torch.int64)
        else:
            self._actions = torch.zeros(capacity, self.action_spec.n, dtype=torch.float32)
        self._rewards = torch.zeros(capacity, dtype=torch.float32)
        self._ends = torch.zeros(capacity, dtype=torch.int64)

    def _grow(self) -> None:
        def doubled(buf: Tensor) -> Tensor:
            return torch.cat([buf, torch.zeros_like(buf)])

        self._obs = {name: doubled(buf) for name, buf in self._obs.items()}
        self._actions, self._rewards, self._ends = doubled(self._actions), doubled(self._rewards), doubled(self._ends)


def _as_obs(name: str, value: Any) -> Tensor:
    """One raw observation of modality `name` as a tensor of its storage dtype."""
    return torch.as_tensor(np.asarray(value)).to(OBS_DTYPES[name])
