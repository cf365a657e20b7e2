import gymnasium as gym
import numpy as np
import pytest

from m3.envs import registry
from m3.envs.cartpole import CARTPOLE_SPEC
from m3.envs.registry import EnvConfig, benchmarks, env_spec, make_env, register, validate
from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec

TOY_SPEC = EnvSpec({"token": ModalitySpec((1,), (3,))}, ActionSpec("discrete", 3))


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry, so benchmarks registered by a test vanish after it."""
    monkeypatch.setattr(registry, "_BENCHMARKS", dict(registry._BENCHMARKS))


def test_every_benchmark_is_registered():
    assert {"atari", "cartpole", "craftax", "dmc"} <= set(benchmarks())
    assert "cartpole" in benchmarks()
    validate("cartpole", EnvConfig("CartPole-v1"))
    assert env_spec("cartpole", EnvConfig()) == CARTPOLE_SPEC


def test_unknown_benchmark_names_it_and_lists_allowed_sorted(scratch_registry):
    register("zeta", lambda cfg, mode: None, lambda cfg: TOY_SPEC, games=None)
    register("alpha", lambda cfg, mode: None, lambda cfg: TOY_SPEC, games=None)
    with pytest.raises(ValueError) as info:
        validate("atarii", EnvConfig())
    message = str(info.value)
    assert "'atarii'" in message
    assert str(sorted([*registry._BENCHMARKS])) in message
    assert message.index("'alpha'") < message.index("'cartpole'") < message.index("'zeta'")


def test_unknown_game_names_it_and_lists_allowed_sorted(scratch_registry):
    register("toy", lambda cfg, mode: None, lambda cfg: TOY_SPEC, games=["b-game", "a-game"])
    with pytest.raises(ValueError) as info:
        validate("toy", EnvConfig("c-game"))
    message = str(info.value)
    assert "'c-game'" in message and "'toy'" in message
    assert "['a-game', 'b-game']" in message
    with pytest.raises(ValueError, match=r"'Pong'.*\['CartPole-v1'\]"):
        env_spec("cartpole", EnvConfig("Pong"))


def test_validation_happens_before_anything_is_built(scratch_registry):
    built = []
    register("toy", lambda cfg, mode: built.append(cfg), lambda cfg: built.append(cfg), games=["a-game"])
    for call in (
        lambda: make_env("toy", EnvConfig("x-game"), "train", 0),
        lambda: env_spec("toy", EnvConfig("x-game")),
        lambda: make_env("nope", EnvConfig("a-game"), "train", 0),
        lambda: make_env("toy", EnvConfig("a-game"), "eval", 0),
    ):
        with pytest.raises(ValueError):
            call()
    assert built == []


def test_bad_mode_is_named():
    with pytest.raises(ValueError, match=r"'eval'.*\['test', 'train'\]"):
        make_env("cartpole", EnvConfig(), "eval", 0)


def test_duplicate_registration_fails(scratch_registry):
    with pytest.raises(ValueError, match="'cartpole'"):
        register("cartpole", lambda cfg, mode: None, lambda cfg: TOY_SPEC, games=None)


def test_a_new_benchmark_is_built_and_seeded_through_the_registry(scratch_registry):
    """One register call makes a benchmark usable; games=None accepts any game; make_env seeds it."""
    made = []

    def make(cfg, mode):
        made.append((cfg.game, mode))
        return gym.make("CartPole-v1")

    register("toy", make, lambda cfg: TOY_SPEC, games=None)
    assert "toy" in benchmarks()
    assert env_spec("toy", EnvConfig("anything")) == TOY_SPEC
    first = make_env("toy", EnvConfig("anything"), "test", seed=3).reset()[0]
    again = make_env("toy", EnvConfig("anything"), "train", seed=3).reset()[0]
    other = make_env("toy", EnvConfig("anything"), "train", seed=4).reset()[0]
    assert made == [("anything", "test"), ("anything", "train"), ("anything", "train")]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
