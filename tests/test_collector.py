"""The train collector (design §7.1 step 1, §7.2, §11 D3, D5): mid-episode burn-in equals stepping the stored
transitions through the actor-critic as acting does, a resumed or continued episode goes on exactly as an
uninterrupted one, one raw vector gives one set of tokens on every path, and the dataset metrics."""

import math

import numpy as np
import pytest
import torch

from m3.agent import Agent
from m3.collector import Collector
from m3.config import load_config
from m3.data import ReplayStore
from m3.envs import EnvConfig, env_spec, make_env
from m3.envs.seeding import derive_seed

DMC = EnvConfig("walker-walk")  # 24-dim vector with velocities well past 1: symlog matters (D5)
CARTPOLE = EnvConfig("CartPole-v1")


def agent_for(benchmark: str, game: EnvConfig, tmp_path) -> Agent:
    cfg = load_config([f"benchmark={benchmark}", f"env.game={game.game}", "scale=smoke", f"run_dir={tmp_path}"])
    torch.manual_seed(0)
    return Agent(cfg, env_spec(benchmark, game))


def collector(agent: Agent, benchmark: str, game: EnvConfig, directory, burn_in: int, seed: int = 0) -> Collector:
    env = make_env(benchmark, game, "train", derive_seed(seed, "train", 0))
    return Collector(env, ReplayStore(directory), agent, burn_in, seed)


@pytest.fixture(scope="module")
def walker(tmp_path_factory) -> Agent:
    return agent_for("dmc", DMC, tmp_path_factory.mktemp("walker"))


def generator(seed: int = 1) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@torch.no_grad()
def stepped_state(agent: Agent, episode, start: int, end: int):
    """The actor-critic state after acting's obs step then action step on stored rows start..end-1, one at a time."""
    actor_critic = agent.actor_critic
    state = actor_critic.initial_state(1)
    for t in range(start, end):
        tokens = agent.tokenizer.tokenize({k: v[t:t + 1] for k, v in episode.observations.items()})
        _, _, state = actor_critic.obs_logits(agent.tokenizer.codes(tokens), state)
        state = actor_critic.action_step(episode.actions[t:t + 1], state)
    return state


def assert_states_close(a, b, atol=1e-6):
    for x, y in zip(a.actor, b.actor):
        torch.testing.assert_close(x, y, atol=atol, rtol=0)
    for x, y in zip(a.critic or (), b.critic or ()):  # DMC: separate critic trunk
        torch.testing.assert_close(x, y, atol=atol, rtol=0)


def test_burn_in_equals_stepping_the_last_stored_transitions(walker, tmp_path):
    c = collector(walker, "dmc", DMC, tmp_path / "d", burn_in=4)
    c.collect(7, 1.0, 0.0, generator())
    episode = c.store[c.builder.episode_id]
    assert len(episode) == 8  # 7 actions, the current observation in row 7
    assert_states_close(c._burn_in_state(), stepped_state(walker, episode, 3, 7))
    assert walker.actor_critic.initial_state(1).critic is not None  # both trunks are compared


def test_a_continued_episode_goes_on_as_an_uninterrupted_one(walker, tmp_path):
    """Within the burn-in window the burn-in state is the acting state, so 3 + 3 steps give the 6-step episode."""
    whole = collector(walker, "dmc", DMC, tmp_path / "a", burn_in=8)
    whole.collect(6, 1.0, 0.0, generator())
    split = collector(walker, "dmc", DMC, tmp_path / "b", burn_in=8)
    g = generator()
    split.collect(3, 1.0, 0.0, g)
    split.collect(3, 1.0, 0.0, g)
    a, b = whole.store[0], split.store[0]
    torch.testing.assert_close(a.actions, b.actions, atol=0, rtol=0)
    torch.testing.assert_close(a.observations["vector"], b.observations["vector"], atol=0, rtol=0)


def test_a_resumed_collector_continues_exactly(walker, tmp_path):
    first = collector(walker, "dmc", DMC, tmp_path / "r", burn_in=4)
    g = generator()
    first.collect(5, 1.0, 0.0, g)
    first.store.save()
    resumed = collector(walker, "dmc", DMC, tmp_path / "r", burn_in=4, seed=0)
    resumed.store.load(manifest=first.store.manifest())
    resumed.load_state_dict(first.state_dict())
    assert_states_close(resumed._burn_in_state(), first._burn_in_state(), atol=0)
    g_resumed = torch.Generator().set_state(g.get_state())
    first.collect(4, 1.0, 0.0, g)
    resumed.collect(4, 1.0, 0.0, g_resumed)
    a, b = first.store[0], resumed.store[0]
    assert len(a) == len(b) == 10
    torch.testing.assert_close(a.actions, b.actions, atol=0, rtol=0)
    torch.testing.assert_close(a.observations["vector"], b.observations["vector"], atol=0, rtol=0)


def reference_tokens(raw: np.ndarray) -> np.ndarray:
    """§4.2 written out in float64: symlog, then the nearest of the 125 levels (32 on [0, ln(1+π)], 31 more up
    to 6, mirrored)."""
    inner = np.linspace(0.0, math.log1p(math.pi), 32)
    positive = np.concatenate([inner, np.linspace(math.log1p(math.pi), 6.0, 32)[1:]])
    levels = np.concatenate([-positive[:0:-1], positive])
    x = np.sign(raw) * np.log1p(np.abs(raw.astype(np.float64)))
    return np.abs(x[..., None] - levels).argmin(-1)


def test_one_raw_vector_gives_the_same_tokens_on_every_path(walker, tmp_path):
    """D5: acting, the stored episode (collector burn-in), right-padded world-model and left-padded
    actor-critic batches all tokenize the same raw vector, with symlog, to the §4.2 reference tokens."""
    c = collector(walker, "dmc", DMC, tmp_path / "t", burn_in=4)
    c.collect(12, 1.0, 0.0, generator())
    raw = c.obs["vector"]  # the current observation, as the next act() sees it
    assert np.abs(raw).max() > 1.5  # far enough out that skipping symlog would change tokens
    expected = reference_tokens(raw)
    tokenize = walker.tokenizer.tokenize
    acting = tokenize(walker.obs_to_tensors({"vector": raw[None]}))["vector"][0]
    episode = c.store[c.builder.episode_id]
    stored = tokenize({"vector": episode.observations["vector"][12:13]})["vector"][0]
    right = c.store.collate([(episode.id, 10)], 3, "right")["obs"]["vector"]  # rows 10..12
    left = c.store.collate([(episode.id, 8)], 5, "left")["obs"]["vector"]  # rows 8..12
    for tokens in (acting, stored, tokenize({"vector": right})["vector"][0, 2],
                   tokenize({"vector": left})["vector"][0, 4]):
        np.testing.assert_array_equal(tokens.numpy(), expected)
    assert not np.array_equal(expected, reference_tokens(np.sign(raw) * np.expm1(np.abs(raw))))  # symlog counts


def test_dataset_metrics_match_the_stored_episodes(tmp_path):
    agent = agent_for("cartpole", CARTPOLE, tmp_path)
    c = collector(agent, "cartpole", CARTPOLE, tmp_path / "m", burn_in=3)
    g = generator()
    first = c.collect(60, 1.0, 0.0, g)
    carried = c.builder.episode_id
    second = c.collect(80, 1.0, 0.0, g)
    store = c.store
    finished = [store[i] for i in store.episode_ids if i != c.builder.episode_id]
    assert all(int(e.ends.sum()) == 1 for e in finished)  # random CartPole play falls within a few dozen steps
    assert first["train_dataset/#steps"] == 60 and second["train_dataset/#steps"] == 140
    assert second["train_dataset/#episodes"] == len(finished)
    assert sum(len(e) - 1 for e in finished) + len(store[c.builder.episode_id]) - 1 == 140  # every step stored
    in_second = [e for e in finished if e.id >= carried]  # the episode carried over ended in the second collection
    assert second["train_dataset/return"] == pytest.approx(np.mean([float(e.rewards.sum()) for e in in_second]))
    assert second["train_dataset/episode_length"] == pytest.approx(np.mean([len(e) - 1 for e in in_second]))
    assert second["train_dataset/rewards_per_step"] == 1.0
    actions = torch.cat([e.actions[:-1] for e in finished] + [store[c.builder.episode_id].actions[:-1]])[60:]
    for a in (0, 1):
        assert second[f"train_dataset/action_dist/{a}"] == pytest.approx(float((actions == a).float().mean()))
    first_obs, _ = make_env("cartpole", CARTPOLE, "train", 0).reset(seed=derive_seed(0, "train", 0))
    np.testing.assert_array_equal(store[0].observations["vector"][0].numpy(), first_obs["vector"])


def test_a_fresh_env_after_a_resume_seeds_its_first_episode(tmp_path):
    """A checkpoint without env state (an env that cannot be pickled): the next episode is reset with its own
    seed, not the stream the fresh env would replay from the start."""
    agent = agent_for("cartpole", CARTPOLE, tmp_path)
    c = collector(agent, "cartpole", CARTPOLE, tmp_path / "f", burn_in=3)
    c.collect(40, 1.0, 0.0, generator())
    c.store.save()  # as a checkpoint does before it records the manifest
    state = {**c.state_dict(), "env": None}
    fresh = collector(agent, "cartpole", CARTPOLE, tmp_path / "f", burn_in=3)
    fresh.store.load(manifest=c.store.manifest())
    fresh.load_state_dict(state)
    fresh.collect(1, 1.0, 0.0, generator())
    new_id = state["next_episode_id"]
    expected, _ = make_env("cartpole", CARTPOLE, "train", 0).reset(seed=derive_seed(0, "train", new_id))
    np.testing.assert_array_equal(fresh.store[new_id].observations["vector"][0].numpy(), expected["vector"])
