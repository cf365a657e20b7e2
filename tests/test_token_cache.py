"""TokenCache (m3/token_cache.py): cached batch tokens equal the tokenizer's on the collated pixels."""

import pytest
import torch

from m3.agent import Agent
from m3.checkpoint import RunDir
from m3.config import load_config
from m3.data import ReplayStore
from m3.envs import registry
from m3.token_cache import TokenCache
from m3.trainer import Trainer
from tests.data.replay_episodes import random_episode


def make(lengths: list[int]):
    cfg = load_config(["benchmark=atari", "env.game=Breakout", "scale=smoke", "run_dir=/tmp/unused"])
    torch.manual_seed(0)
    agent = Agent(cfg, registry.env_spec("atari", cfg.env)).eval()
    store, gen = ReplayStore(None), torch.Generator().manual_seed(1)
    for i, rows in enumerate(lengths):
        store.add(random_episode(agent.spec, i, rows, gen))
    return agent, store, TokenCache(agent.tokenizer, store)


def assert_tokens_equal(cache, agent, batch) -> None:
    got = cache.tokens(batch)
    want = agent.tokenizer.tokenize(batch["obs"])
    assert got.keys() == want.keys()
    for name in want:
        assert torch.equal(got[name], want[name]), name


def test_left_and_right_padded_batches_equal_the_tokenized_pixels_padding_included():
    agent, store, cache = make([12, 5, 9])
    right = store.collate([(1, 2), (0, 0), (2, 8)], 6, "right")  # rows past the end are padding
    left = store.collate([(1, -3), (0, 4), (2, -5)], 6, "left")  # rows before row 0 are padding
    assert_tokens_equal(cache, agent, right)
    cached = cache.num_rows
    assert cached == 3 + 6 + 1
    assert_tokens_equal(cache, agent, left)
    assert_tokens_equal(cache, agent, right)  # all from the cache now
    assert cache.num_rows == cached + 2 + 4 + 1  # only the rows not cached before


def test_replaced_and_evicted_episodes_are_encoded_again_and_clear_forgets_everything():
    agent, store, cache = make([8, 6])
    cache.tokens(store.collate([(0, 0), (1, 0)], 6, "right"))
    longer = random_episode(agent.spec, 1, 10, torch.Generator().manual_seed(9))
    store.add(longer)  # an unfinished episode, extended: a new object under the same id
    assert_tokens_equal(cache, agent, store.collate([(1, 3)], 6, "right"))
    assert cache.num_rows == 6 + 6
    newest = random_episode(agent.spec, 2, 7, torch.Generator().manual_seed(10))
    store.max_ram_bytes = longer.num_bytes + newest.num_bytes
    store.add(newest)  # evicts episode 0
    assert 0 not in store
    assert_tokens_equal(cache, agent, store.collate([(1, 0), (2, 1)], 6, "right"))
    assert cache.num_rows == 9 + 6  # episode 1 rows 0..8, episode 2 rows 1..6; episode 0 dropped
    cache.clear()
    assert cache.num_rows == 0


@pytest.mark.slow
def test_atari_epochs_with_the_trainers_token_cache_equal_epochs_that_encode_every_batch(tmp_path):
    """Three Atari smoke epochs (tokenizer, world model and actor-critic all train; no evaluation), with the
    trainer's cache and with none, from the same seed: the same weights."""
    overrides = ["benchmark=atari", "env.game=Breakout", "scale=smoke", "epochs=3", "evaluation.every=100"]
    weights = []
    for name, cached in (("cached", True), ("plain", False)):
        trainer = Trainer(load_config([f"run_dir={tmp_path / name}", *overrides]), RunDir(tmp_path / name))
        assert trainer.tokens is not None
        if not cached:
            trainer.tokens = None
        trainer.run_epochs()
        weights.append(trainer.agent.state_dict())
    for key, value in weights[0].items():
        torch.testing.assert_close(value, weights[1][key], rtol=1e-5, atol=1e-6, msg=key)
