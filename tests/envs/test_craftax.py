"""The Craftax-Symbolic-v1 env (spec §4.4, §8.3): spec, observations against an independent decoding of
the raw symbolic vector over states reached by random play, seeding, episode ends, rendering, pickling."""

import pickle

import numpy as np
import pytest

from m3.envs import EnvConfig, env_spec, make_env

CRAFTAX = EnvConfig("Craftax-Symbolic-v1")
ROWS, COLS, CELL, STATS = 9, 11, 83, 51


def test_spec_tokens_and_actions():
    spec = env_spec("craftax", CRAFTAX)
    assert list(spec.observations) == ["vector", "token", "token_2d"]
    assert spec.observations["vector"].shape == (47,)
    assert spec.observations["token"].shape == (1,) and spec.observations["token"].vocab == (4,)
    assert spec.observations["token_2d"].shape == (99, 4)
    assert spec.observations["token_2d"].vocab == (37, 5, 40, 20)
    assert spec.action.kind == "discrete" and spec.action.n == 43
    assert spec.tokens_per_obs == 147 and spec.tokens_per_block == 148  # §1, §4.4


def independent_decoding(raw: np.ndarray) -> dict[str, np.ndarray]:
    """Cell by cell from the raw (8268,) vector: the index of the set channel in each one-hot group, 0 where
    none is set (dark cells, cells without a mob); light 19 where the light flag is set (1.0 // 0.05)."""
    assert raw.shape == (ROWS * COLS * CELL + STATS,)
    cells = raw[: ROWS * COLS * CELL].reshape(ROWS, COLS, CELL)
    tokens = np.zeros((ROWS * COLS, 4), np.int64)
    for r in range(ROWS):
        for c in range(COLS):
            cell = cells[r, c]
            for col, (lo, hi) in enumerate([(0, 37), (37, 42), (42, 82)]):
                hits = np.nonzero(cell[lo:hi])[0]
                tokens[r * COLS + c, col] = hits[0] if len(hits) else 0
            tokens[r * COLS + c, 3] = 19 if cell[82] > 0 else 0
    stats = raw[ROWS * COLS * CELL :]
    (direction,) = np.nonzero(stats[31:35])[0]
    return {"vector": np.concatenate([stats[:31], stats[35:]]), "token": np.array([direction]), "token_2d": tokens}


@pytest.fixture(scope="module")
def env():
    return make_env("craftax", CRAFTAX, "test", 0)


def raw_symbolic(env) -> np.ndarray:
    from craftax.craftax.renderer import render_craftax_symbolic

    return np.asarray(render_craftax_symbolic(env.state))


@pytest.mark.slow
def test_observations_match_an_independent_decoding_over_random_play(env):
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=1)
    checked, directions, lit = 0, set(), set()
    for t in range(200):
        if t % 25 == 0:
            expected = independent_decoding(raw_symbolic(env))
            assert {k: (v.dtype, v.shape) for k, v in obs.items()} == {
                "vector": (np.float32, (47,)), "token": (np.int64, (1,)), "token_2d": (np.int64, (99, 4))}
            np.testing.assert_array_equal(obs["token_2d"], expected["token_2d"], err_msg=f"step {t}")
            np.testing.assert_array_equal(obs["token"], expected["token"], err_msg=f"step {t}")
            # the env's vector comes from the jitted step, the raw one from an eager render: equal to float32 rounding
            np.testing.assert_allclose(obs["vector"], expected["vector"], rtol=1e-6, err_msg=f"step {t}")
            assert obs["token"][0] == int(env.state.player_direction) - 1
            assert obs["vector"][22] == pytest.approx(float(env.state.player_health) / 10)  # intrinsics start at 22
            assert env.observation_space.contains(obs)
            directions.add(int(obs["token"][0]))
            lit.update(np.unique(obs["token_2d"][:, 0]).tolist())
            checked += 1
        obs, reward, terminated, truncated, _ = env.step(int(rng.integers(43)))
        assert isinstance(reward, float) and not truncated
        if terminated:
            obs, _ = env.reset()
    assert checked == 8 and len(directions) > 1 and len(lit) > 3


@pytest.mark.slow
def test_seeding_fixes_the_world(env):
    a = env.reset(seed=5)[0]
    b = env.reset(seed=5)[0]
    c = env.reset(seed=6)[0]
    np.testing.assert_array_equal(a["token_2d"], b["token_2d"])
    assert not np.array_equal(a["token_2d"], c["token_2d"])
    big = env.reset(seed=10**12)[0]  # seeds past 32 bits are accepted (the trainer's evaluation seeds grow)
    assert big["token_2d"].shape == (99, 4)


@pytest.mark.slow
def test_death_terminates_with_achievement_stats(env):
    env.reset(seed=2)
    _, _, terminated, truncated, info = env.step(0)
    assert not terminated and info == {}
    env._state = env.state.replace(player_health=np.float32(0.0))  # a dead player: the next step ends the game
    _, _, terminated, truncated, info = env.step(0)
    assert terminated and not truncated
    stats = info["episode_stats"]
    assert len(stats) == 67 and set(stats.values()) <= {0.0, 1.0}
    assert "achievements/collect_wood" in stats and "achievements/defeat_necromancer" in stats


@pytest.mark.slow
def test_a_pickled_env_continues_identically(env):
    env.reset(seed=3)
    for a in (1, 2, 3, 5):
        env.step(a)
    copy = pickle.loads(pickle.dumps(env))
    for a in (5, 4, 1, 1, 0, 5):
        o1, r1, *_ = env.step(a)
        o2, r2, *_ = copy.step(a)
        assert r1 == r2 and all(np.array_equal(o1[k], o2[k]) for k in o1)


@pytest.mark.slow
def test_render_is_craftax_pixel_frame(env):
    env.reset(seed=4)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert frame.shape[:2] == (208, 176)  # 9 x 11 blocks of 16 pixels, then the inventory rows
    assert frame.std() > 10
