"""The seed mixer (docs/envs.md "Seeds"): numpy's SeedSequence spawn tree, in range, reproducible, one clear
error for bad input; every env type accepts the extreme seeds."""

import numpy as np
import pytest

from m3.envs import EnvConfig, make_env
from m3.envs.seeding import PURPOSES, SEED_LIMIT, check_run_seed, derive_seed


def spawned(run_seed: int, *path: int) -> int:
    """The same seed reached through numpy's own spawn tree: child k of child ... of SeedSequence(run_seed)."""
    node = np.random.SeedSequence(run_seed)
    for k in path:
        node = node.spawn(k + 1)[k]
    return int(node.generate_state(1, np.uint32)[0])


@pytest.mark.parametrize("run_seed, purpose, indices", [
    (0, "train", (0,)), (4, "train", (17,)), (3, "test_env", (7,)), (0, "evaluation", (10, 0)),
    (1, "evaluation", (1000, 503)), (2, "final", (103,)), (SEED_LIMIT - 1, "evaluate", (5, 99)),
])
def test_a_seed_is_the_spawn_tree_node_of_run_purpose_and_indices(run_seed, purpose, indices):
    code = PURPOSES[purpose][0]
    assert derive_seed(run_seed, purpose, *indices) == spawned(run_seed, code, *indices)


def test_seeds_are_reproducible_32_bit_ints_that_differ_in_every_coordinate():
    base = derive_seed(3, "evaluation", 10, 5)
    assert base == derive_seed(3, "evaluation", 10, 5) and isinstance(base, int) and 0 <= base < SEED_LIMIT
    others = [derive_seed(4, "evaluation", 10, 5), derive_seed(3, "evaluation", 11, 5),
              derive_seed(3, "evaluation", 10, 6), derive_seed(3, "evaluate", 10, 5), derive_seed(3, "final", 5)]
    assert base not in others and len(set(others)) == len(others)
    seeds = [derive_seed(s, "final", j) for s in range(20) for j in range(500)]
    assert min(seeds) >= 0 and max(seeds) < SEED_LIMIT and max(seeds) > SEED_LIMIT // 2  # the whole range is used


@pytest.mark.parametrize("call, message", [
    (lambda: derive_seed(-1, "train", 0), "seed=-1 is not allowed; a run seed is an integer in [0, 4294967296)"),
    (lambda: derive_seed(SEED_LIMIT, "train", 0), "seed=4294967296 is not allowed"),
    (lambda: derive_seed(True, "train", 0), "seed=True is not allowed"),
    (lambda: derive_seed(0, "eval", 0), "unknown seed purpose 'eval'; allowed: ['evaluate', 'evaluation', 'final'"),
    (lambda: derive_seed(0, "evaluation", 3), "seed purpose 'evaluation' takes 2 indices ('epoch', 'episode')"),
    (lambda: derive_seed(0, "final", -2), "final seed index episode=-2 must be an integer in [0, 4294967296)"),
    (lambda: derive_seed(0, "final", 1.0), "final seed index episode=1.0 must be an integer"),
    (lambda: check_run_seed("3"), "seed='3' is not allowed"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ValueError) as error:
        call()
    assert message in str(error.value)


@pytest.mark.parametrize("benchmark, game", [("atari", "Pong"), ("dmc", "cartpole-balance"),
                                             ("cartpole", "CartPole-v1")])
def test_every_env_type_takes_the_extreme_seeds(benchmark, game):
    """The bounds of the range, in both the construction seed and a reset seed (Craftax: tests/envs/test_craftax.py)."""
    for seed in (0, SEED_LIMIT - 1):
        env = make_env(benchmark, EnvConfig(game), "test", seed)
        first, _ = env.reset(seed=seed)
        again, _ = env.reset(seed=seed)
        assert all(np.array_equal(first[k], again[k]) for k in first)
        env.close()
