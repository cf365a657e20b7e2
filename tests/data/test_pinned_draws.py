"""The selectors' draws for one seed on one store, recorded with the code before replay was split into storage and
selectors (commit 8de3c35): a refactor that changes any sample changes training results."""

import torch

from m3.data.episode import Episode
from m3.data.replay import ReplayStore
from m3.data.sampler import PrioritizedSampler


def episode(eid: int, rows: int) -> Episode:
    """Row t's image is filled with eid * 10 + t."""
    t = torch.arange(rows)
    image = (eid * 10 + t).to(torch.uint8)[:, None, None, None].expand(rows, 3, 2, 2).clone()
    return Episode(id=eid, observations={"image": image}, actions=t.clone(), rewards=t.float(),
                   ends=torch.zeros(rows, dtype=torch.int64), mask_padding=torch.ones(rows, dtype=torch.bool))


def test_draws_for_a_fixed_seed_are_unchanged():
    store = ReplayStore(None)
    for eid, rows in [(3, 9), (4, 2), (7, 14), (8, 6)]:  # episode 4 has no sample for ctx >= 1
        store.add(episode(eid, rows))
    g = torch.Generator().manual_seed(123)
    assert [store.sample_uniform(5, ctx=3, length=6, generator=g) for _ in range(2)] == [
        [(3, 0), (7, 1), (7, 2), (3, -2), (7, -2)], [(8, -2), (8, 0), (7, 6), (7, 3), (3, -1)]]
    assert store.sample_uniform(4, ctx=1, length=4, generator=g, padding="right") == [(3, 3), (7, 7), (7, 1), (7, 3)]
    assert [store.sample_frames(6, g)[:, 0, 0, 0].tolist() for _ in range(2)] == [
        [81, 30, 40, 33, 70, 76], [80, 33, 80, 76, 70, 77]]
    sampler = PrioritizedSampler()
    sampler.sync(store, ctx=2)
    sampler.update(sampler.keys(), torch.linspace(0.0, 14.0, len(sampler)))
    assert [sampler.sample(10, g) for _ in range(2)] == [
        [(8, 2), (8, 3), (7, 11), (7, 8), (3, 1), (7, 5), (7, 7), (8, 1), (3, 2), (3, 6)],
        [(7, 0), (3, 3), (3, 1), (8, 3), (8, 2), (7, 4), (7, 10), (3, 5), (7, 8), (8, 0)]]
    assert sampler.sample(len(sampler), g) == [  # every key: the exact fallback after the rejection rounds
        (3, 1), (3, 4), (8, 0), (8, 2), (3, 2), (7, 0), (7, 10), (7, 1), (7, 11), (7, 7), (3, 5), (7, 9), (7, 5),
        (7, 8), (7, 6), (3, 0), (8, 3), (3, 6), (8, 1), (7, 4), (7, 3), (3, 3), (7, 2)]
