import os

import numpy as np
import pytest

from m3.envs.craftax_mapping import CRAFTAX_SPEC, CRAFTAX_VOCABS, decode_symbolic

ROWS, COLS, CELL = 9, 11, 83  # the renderer's (9, 11, 83) map array, flattened row-major
MAP = ROWS * COLS * CELL  # 8217
MOB_CLASSES = ("melee_mobs", "passive_mobs", "ranged_mobs", "mob_projectiles", "player_projectiles")
OUT_OF_BOUNDS, ITEM_NONE = 1, 0  # craftax BlockType / ItemType values used to pad the map edge


def _synthetic(rng: np.random.Generator, n: int):
    """n observations built cell by cell from chosen tokens; returns (obs (n, 8268), tokens (n, 99, 4), dirs, stats)."""
    obs = np.zeros((n, MAP + 51), np.float32)
    tokens = np.zeros((n, ROWS * COLS, 4), np.int64)
    dirs = rng.integers(4, size=n)
    stats = rng.uniform(0, 2, size=(n, 51)).astype(np.float32)
    for i in range(n):
        for c in range(ROWS * COLS):
            base = c * CELL
            if rng.random() < 0.2:  # dark: every channel zero
                continue
            block, item, mob = rng.integers(37), rng.integers(5), rng.integers(40)
            obs[i, base + block] = obs[i, base + 37 + item] = obs[i, base + 82] = 1.0
            if rng.random() < 0.5:
                obs[i, base + 42 + mob] = 1.0
            else:
                mob = 0
            tokens[i, c] = block, item, mob, 19
        stats[i, 31:35] = np.eye(4)[dirs[i]]
    obs[:, MAP:] = stats
    return obs, tokens, dirs, stats


def test_spec_and_vocabs():
    assert CRAFTAX_VOCABS == (37, 5, 40, 20)
    assert CRAFTAX_SPEC.observations["vector"].shape == (47,)
    assert CRAFTAX_SPEC.observations["token"].shape == (1,) and CRAFTAX_SPEC.observations["token"].vocab == (4,)
    assert CRAFTAX_SPEC.observations["token_2d"].shape == (99, 4)
    assert CRAFTAX_SPEC.observations["token_2d"].vocab == (37, 5, 40, 20)
    assert CRAFTAX_SPEC.action.kind == "discrete" and CRAFTAX_SPEC.action.n == 43
    assert CRAFTAX_SPEC.tokens_per_block == 148  # §4.4: 47 + 1 + 99 obs tokens + 1 action token


def test_decodes_synthetic_observations_with_any_leading_dims():
    obs, tokens, dirs, stats = _synthetic(np.random.default_rng(0), 6)
    out = decode_symbolic(obs.reshape(2, 3, -1))
    assert out["vector"].dtype == np.float32 and out["vector"].shape == (2, 3, 47)
    assert out["token"].dtype == np.int64 and out["token"].shape == (2, 3, 1)
    assert out["token_2d"].dtype == np.int64 and out["token_2d"].shape == (2, 3, 99, 4)
    np.testing.assert_array_equal(out["token_2d"].reshape(6, 99, 4), tokens)
    np.testing.assert_array_equal(out["token"].reshape(6), dirs)
    np.testing.assert_array_equal(out["vector"].reshape(6, 47), np.delete(stats, [31, 32, 33, 34], axis=1))


def test_light_token_is_floor_division_by_0_05_d8():
    """Hand-worked: light 1.0 -> 19 (1 // 0.05 = 19.0 in floating point), so vocab 20 covers every token."""
    light = np.array([0.0, 0.04, 0.06, 0.5, 0.99, 1.0], np.float32)
    expected = [0, 0, 1, 9, 19, 19]
    obs = np.zeros((len(light), MAP + 51), np.float32)
    obs[:, 82 : MAP : CELL] = light[:, None]  # every cell of observation i has light[i]
    out = decode_symbolic(obs)["token_2d"][..., 3]
    np.testing.assert_array_equal(out, np.repeat(np.array(expected)[:, None], 99, axis=1))
    assert [float(v) // 0.05 for v in light.astype(np.float64)] == expected
    assert out.max() < CRAFTAX_VOCABS[3]


def test_wrong_size_is_rejected():
    with pytest.raises(ValueError, match="8268"):
        decode_symbolic(np.zeros((2, 8217), np.float32))


def _snapshot(obs, state) -> dict:
    level = int(state.player_level)
    mobs = [
        (k, np.asarray(getattr(state, name).position[level]), np.asarray(getattr(state, name).mask[level]),
         np.asarray(getattr(state, name).type_id[level]))
        for k, name in enumerate(MOB_CLASSES)
    ]
    return dict(
        obs=np.asarray(obs), position=np.asarray(state.player_position), direction=int(state.player_direction),
        map=np.asarray(state.map[level]), item_map=np.asarray(state.item_map[level]),
        light_map=np.asarray(state.light_map[level]), health=float(state.player_health),
        light_level=float(state.light_level), mobs=mobs,
    )


@pytest.fixture(scope="module")
def craftax_samples() -> list[dict]:
    """Real Craftax-Symbolic-v1 observations with their states: 3 seeds x (reset + random steps), plus one
    state whose light map is partly zeroed and re-rendered, so that dark cells occur."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    jax = pytest.importorskip("jax")
    pytest.importorskip("craftax")
    import jax.numpy as jnp
    from craftax.craftax_env import make_craftax_env_from_name

    jax.config.update("jax_compilation_cache_dir", os.path.expanduser("~/.cache/m3/jax"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    env = make_craftax_env_from_name("Craftax-Symbolic-v1", auto_reset=False)
    params = env.default_params
    reset, step, render = jax.jit(env.reset), jax.jit(env.step), jax.jit(env.get_obs)
    rng = np.random.default_rng(0)
    samples = []
    for seed in range(3):
        obs, state = reset(jax.random.PRNGKey(seed), params)
        for t in range(120):
            if t % 15 == 0:
                samples.append(_snapshot(obs, state))
            action = jnp.int32(rng.integers(43))
            obs, state, _, done, _ = step(jax.random.PRNGKey(1000 * seed + t), state, action, params)
            if bool(done):
                obs, state = reset(jax.random.PRNGKey(100 + 1000 * seed + t), params)
    dim = jnp.asarray(rng.random(state.light_map.shape) < 0.5, dtype=state.light_map.dtype)
    dark = state.replace(light_map=state.light_map * dim)
    samples.append(_snapshot(render(dark), dark))
    return samples


def _view(grid: np.ndarray, position: np.ndarray, pad_value: int) -> np.ndarray:
    """The (9, 11) window of `grid` centred on the player, padded with `pad_value` past the edge."""
    padded = np.pad(grid, COLS, constant_values=pad_value)
    r, c = position + COLS
    return padded[r - ROWS // 2 : r + ROWS // 2 + 1, c - COLS // 2 : c + COLS // 2 + 1]


@pytest.mark.slow
def test_decoding_matches_the_world_state(craftax_samples):
    """Blocks, items, light, mobs and direction against the env state itself, cell by cell."""
    mob_cells = dark_cells = 0
    for s in craftax_samples:
        out = decode_symbolic(s["obs"])
        grid = out["token_2d"].reshape(ROWS, COLS, 4)
        lit = _view(s["light_map"], s["position"], 0) > 0.05  # (9, 11)
        dark_cells += int((~lit).sum())
        np.testing.assert_array_equal(grid[..., 3], np.where(lit, 19, 0))
        np.testing.assert_array_equal(grid[..., 0], np.where(lit, _view(s["map"], s["position"], OUT_OF_BOUNDS), 0))
        np.testing.assert_array_equal(grid[..., 1], np.where(lit, _view(s["item_map"], s["position"], ITEM_NONE), 0))
        for k, positions, mask, type_id in s["mobs"]:
            for pos, alive, kind in zip(positions, mask, type_id):
                r, c = pos - s["position"] + (ROWS // 2, COLS // 2)
                if alive and 0 <= r < ROWS and 0 <= c < COLS and lit[r, c]:
                    assert grid[r, c, 2] == 8 * k + kind
                    mob_cells += 1
        assert out["token"].tolist() == [s["direction"] - 1]
        assert out["vector"][22] == pytest.approx(s["health"] / 10.0)  # intrinsics start at stats index 22
        assert out["vector"][39] == pytest.approx(s["light_level"])  # stats index 43, after the direction
    assert mob_cells > 0 and dark_cells > 0
    assert len({s["direction"] for s in craftax_samples}) > 1


@pytest.mark.slow
def test_decoded_tokens_rebuild_the_raw_observation(craftax_samples):
    """Re-encoding the decoded parts gives back the 8268 raw values: one-hot block/item, mob channel
    (where the raw cell holds a mob), light flag, stats with the direction one-hot re-inserted."""
    for s in craftax_samples:
        raw = s["obs"]
        out = decode_symbolic(raw)
        cells = np.zeros((ROWS * COLS, CELL), np.float32)
        has_mob = raw[:MAP].reshape(-1, CELL)[:, 42:82].any(-1)
        for c, (block, item, mob, light) in enumerate(out["token_2d"]):
            lit = light == 19
            cells[c, block] = cells[c, 37 + item] = float(lit)
            cells[c, 42 + mob] = float(has_mob[c])
            cells[c, 82] = float(lit)
        stats = np.insert(out["vector"], 31, np.eye(4, dtype=np.float32)[out["token"][0]])
        np.testing.assert_array_equal(np.concatenate([cells.reshape(-1), stats]), raw)
