"""CartPole-v1 as an m3 env: a small vector-observation, discrete-action task for learning checks.

Not one of the paper's benchmarks (§1); it exercises the `vector` modality path (§4.0, §4.2) end to end
in minutes on a CPU. gymnasium's own 500-step TimeLimit cuts episodes (truncated=True); falling over
or leaving the track ends them (terminated=True). Train and test envs are the same.

The pole angle is multiplied by `ANGLE_SCALE` before it reaches the agent. The fixed symlog grid of
§4.2 has 0.046-wide levels near zero, which would leave about 9 levels between CartPole's ±0.21 rad
failure thresholds; scaled, the angle spans the grid's fine inner part and termination becomes
predictable from the tokens.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from m3.envs.registry import EnvConfig, Mode, register
from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec

GAME = "CartPole-v1"
ANGLE_SCALE = 10.0
OBS_SCALE = np.array([1.0, 1.0, ANGLE_SCALE, 1.0], dtype=np.float32)  # cart x, cart velocity, pole angle, pole velocity
CARTPOLE_SPEC = EnvSpec({"vector": ModalitySpec((4,))}, ActionSpec("discrete", 2))


class VectorObservation(gym.ObservationWrapper):
    """Wrap a Box observation as `{"vector": float32 (n,)}`, multiplied elementwise by `scale`."""

    def __init__(self, env: gym.Env, scale: np.ndarray) -> None:
        super().__init__(env)
        box = env.observation_space
        self.scale = scale
        self.observation_space = gym.spaces.Dict(
            {"vector": gym.spaces.Box(box.low * scale, box.high * scale, dtype=np.float32)}
        )

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {"vector": np.asarray(observation, dtype=np.float32) * self.scale}


def make_cartpole(cfg: EnvConfig, mode: Mode) -> gym.Env:
    return VectorObservation(gym.make(cfg.game, render_mode="rgb_array"), OBS_SCALE)


def cartpole_spec(cfg: EnvConfig) -> EnvSpec:
    return CARTPOLE_SPEC


register("cartpole", make_cartpole, cartpole_spec, games=[GAME])
