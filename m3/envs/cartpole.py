"""CartPole-v1 as an m3 env: a small vector-observation, discrete-action task for learning checks.

Not one of the paper's benchmarks (§1); it exercises the `vector` modality path (§4.0, §4.2) end to end
in minutes on a CPU. gymnasium's own 500-step TimeLimit cuts episodes (truncated=True); falling over
or leaving the track ends them (terminated=True). Train and test envs are the same.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from m3.envs.registry import EnvConfig, Mode, register
from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec

GAME = "CartPole-v1"
CARTPOLE_SPEC = EnvSpec({"vector": ModalitySpec((4,))}, ActionSpec("discrete", 2))


class VectorObservation(gym.ObservationWrapper):
    """Wrap a Box observation as `{"vector": float32 (n,)}`."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        box = env.observation_space
        self.observation_space = gym.spaces.Dict(
            {"vector": gym.spaces.Box(box.low.astype(np.float32), box.high.astype(np.float32), dtype=np.float32)}
        )

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {"vector": np.asarray(observation, dtype=np.float32)}


def make_cartpole(cfg: EnvConfig, mode: Mode) -> gym.Env:
    return VectorObservation(gym.make(cfg.game))


def cartpole_spec(cfg: EnvConfig) -> EnvSpec:
    return CARTPOLE_SPEC


register("cartpole", make_cartpole, cartpole_spec, games=[GAME])
