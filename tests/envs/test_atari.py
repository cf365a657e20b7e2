"""Atari envs on real ROMs: spec, max-pooling, no-ops, raw-frame limits, life loss, reward clipping (design §8.1)."""

from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from m3.envs.atari import GAMES, NOOP, SETTINGS, build_atari, resize
from m3.envs.registry import EnvConfig, env_spec, make_env
from m3.models.retnet import RetNetConfig
from m3.models.tokenizers.image import ImageTokenizerConfig
from m3.models.tokenizers.multimodal import MultiModalTokenizer
from m3.models.world_model import WorldModel, WorldModelConfig

FIRE = 1  # Breakout's minimal action set: NOOP, FIRE, RIGHT, LEFT

# Minimal action set sizes of the 26 games (ALE documentation), an independent reference for the spec.
MINIMAL_ACTIONS = {
    "Alien": 18, "Amidar": 10, "Assault": 7, "Asterix": 9, "BankHeist": 18, "BattleZone": 18, "Boxing": 18,
    "Breakout": 4, "ChopperCommand": 18, "CrazyClimber": 9, "DemonAttack": 6, "Freeway": 3, "Frostbite": 18,
    "Gopher": 8, "Hero": 18, "Jamesbond": 18, "Kangaroo": 18, "Krull": 18, "KungFuMaster": 14, "MsPacman": 9,
    "Pong": 6, "PrivateEye": 18, "Qbert": 6, "RoadRunner": 18, "Seaquest": 18, "UpNDown": 6,
}


def ale(env: gym.Env):
    return env.unwrapped.ale


def frames(env: gym.Env) -> int:
    return ale(env).getEpisodeFrameNumber()


def wrapper(env: gym.Env, kind: type) -> gym.Env:
    while not isinstance(env, kind):
        env = env.env
    return env


def test_games_are_the_26_of_the_results_files():
    assert sorted(GAMES) == sorted(MINIMAL_ACTIONS)


@pytest.mark.parametrize("game", GAMES)
def test_spec_has_64x64_image_and_the_minimal_action_set(game):
    spec = env_spec("atari", EnvConfig(game))
    assert spec.observations["image"].shape == (3, 64, 64)
    assert spec.action.kind == "discrete" and spec.action.n == MINIMAL_ACTIONS[game]
    assert spec.tokens_per_block == 65


def test_tokens_per_block_is_what_the_world_model_streams_for_a_real_frame():
    spec = env_spec("atari", EnvConfig("Breakout"))
    env = make_env("atari", EnvConfig("Breakout"), "train", seed=0)
    obs, _ = env.reset()
    image_cfg = ImageTokenizerConfig(vocab_size=16, embed_dim=8, channels_first_layer=8, perceptual_loss=False)
    tokenizer = MultiModalTokenizer(spec, image_cfg)
    tokens = tokenizer.tokenize({"image": torch.from_numpy(obs["image"])[None, None]})  # (1, 1, 64)
    retnet = RetNetConfig(num_layers=1, num_heads=1, embed_dim=8, blocks_per_chunk=1, max_blocks=1)
    model = WorldModel(WorldModelConfig(retnet, enable_curiosity=False), spec, image_vocab=16, image_embed_dim=8)
    stream = model.embed_blocks(tokens, torch.tensor([[FIRE]]), tokenizer.image.codebook.weight)  # (1, T, 8)
    assert tokens["image"].shape == (1, 1, 64)
    assert stream.shape[1] == model.T == spec.tokens_per_block == 65


@pytest.mark.parametrize("mode", ["train", "test"])
def test_observation_and_render(mode):
    env = make_env("atari", EnvConfig("Pong"), mode, seed=0)
    obs, _ = env.reset()
    assert list(obs) == ["image"] and obs["image"].dtype == np.uint8 and obs["image"].shape == (3, 64, 64)
    assert env.observation_space.contains(obs)
    assert env.action_space == gym.spaces.Discrete(6)
    obs, reward, terminated, truncated, _ = env.step(2)
    assert env.observation_space.contains(obs) and isinstance(reward, float)
    frame = env.render()
    assert frame.shape == (210, 160, 3) and frame.dtype == np.uint8 and frame.std() > 10


def test_resize_matches_torch_antialiased_bilinear():
    env = make_env("atari", EnvConfig("MsPacman"), "test", seed=0)
    env.reset()
    frame = env.render()
    reference = F.interpolate(torch.from_numpy(frame).permute(2, 0, 1)[None].double(), size=(64, 64),
                              mode="bilinear", antialias=True, align_corners=False)[0].round().clamp(0, 255)
    assert np.abs(resize(frame, 64).astype(int) - reference.numpy().astype(int)).max() <= 1


def test_step_is_the_max_of_the_last_two_of_four_raw_frames():
    """Replay each step's 4 frames on the ALE directly from a saved state and pool them by hand."""
    env = make_env("atari", EnvConfig("MsPacman"), "test", seed=0)
    env.reset()
    rng = np.random.default_rng(0)
    pooled_differs = 0
    for _ in range(30):
        action = int(rng.integers(env.action_space.n))
        state = ale(env).cloneState()
        obs, *_ = env.step(action)
        rendered = env.render()
        end_state = ale(env).cloneState()
        ale(env).restoreState(state)
        raw = []
        for _ in range(4):
            ale(env).act(env.unwrapped._action_set[action])
            raw.append(ale(env).getScreenRGB())
        ale(env).restoreState(end_state)
        expected = np.maximum(resize(raw[2], 64), resize(raw[3], 64))
        np.testing.assert_array_equal(obs["image"], expected)
        np.testing.assert_array_equal(rendered, raw[3])
        pooled_differs += not np.array_equal(expected, resize(raw[3], 64))
    assert pooled_differs > 0  # the pooling is observable (MsPacman's sprites flicker between frames)


def test_test_env_plays_exactly_one_noop_frame_after_reset():
    env = make_env("atari", EnvConfig("Breakout"), "test", seed=0)
    for seed in range(3):
        env.reset(seed=seed)
        assert frames(env) == 1
        env.reset()
        assert frames(env) == 1


def test_train_env_plays_uniform_1_to_30_noop_frames_reproducibly():
    assert SETTINGS["train"].noop_max == 30 and SETTINGS["test"].noop_max == 1

    def counts(seed):
        env = build_atari("Breakout", replace(SETTINGS["train"], episodic_life=False))
        env.reset(seed=seed)
        observed = [frames(env)]
        for _ in range(60):
            env.reset()
            observed.append(frames(env))
        return observed

    observed = counts(0)
    assert min(observed) >= 1 and max(observed) <= 30
    assert min(observed) <= 3 and max(observed) >= 28 and len(set(observed)) >= 15
    assert counts(0) == observed and counts(1) != observed


@pytest.mark.parametrize("limit, steps", [(41, 10), (42, 11)])
def test_time_limit_counts_raw_frames(limit, steps):
    """Breakout with NOOPs never serves the ball, so only the limit ends it: 1 no-op frame + 4 per step."""
    env = build_atari("Breakout", replace(SETTINGS["test"], max_frames=limit))
    env.reset(seed=0)
    for t in range(1, steps + 1):
        _, _, terminated, truncated, _ = env.step(NOOP)
        assert not terminated and truncated == (t == steps)
    assert frames(env) == limit


def test_production_time_limits_are_20000_and_108000_raw_frames():
    for mode, limit in [("train", 20_000), ("test", 108_000)]:
        env = make_env("atari", EnvConfig("Breakout"), mode, seed=0)
        assert wrapper(env, gym.wrappers.TimeLimit)._max_episode_steps == limit


@pytest.mark.slow
def test_train_episode_is_cut_at_20000_raw_frames():
    env = make_env("atari", EnvConfig("Breakout"), "train", seed=0)
    env.reset()
    steps, truncated = 0, False
    while not truncated:
        _, _, terminated, truncated, _ = env.step(NOOP)
        assert not terminated
        steps += 1
    assert frames(env) == 20_000 and steps < 5000


def play_until_life_lost(env: gym.Env, lives: int):
    """Serve and leave the paddle still until a life is lost; returns the last step's flags."""
    t = 0
    while ale(env).lives() == lives:
        _, _, terminated, truncated, _ = env.step(FIRE if t % 2 == 0 else NOOP)
        t += 1
        assert not truncated and t < 2000
    return terminated


def test_life_loss_ends_the_train_episode_and_reset_continues_the_game():
    env = make_env("atari", EnvConfig("Breakout"), "train", seed=0)
    env.reset()
    assert ale(env).lives() == 5
    for lives in (5, 4):
        assert play_until_life_lost(env, lives) is True
        before = frames(env)
        assert not ale(env).game_over()
        env.reset()
        assert ale(env).lives() == lives - 1 and frames(env) == before + 4  # one NOOP agent step, no new game


def test_life_loss_does_not_end_the_test_episode():
    env = make_env("atari", EnvConfig("Breakout"), "test", seed=0)
    env.reset()
    for lives in (5, 4, 3, 2):
        assert play_until_life_lost(env, lives) is False
    assert play_until_life_lost(env, 1) is True and ale(env).game_over()
    env.reset()
    assert ale(env).lives() == 5 and frames(env) == 1


def test_rewards_are_sign_clipped_per_frame_in_training_only():
    """From a saved state just before an Asterix score, the train env reports the sum of the raw frames'
    reward signs and the test env the raw sum."""
    test_env = make_env("atari", EnvConfig("Asterix"), "test", seed=0)
    train_env = make_env("atari", EnvConfig("Asterix"), "train", seed=0)
    test_env.reset()
    rng = np.random.default_rng(0)
    for _ in range(3000):
        action = int(rng.integers(test_env.action_space.n))
        state = ale(test_env).cloneState()
        raw = [ale(test_env).act(test_env.unwrapped._action_set[action]) for _ in range(4)]
        if sum(raw) > 1:
            break
    assert sum(raw) > 1
    for env, expected in [(test_env, float(sum(raw))), (train_env, float(sum(np.sign(raw))))]:
        ale(env).restoreState(state)
        assert env.step(action)[1] == expected


def test_same_seed_same_episode():
    def rollout(seed):
        env = make_env("atari", EnvConfig("MsPacman"), "train", seed=seed)
        images = [env.reset()[0]["image"]]
        images += [env.step(t % 5)[0]["image"] for t in range(20)]
        return np.stack(images), frames(env)

    first, again, other = rollout(3), rollout(3), rollout(4)
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1] == again[1] and first[1] != other[1]  # the drawn no-op count differs between seeds


def test_unknown_game_is_one_clear_error_listing_the_games():
    for bad in ("breakout", "Breakout-v5", "SpaceInvaders"):
        with pytest.raises(ValueError, match=rf"'{bad}'.*'Alien', 'Amidar'.*'UpNDown'\]"):
            make_env("atari", EnvConfig(bad), "train", seed=0)


def test_bad_action_is_rejected():
    env = make_env("atari", EnvConfig("Breakout"), "test", seed=0)
    env.reset()
    for bad in (4, -1):
        with pytest.raises(ValueError, match=rf"action {bad}"):
            env.step(bad)
