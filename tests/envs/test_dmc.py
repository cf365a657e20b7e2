"""DMC proprio envs on real MuJoCo: sizes, vector order, action repeat, episode length, actions, seeding (§8.2)."""

import numpy as np
import pytest
import torch

from m3.envs.dmc import TASKS, DMCEnv, load, scale_action
from m3.envs.registry import EnvConfig, env_spec, make_env
from m3.models.retnet import RetNetConfig
from m3.models.tokenizers.multimodal import MultiModalTokenizer
from m3.models.world_model import WorldModel, WorldModelConfig

# obs_dim + action_dim per domain (design §1), an independent reference for the specs read from dm_control.
SIZES = {
    "acrobot": (6, 1), "ball_in_cup": (8, 2), "cartpole": (5, 1), "cheetah": (17, 6), "finger-spin": (9, 2),
    "finger-turn": (12, 2), "hopper": (15, 4), "pendulum": (3, 1), "reacher": (6, 2), "walker": (24, 6),
}
# Flattening order of the proprio vector per domain (docs/envs.md): dm_control's observation-spec order.
KEYS = {
    "acrobot": ("orientations", "velocity"), "ball_in_cup": ("position", "velocity"),
    "cartpole": ("position", "velocity"), "cheetah": ("position", "velocity"),
    "finger-spin": ("position", "velocity", "touch"),
    "finger-turn": ("position", "velocity", "touch", "target_position", "dist_to_target"),
    "hopper": ("position", "velocity", "touch"), "pendulum": ("orientation", "velocity"),
    "reacher": ("position", "to_target", "velocity"), "walker": ("orientations", "height", "velocity"),
}


def domain(task: str) -> str:
    name = task.split("-")[0]
    return task.rsplit("_", 1)[0] if name == "finger" else name


def test_tasks_are_the_18_of_the_spec():
    assert len(TASKS) == len(set(TASKS)) == 18
    assert {domain(task) for task in TASKS} == set(SIZES)


@pytest.mark.parametrize("task", TASKS)
def test_spec_sizes_and_vector_order_per_task(task):
    obs_dim, action_dim = SIZES[domain(task)]
    spec = env_spec("dmc", EnvConfig(task))
    assert spec.observations["vector"].shape == (obs_dim,)
    assert spec.action.kind == "continuous" and spec.action.n == action_dim
    assert spec.tokens_per_block == obs_dim + action_dim
    env = DMCEnv(task)
    assert env.keys == KEYS[domain(task)]
    bounds = env._env.action_spec()
    assert np.all(bounds.minimum == -1) and np.all(bounds.maximum == 1)  # so the scaling is the identity here


def test_walker_tokens_per_block_is_30_as_the_world_model_streams_it():
    spec = env_spec("dmc", EnvConfig("walker-run"))
    env = make_env("dmc", EnvConfig("walker-run"), "train", seed=0)
    obs, _ = env.reset()
    tokens = MultiModalTokenizer(spec).tokenize({"vector": torch.from_numpy(obs["vector"])[None, None]})
    retnet = RetNetConfig(num_layers=1, num_heads=1, embed_dim=8, blocks_per_chunk=1, max_blocks=1)
    model = WorldModel(WorldModelConfig(retnet, shared_embeddings=False, enable_curiosity=False), spec)
    action = torch.from_numpy(env.action_space.sample())[None, None]  # (1, 1, 6)
    stream = model.embed_blocks(tokens, action, None)  # (1, T, 8)
    assert tokens["vector"].shape == (1, 1, 24)
    assert stream.shape[1] == model.T == spec.tokens_per_block == 30


def test_walker_vector_is_orientations_height_velocity_from_physics():
    env = make_env("dmc", EnvConfig("walker-walk"), "train", seed=0)
    vector = env.reset()[0]["vector"]
    physics = env._env.physics
    expected = np.concatenate([physics.orientations(), [physics.torso_height()], physics.velocity()])
    assert vector.dtype == np.float32 and vector.shape == (24,)
    np.testing.assert_array_equal(vector, expected.astype(np.float32))


def test_steps_match_raw_dm_control_with_action_repeat_2():
    """The wrapper against dm_control driven by hand from the same seed: each action twice, rewards summed."""
    env = make_env("dmc", EnvConfig("walker-walk"), "train", seed=0)
    raw = load("walker-walk")
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=11)
    raw.task.random.seed(11)
    timestep = raw.reset()
    distinct = 0
    for _ in range(30):
        flat = np.concatenate([np.ravel(timestep.observation[k]) for k in KEYS["walker"]])
        np.testing.assert_array_equal(obs["vector"], flat.astype(np.float32))
        action = rng.uniform(-1, 1, 6).astype(np.float32)
        obs, reward, *_ = env.step(action)
        rewards = [raw.step(action).reward, (timestep := raw.step(action)).reward]
        assert reward == pytest.approx(sum(rewards), abs=1e-12)
        distinct += rewards[0] != rewards[1]
    assert distinct > 0  # the two repeats are distinct physics steps


@pytest.mark.parametrize("task", ["walker-run", "cartpole-swingup_sparse"])
def test_episode_is_500_agent_steps_1000_control_steps_never_terminated(task):
    env = make_env("dmc", EnvConfig(task), "train", seed=0)
    env.reset()
    for t in range(1, 501):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert terminated is False and truncated == (t == 500)
    control_steps = env._env.physics.data.time / env._env.control_timestep()
    assert control_steps == pytest.approx(1000)
    with pytest.raises(RuntimeError, match="call reset"):
        env.step(env.action_space.sample())
    env.reset()
    assert env._env.physics.data.time == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_every_task_has_500_step_episodes(task):
    env = make_env("dmc", EnvConfig(task), "test", seed=0)
    env.reset()
    ends = [env.step(np.zeros(env.action_space.shape, np.float32))[2:4] for _ in range(500)]
    assert ends[-1] == (False, True) and all(end == (False, False) for end in ends[:-1])


def test_scale_action_hand_computed():
    low, high = np.array([-2.0, 0.0, 1.0]), np.array([2.0, 10.0, 3.0])
    np.testing.assert_allclose(scale_action(np.array([0.5, -0.5, 0.0]), low, high), [1.0, 2.5, 2.0])
    np.testing.assert_allclose(scale_action(np.array([-1.0, -1.0, -1.0]), low, high), low)
    np.testing.assert_allclose(scale_action(np.array([1.0, 1.0, 1.0]), low, high), high)


def test_action_reaches_the_actuators_and_out_of_bound_actions_are_rejected():
    env = make_env("dmc", EnvConfig("cheetah-run"), "train", seed=0)
    env.reset()
    action = np.array([-1.0, 1.0, 0.25, -0.5, 0.0, 0.75], np.float32)
    env.step(action)
    np.testing.assert_allclose(env._env.physics.data.ctrl, action)
    for bad in ([1.5, 0, 0, 0, 0, 0], [0, 0, -1.01, 0, 0, 0], [np.nan, 0, 0, 0, 0, 0], [0.0] * 5):
        with pytest.raises(ValueError, match=r"cheetah-run: action .* \[-1, 1\]"):
            env.step(np.array(bad, np.float32))


def test_same_seed_same_episode_other_seed_differs():
    def rollout(seed):
        env = make_env("dmc", EnvConfig("walker-walk"), "train", seed=seed)
        obs = [env.reset()[0]["vector"]]
        actions = np.random.default_rng(0).uniform(-1, 1, (20, 6)).astype(np.float32)
        obs += [env.step(a)[0]["vector"] for a in actions]
        return np.stack(obs)

    np.testing.assert_array_equal(rollout(5), rollout(5))
    assert not np.array_equal(rollout(5)[0], rollout(6)[0])
    reseeded = [make_env("dmc", EnvConfig("walker-walk"), "train", seed).reset(seed=9)[0]["vector"] for seed in (0, 1)]
    np.testing.assert_array_equal(*reseeded)


def test_render_is_a_nonblank_rgb_frame():
    env = make_env("dmc", EnvConfig("cheetah-run"), "test", seed=0)
    env.reset()
    frame = env.render()
    assert frame.shape == (240, 320, 3) and frame.dtype == np.uint8 and frame.std() > 10


def test_unknown_task_is_one_clear_error_listing_the_tasks():
    for bad in ("walker_run", "walker-jump", "humanoid-run"):
        with pytest.raises(ValueError, match=rf"'{bad}'.*\['acrobot-swingup', 'ball_in_cup-catch'.*'walker-walk'\]"):
            make_env("dmc", EnvConfig(bad), "train", seed=0)
