import math

import gymnasium as gym
import numpy as np
import pytest

from m3.envs.cartpole import CARTPOLE_SPEC
from m3.envs.registry import EnvConfig, env_spec, make_env

X_LIMIT = 2.4  # gymnasium CartPole-v1: track half-length
THETA_LIMIT = 12 * 2 * math.pi / 360  # and the pole angle limit (12 degrees)


def _fallen(vector: np.ndarray) -> bool:
    x, theta = float(vector[0]), float(vector[2]) / 10.0  # the wrapper scales the pole angle by 10
    return abs(x) > X_LIMIT or abs(theta) > THETA_LIMIT


def test_only_the_pole_angle_is_scaled_by_ten():
    raw = gym.make("CartPole-v1")
    wrapped = make_env("cartpole", EnvConfig(), "train", seed=3)
    expected, _ = raw.reset(seed=3)
    obs, _ = wrapped.reset(seed=3)
    np.testing.assert_allclose(obs["vector"], expected * np.array([1, 1, 10, 1], dtype=np.float32), rtol=1e-6)
    assert wrapped.render().shape == (400, 600, 3)


@pytest.mark.parametrize("mode", ["train", "test"])
def test_observation_is_a_float32_vector_dict_matching_the_spec(mode):
    env = make_env("cartpole", EnvConfig(), mode, seed=0)
    assert env_spec("cartpole", EnvConfig()) == CARTPOLE_SPEC
    assert CARTPOLE_SPEC.observations["vector"].shape == (4,)
    assert CARTPOLE_SPEC.action.kind == "discrete" and CARTPOLE_SPEC.action.n == env.action_space.n == 2
    obs, _ = env.reset()
    assert list(obs) == ["vector"]
    assert obs["vector"].dtype == np.float32 and obs["vector"].shape == (4,)
    assert env.observation_space.contains(obs)
    obs, reward, terminated, truncated, _ = env.step(1)
    assert obs["vector"].dtype == np.float32 and env.observation_space.contains(obs)
    assert reward == 1.0 and terminated is False and truncated is False


def test_same_seed_same_episode_other_seed_differs():
    def rollout(seed):
        env = make_env("cartpole", EnvConfig(), "train", seed=seed)
        obs = [env.reset()[0]["vector"]]
        for t in range(20):
            obs.append(env.step(t % 2)[0]["vector"])
        return np.stack(obs)

    np.testing.assert_array_equal(rollout(5), rollout(5))
    assert not np.array_equal(rollout(5), rollout(6))
    reseeded = [make_env("cartpole", EnvConfig(), "train", seed).reset(seed=9)[0]["vector"] for seed in (0, 1)]
    np.testing.assert_array_equal(*reseeded)


def test_episode_is_truncated_at_500_steps_when_the_pole_never_falls():
    """The pole is put back upright before every step, so only the time limit can end the episode."""
    env = make_env("cartpole", EnvConfig(), "train", seed=0)
    env.reset()
    for t in range(1, 501):
        env.unwrapped.state = np.zeros(4)
        _, reward, terminated, truncated, _ = env.step(t % 2)
        assert reward == 1.0 and not terminated
        assert truncated == (t == 500)


def test_terminated_flag_is_exactly_the_fall_condition_under_random_actions():
    env = make_env("cartpole", EnvConfig(), "train", seed=0)
    rng = np.random.default_rng(0)
    episodes = 0
    while episodes < 5:
        env.reset()
        for t in range(1, 501):
            obs, _, terminated, truncated, _ = env.step(int(rng.integers(2)))
            assert terminated == _fallen(obs["vector"])
            if terminated or truncated:
                break
        assert terminated and not truncated and t < 500  # random actions drop the pole long before 500 steps
        episodes += 1
