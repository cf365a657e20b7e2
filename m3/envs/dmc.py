"""DeepMind Control proprio envs: `domain-task` with action repeat 2 and 500-step episodes (design §1, §8.2).

The observation is `{"vector": float32 (n,)}`: the dm_control observation-spec entries flattened and
concatenated in the spec's own (OrderedDict) order, e.g. walker: orientations (14) | height (1) |
velocity (9). Actions are float32 (A,) in [-1, 1], mapped linearly onto the task's action bounds; an
action outside [-1, 1] (or not finite, or of the wrong shape) is rejected with a ValueError, not clipped.
`terminated` is always False; `truncated` is True on the dm_env last step (1000 control steps = 500
agent steps in every task here). `reset(seed=k)` re-seeds the task's random state, so episodes repeat.
"""

from __future__ import annotations

import ctypes.util
import functools
import os

import gymnasium as gym
import numpy as np

from m3.envs.registry import EnvConfig, Mode, register
from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec

TASKS: tuple[str, ...] = (
    "acrobot-swingup", "ball_in_cup-catch", "cartpole-balance", "cartpole-balance_sparse", "cartpole-swingup",
    "cartpole-swingup_sparse", "cheetah-run", "finger-spin", "finger-turn_easy", "finger-turn_hard", "hopper-hop",
    "hopper-stand", "pendulum-swingup", "reacher-easy", "reacher-hard", "walker-run", "walker-stand", "walker-walk",
)
"""The 18 DMC proprio tasks (design §1)."""

ACTION_REPEAT = 2
RENDER_SIZE = (240, 320)  # (height, width) of `render()` frames
GL_OFF = ("off", "disable", "disabled", "false", "0")  # MUJOCO_GL values that turn rendering off


def headless_gl_backend() -> str:
    """The MuJoCo GL back-end to use without a display: `egl` if libEGL is installed, else `osmesa` if
    libOSMesa is, else `disable` (stepping works, `render()` raises)."""
    if ctypes.util.find_library("EGL"):
        return "egl"
    if ctypes.util.find_library("OSMesa"):
        return "osmesa"
    return "disable"


def load(task: str):
    """`suite.load(domain, task)` for a `domain-task` name.

    dm_control fixes its GL back-end from MUJOCO_GL once, when it is first imported (left unset it picks
    GLFW, which fails without a display), so the import happens here, after choosing a headless back-end
    unless the user set MUJOCO_GL. No GL context is created until `render()` is called.
    """
    os.environ.setdefault("MUJOCO_GL", headless_gl_backend())
    from dm_control import suite

    domain, name = task.split("-", 1)
    return suite.load(domain, name)


def scale_action(action: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map an action in [-1, 1] linearly onto [low, high] (elementwise)."""
    return low + (action + 1.0) * (high - low) / 2.0


class DMCEnv(gym.Env):
    """One dm_control task as a gymnasium env with `{"vector": (n,)}` observations (design §8.2)."""

    metadata = {"render_modes": ["rgb_array"]}
    render_mode = "rgb_array"

    def __init__(self, task: str, action_repeat: int = ACTION_REPEAT) -> None:
        self.task, self.action_repeat = task, action_repeat
        self._env = load(task)
        self.keys = tuple(self._env.observation_spec())  # flattening order: the spec's OrderedDict order
        n = sum(int(np.prod(spec.shape)) for spec in self._env.observation_spec().values())
        bounds = self._env.action_spec()
        self._low, self._high = bounds.minimum.astype(np.float64), bounds.maximum.astype(np.float64)
        self.observation_space = gym.spaces.Dict({"vector": gym.spaces.Box(-np.inf, np.inf, (n,), np.float32)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, bounds.shape, dtype=np.float32)
        self._ended = True

    def _vector(self, observation) -> dict[str, np.ndarray]:
        parts = [np.asarray(observation[key], dtype=np.float32).ravel() for key in self.keys]
        return {"vector": np.concatenate(parts)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed)
        self._ended = False
        return self._vector(self._env.reset().observation), {}

    def step(self, action: np.ndarray):
        if self._ended:
            raise RuntimeError(f"{self.task}: step() after the episode ended; call reset() first")
        action = np.asarray(action, dtype=np.float32)
        if action.shape != self.action_space.shape or not np.all(np.abs(action) <= 1.0):
            raise ValueError(f"{self.task}: action {action.tolist()} must be finite, in [-1, 1], shape "
                             f"{self.action_space.shape}")
        control = scale_action(action.astype(np.float64), self._low, self._high)
        reward = 0.0
        for _ in range(self.action_repeat):
            timestep = self._env.step(control)
            reward += float(timestep.reward)
            if timestep.last():
                break
        self._ended = timestep.last()
        return self._vector(timestep.observation), reward, False, self._ended, {}

    def render(self) -> np.ndarray:
        """The current scene from camera 0, uint8 (240, 320, 3)."""
        if os.environ["MUJOCO_GL"].lower() in GL_OFF:
            raise RuntimeError(f"MUJOCO_GL={os.environ['MUJOCO_GL']}: rendering is off; install libEGL (apt "
                               "libegl1) or OSMesa (apt libosmesa6), or set MUJOCO_GL=egl|osmesa")
        return self._env.physics.render(*RENDER_SIZE, camera_id=0)

    def close(self) -> None:
        self._env.close()


def make_dmc(cfg: EnvConfig, mode: Mode) -> gym.Env:
    return DMCEnv(cfg.game)


@functools.cache
def _sizes(task: str) -> tuple[int, int]:
    env = DMCEnv(task)
    env.close()
    return env.observation_space["vector"].shape[0], env.action_space.shape[0]


def dmc_spec(cfg: EnvConfig) -> EnvSpec:
    """`vector` obs_dim and `continuous` action_dim of the task, read from its dm_control specs."""
    obs_dim, action_dim = _sizes(cfg.game)
    return EnvSpec({"vector": ModalitySpec((obs_dim,))}, ActionSpec("continuous", action_dim))


register("dmc", make_dmc, dmc_spec, games=TASKS)
