"""Key maps of the play tool (design §8.6): Atari combos from real minimal action sets, Craftax, DMC pairs, CartPole."""

import numpy as np
import pygame
import pytest

from m3.envs import registry
from m3.play.keys import CRAFTAX_KEYS, RESERVED, atari_keys, format_action, key_map


def atari_map(game: str):
    env = registry.make_env("atari", registry.EnvConfig(game), "test", seed=0)
    return key_map("atari", env, env.action_space.n)


def test_atari_meanings_become_key_sets():
    assert atari_keys("NOOP") == frozenset()
    assert atari_keys("UPRIGHTFIRE") == {pygame.K_UP, pygame.K_RIGHT, pygame.K_SPACE}
    assert atari_keys("DOWNLEFT") == {pygame.K_DOWN, pygame.K_LEFT}
    with pytest.raises(ValueError, match="cannot map"):
        atari_keys("JUMP")


@pytest.mark.parametrize("game", ["Breakout", "Pong", "MsPacman", "Seaquest"])
def test_atari_keys_pick_the_action_with_the_most_held_keys(game):
    keys = atari_map(game)
    index = {name: a for a, name in enumerate(keys.names)}
    assert keys.action(frozenset()) == index["NOOP"]
    assert keys.action(frozenset({pygame.K_a})) == index["NOOP"]  # unmapped key
    for name, a in index.items():  # every action is reachable by holding exactly its keys
        assert keys.action(atari_keys(name)) == a, name
    if "RIGHTFIRE" in index:
        assert keys.action(frozenset({pygame.K_RIGHT, pygame.K_SPACE, pygame.K_a})) == index["RIGHTFIRE"]


def test_craftax_keys_reach_every_action_with_one_key():
    keys = key_map("craftax", None, 43)
    assert len(keys.names) == 43 and keys.names[keys.default] == "NOOP"
    mapped = [k for k in CRAFTAX_KEYS.values()]
    assert len(set(mapped)) == len(mapped) == 42  # one distinct key per action but NOOP
    for a, name in enumerate(keys.names):
        pressed = frozenset() if name == "NOOP" else frozenset({CRAFTAX_KEYS[name]})
        assert keys.action(pressed) == a
    assert keys.names[keys.action(frozenset({pygame.K_w}))] == "UP"


def test_dmc_pairs_and_cartpole():
    keys = key_map("dmc", None, 6)
    np.testing.assert_array_equal(keys.action(frozenset({pygame.K_q, pygame.K_s, pygame.K_e, pygame.K_d})),
                                  np.array([1, -1, 0, 0, 0, 0], np.float32))
    assert keys.action(frozenset()).dtype == np.float32 and not keys.action(frozenset()).any()
    with pytest.raises(ValueError, match="at most 10 action dimensions"):
        key_map("dmc", None, 11)
    cartpole = key_map("cartpole", None, 2)
    assert (cartpole.action(frozenset()), cartpole.action(frozenset({pygame.K_RIGHT}))) == (0, 1)


def test_no_map_uses_the_viewer_keys():
    maps = [atari_map("MsPacman"), key_map("craftax", None, 43), key_map("dmc", None, 10),
            key_map("cartpole", None, 2)]
    for keys in maps:
        used = set().union(*keys.discrete.values()) | {k for pair in keys.pairs for k in pair}
        assert used and not used & RESERVED
        assert keys.legend()


def test_format_action():
    assert format_action(None, ()) == "-"
    assert format_action(np.int64(3), ("NOOP", "FIRE", "RIGHT", "LEFT")) == "3 (LEFT)"
    assert format_action(np.array([0.2, -1.0], np.float32), ()) == "[0.20, -1.00]"
