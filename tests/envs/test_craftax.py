"""The Craftax-Symbolic-v1 env (design §4.4, §8.3): spec, observations against an independent decoding of
the raw symbolic vector over states reached by random play, seeding, episode ends, rendering, pickling."""

import pickle

import numpy as np
import pytest

from m3.envs import EnvConfig, env_spec, make_env
from m3.envs.craftax_mapping import decode_symbolic
from m3.envs.seeding import SEED_LIMIT

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
    for seed in (0, SEED_LIMIT - 1, 10**12):  # the bounds of m3's seeds, and gymnasium's unbounded ones
        np.testing.assert_array_equal(env.reset(seed=seed)[0]["token_2d"], env.reset(seed=seed)[0]["token_2d"])


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


@pytest.mark.slow
def test_the_time_limit_truncates_and_is_not_terminal(env):
    """D9: at Craftax's 100,000-step limit the episode is truncated (stored end 0), not terminated; a death on
    the last step is still terminal."""
    env.reset(seed=7)
    limit = 100_000  # craftax EnvParams.max_timesteps
    env._state = env.state.replace(timestep=np.asarray(limit - 1, dtype=env.state.timestep.dtype))
    _, _, terminated, truncated, info = env.step(0)
    assert truncated and not terminated and "episode_stats" in info
    env.reset(seed=7)
    env._state = env.state.replace(timestep=np.asarray(limit - 1, dtype=env.state.timestep.dtype),
                                   player_health=np.float32(0.0))
    _, _, terminated, truncated, _ = env.step(0)
    assert terminated and not truncated


@pytest.mark.slow
def test_the_vector_space_is_the_observations_real_range(env):
    """Box(0, 2.1) (§4.4): a state with every stat at its largest value reaches 2.1 exactly (mana / 10 at
    intelligence 5) and stays inside the declared space; a fresh world's vector does too."""
    from craftax.craftax.renderer import render_craftax_symbolic

    space = env.observation_space["vector"]
    fresh, _ = env.reset(seed=8)
    assert space.contains(fresh["vector"])
    s = env.state
    full = s.inventory.replace(**{k: np.full_like(np.asarray(getattr(s.inventory, k)), 99) for k in (
        "wood", "stone", "coal", "iron", "diamond", "sapling", "arrows", "torches", "ruby", "sapphire", "potions")},
        pickaxe=np.int32(4), sword=np.int32(4), bow=np.int32(1), books=np.int32(2),
        armour=np.full_like(np.asarray(s.inventory.armour), 2))
    extreme = s.replace(inventory=full, player_strength=np.int32(5), player_dexterity=np.int32(5),
                        player_intelligence=np.int32(5), player_health=np.float32(13), player_food=np.int32(17),
                        player_drink=np.int32(17), player_energy=np.int32(17), player_mana=np.int32(21),
                        player_xp=np.int32(8), sword_enchantment=np.int32(2), bow_enchantment=np.int32(2),
                        armour_enchantments=np.full_like(np.asarray(s.armour_enchantments), 2), light_level=1.0)
    vector = decode_symbolic(np.asarray(render_craftax_symbolic(extreme)))["vector"]
    assert vector.max() == np.float32(2.1) and space.contains(vector)
    assert space.high.max() == np.float32(2.1) and space.low.min() == 0.0
