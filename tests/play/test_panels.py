"""Pictures of the play tool (design §8.6): bars, the `-r` panels, and Craftax maps drawn from tokens."""

import numpy as np
import pytest
import torch

from m3.agent import Agent
from m3.config import load_config
from m3.envs import registry
from m3.play.craftax_tiles import draw_map
from m3.play.modes import Frame
from m3.play.panels import BACKGROUND, BAR_HEIGHT, Painter, bar_scale, bars, stack


def test_bars_heights_follow_the_values():
    image = bars(np.array([2.0, -1.0, 0.0, 5.0]), scale=2.0)
    width = 24  # min(24, 192 // 4)
    assert image.shape == (BAR_HEIGHT, 4 * width, 3)
    mid = BAR_HEIGHT // 2
    column = lambda i: image[:, i * width + width // 2]  # noqa: E731
    filled = lambda i: (column(i) != BACKGROUND).any(-1) & (np.arange(BAR_HEIGHT) != mid)  # noqa: E731
    rows = lambda a, b: np.isin(np.arange(BAR_HEIGHT), np.arange(a, b))  # noqa: E731
    np.testing.assert_array_equal(filled(0), rows(2, mid))  # full height (mid - 2 rows), upwards
    np.testing.assert_array_equal(filled(1), rows(mid + 1, mid + 1 + 23))  # half of 46 rows, downwards
    assert not filled(2).any()
    np.testing.assert_array_equal(filled(3), rows(2, mid))  # clipped at the scale
    assert tuple(image[mid - 1, width // 2]) == (80, 200, 120) and tuple(image[mid + 1, width + 2]) == (220, 90, 80)
    assert bar_scale(np.array([0.2, -1.5])) == 2.0 and bar_scale(np.zeros(3)) == 1.0


def test_stack_centres_pictures():
    out = stack([np.full((2, 4, 3), 200, np.uint8), np.full((3, 2, 3), 100, np.uint8)])
    assert out.shape == (5, 4, 3)
    assert (out[2:, 1:3] == 100).all() and (out[2:, 0] == BACKGROUND).all() and (out[2:, 3] == BACKGROUND).all()


def tiny(benchmark: str, game: str, tmp_path):
    cfg = load_config([f"benchmark={benchmark}", "scale=smoke", f"env.game={game}", f"run_dir={tmp_path}"])
    torch.manual_seed(0)
    return Agent(cfg, registry.env_spec(benchmark, cfg.env)).eval(), registry.make_env(benchmark, cfg.env, "test", 0)


def test_reconstruction_view_of_an_image_env(tmp_path):
    agent, env = tiny("atari", "Pong", tmp_path)
    obs, _ = env.reset()
    frame = Frame(0, None, 0.0, 0.0, False, obs=obs, picture=env.render())
    titles = [(title, p.shape) for title, p in Painter(agent, reconstruction=True).pictures(frame)]
    assert titles == [("original", (210, 160, 3)), ("input 64x64", (64, 64, 3)), ("reconstruction", (64, 64, 3))]
    assert [t for t, _ in Painter(agent, reconstruction=False).pictures(frame)] == ["env"]
    tokens = agent.tokenizer.tokenize(agent.obs_to_tensors({"image": obs["image"][None]}))
    dream = Painter(agent, reconstruction=True).pictures(Frame(1, 0, 0.0, 0.0, False, tokens=tokens))
    assert [(t, p.shape) for t, p in dream] == [("world model", (64, 64, 3))]


def test_vector_observation_and_decoded_tokens_share_one_scale(tmp_path):
    agent, env = tiny("dmc", "walker-walk", tmp_path)
    obs, _ = env.reset()
    pictures = Painter(agent, reconstruction=True).pictures(Frame(0, None, 0.0, 0.0, False, obs=obs,
                                                                  picture=env.render()))
    assert [t for t, _ in pictures] == ["original", "observation", "decoded tokens"]
    observed, decoded = pictures[1][1], pictures[2][1]
    assert observed.shape == decoded.shape
    # the quantizer's levels are close to the symlog values: the two bar charts differ in few pixels
    assert 0 < (observed != decoded).any(-1).mean() < 0.05


@pytest.mark.slow
def test_craftax_map_from_tokens_matches_craftax_pixel_renderer():
    env = registry.make_env("craftax", registry.EnvConfig("Craftax-Symbolic-v1"), "test", seed=0)
    obs, _ = env.reset()
    rendered = env.render()[:144, :176].astype(np.int64)  # the 9 x 11 map of 16-pixel tiles above the inventory
    cells, direction = obs["token_2d"], int(obs["token"][0])
    error = lambda image: np.abs(rendered - image).mean()  # noqa: E731
    drawn = draw_map(cells, direction)
    assert drawn.shape == (144, 176, 3)
    # the renderer dims the world by the daylight level, so the match is close rather than exact
    shifted = np.roll(cells.reshape(9, 11, 4), 1, axis=1).reshape(99, 4)
    assert error(drawn) < 12 and error(drawn) < 0.5 * error(draw_map(shifted, direction))
    player = (slice(64, 80), slice(80, 96))  # the centre tile
    wrong = draw_map(cells, (direction + 1) % 4)
    assert np.abs(rendered[player] - drawn[player]).mean() < 0.5 * np.abs(rendered[player] - wrong[player]).mean()
