"""Run-folder media (design §7.3): reconstruction PNGs from real Atari frames, episode files and their retention."""

import numpy as np
import pytest
import torch
from PIL import Image

from m3.checkpoint import CheckpointError
from m3.data.episode import Episode, EpisodeBuilder
from m3.envs import registry
from m3.media import (MAX_EPISODES, MediaDir, list_episodes, load_episode, reconstruction_grid, save_episode,
                      save_reconstructions, to_uint8)
from m3.models.tokenizers.image import ImageTokenizer, ImageTokenizerConfig


@pytest.fixture(scope="module")
def breakout_frames():
    """uint8 (B=2, T=3, 3, 64, 64): two short Breakout segments."""
    env = registry.make_env("atari", registry.EnvConfig("Breakout"), "test", seed=0)
    segments = []
    for _ in range(2):
        obs, _ = env.reset()
        frames = [obs["image"]]
        for _ in range(2):
            obs, *_ = env.step(env.action_space.sample())
            frames.append(obs["image"])
        segments.append(np.stack(frames))
    return torch.as_tensor(np.stack(segments))


def test_reconstruction_grid_puts_each_original_above_its_reconstruction():
    rng = np.random.default_rng(0)
    originals = rng.integers(0, 256, (3, 3, 4, 5), dtype=np.uint8)
    recons = rng.integers(0, 256, (3, 3, 4, 5), dtype=np.uint8)
    grid = reconstruction_grid(originals, recons, columns=2)
    assert grid.shape == (16, 10, 3)  # 2 rows of (originals, reconstructions), 2 columns
    hwc = lambda x: x.transpose(1, 2, 0)  # noqa: E731
    np.testing.assert_array_equal(grid[0:4, 0:5], hwc(originals[0]))
    np.testing.assert_array_equal(grid[4:8, 0:5], hwc(recons[0]))
    np.testing.assert_array_equal(grid[0:4, 5:10], hwc(originals[1]))
    np.testing.assert_array_equal(grid[8:12, 0:5], hwc(originals[2]))
    np.testing.assert_array_equal(grid[12:16, 0:5], hwc(recons[2]))
    assert not grid[8:16, 5:10].any()  # no fourth frame: black
    with pytest.raises(ValueError, match="arrays of one shape"):
        reconstruction_grid(originals, recons[:2])


def test_save_reconstructions_writes_one_png_per_step(tmp_path, breakout_frames):
    torch.manual_seed(0)
    tokenizer = ImageTokenizer(ImageTokenizerConfig(embed_dim=16, vocab_size=32, channels_first_layer=8,
                                                    norm_num_groups=4, perceptual_loss=False))
    tokenizer.train()
    media = MediaDir(tmp_path / "media")
    paths = save_reconstructions(media, 7, breakout_frames, tokenizer)
    assert [p.name for p in paths] == ["epoch_007_t_000.png", "epoch_007_t_001.png", "epoch_007_t_002.png"]
    assert tokenizer.training  # mode restored
    tokenizer.eval()
    for t, path in enumerate(paths):
        image = np.asarray(Image.open(path).convert("RGB"))
        assert image.shape == (128, 128, 3)  # B = 2 originals over 2 reconstructions of 64 x 64
        assert image.std() > 5  # not blank
        np.testing.assert_array_equal(image[:64, 64:], breakout_frames[1, t].numpy().transpose(1, 2, 0))
        expected = to_uint8(tokenizer.reconstruct(breakout_frames[:, t]))
        np.testing.assert_array_equal(image[64:, :64], expected[0].transpose(1, 2, 0))
    with pytest.raises(ValueError, match="uint8 frames"):
        save_reconstructions(media, 1, breakout_frames[0].float(), tokenizer)


def cartpole_episode(episode_id: int, steps: int) -> Episode:
    """A real CartPole episode of `steps` random actions (reward 1 per step)."""
    env = registry.make_env("cartpole", registry.EnvConfig(), "test", seed=episode_id)
    spec = registry.env_spec("cartpole", registry.EnvConfig())
    builder = EpisodeBuilder(episode_id, spec.action)
    obs, _ = env.reset()
    builder.start(obs)
    for _ in range(steps):
        action = env.action_space.sample()
        obs, reward, terminated, truncated, _ = env.step(action)
        builder.step(action, reward, terminated, obs)
        if terminated or truncated:
            break
    return builder.episode()


def test_episode_files_round_trip_keep_the_newest_and_the_best(tmp_path):
    media = MediaDir(tmp_path / "media")
    media.create()
    assert media.imagination.is_dir() and media.reconstructions.is_dir() and media.episodes("train").is_dir()
    lengths = {}
    for i in range(MAX_EPISODES + 3):  # episode 1 is the longest (highest return); ids = epochs here
        episode = cartpole_episode(i, steps=8 if i == 1 else 3)
        lengths[i] = len(episode)
        save_episode(media, "test", episode, epoch=i, benchmark="cartpole", game="CartPole-v1")
    folder = media.episodes("test")
    names = sorted(p.name for p in folder.glob("*.pt"))
    kept = sorted(f"episode_{i}_epoch_{i}.pt" for i in range(3, MAX_EPISODES + 3))
    assert names == sorted([*kept, "best_episode_1_epoch_1.pt"])
    best = load_episode(folder / "best_episode_1_epoch_1.pt")
    assert best.ret == float(best.episode.rewards.sum()) == lengths[1] - 1
    assert (best.epoch, best.benchmark, best.game, best.episode.id) == (1, "cartpole", "CartPole-v1", 1)
    original = cartpole_episode(12, steps=3)
    stored = load_episode(folder / "episode_12_epoch_12.pt").episode
    for a, b in zip(original.tensors, stored.tensors):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    save_episode(media, "test", cartpole_episode(20, steps=20), epoch=20, benchmark="cartpole", game="CartPole-v1")
    assert sorted(p.name for p in folder.glob("best_*")) == ["best_episode_20_epoch_20.pt"]


def test_list_episodes_order_and_foreign_files(tmp_path):
    media = MediaDir(tmp_path / "media")
    for split, ids in (("train", (5, 4)), ("test", (7, 6))):
        for epoch, i in enumerate(ids):
            save_episode(media, split, cartpole_episode(i, steps=2 + epoch), epoch, "cartpole", "CartPole-v1")
    names = [p.parent.name + "/" + p.name for p in list_episodes(tmp_path / "media" / "episodes")]
    assert names == ["test/best_episode_6_epoch_1.pt", "test/episode_7_epoch_0.pt", "test/episode_6_epoch_1.pt",
                     "train/best_episode_4_epoch_1.pt", "train/episode_5_epoch_0.pt", "train/episode_4_epoch_1.pt"]
    torch.save({"some": "dict"}, tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="not an m3 episode file"):
        load_episode(tmp_path / "foreign.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_episode(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="unknown episode split"):
        media.episodes("valid")
