import io
from collections import Counter

import pytest
import torch

from m3.data.episode import Episode
from m3.data.replay import ReplayStore, num_samples
from m3.data.sampler import PrioritizedSampler, prioritized_loader


def episode(eid: int, rows: int) -> Episode:
    """vector row t of episode eid = [eid, t]."""
    t = torch.arange(rows)
    return Episode(
        id=eid,
        observations={"vector": torch.stack([torch.full((rows,), float(eid)), t.float()], 1)},
        actions=t % 3,
        rewards=torch.zeros(rows),
        ends=torch.zeros(rows, dtype=torch.int64),
        mask_padding=torch.ones(rows, dtype=torch.bool),
    )


def store_with(lengths: dict[int, int], max_ram_bytes: int = 2**30) -> ReplayStore:
    store = ReplayStore(None, max_ram_bytes)
    for eid, rows in lengths.items():
        store.add(episode(eid, rows))
    return store


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_sync_enumerates_sample_starts():
    # n = rows - 1; starts i in [0, n - ctx]
    assert [num_samples(rows, 2) for rows in (1, 2, 3, 5)] == [0, 0, 1, 3]
    sampler = PrioritizedSampler()
    sampler.sync(store_with({4: 5, 9: 3, 6: 2}), ctx=2)
    assert sampler.keys() == [(4, 0), (4, 1), (4, 2), (9, 0)]
    assert all(sampler[k] == (10.0, 0) for k in sampler.keys())


def test_num_prioritized():
    sampler = PrioritizedSampler(uniform_fraction=0.7)
    assert [sampler.num_prioritized(b) for b in (32, 16, 8, 10, 1)] == [10, 5, 3, 3, 1]


def test_thirty_percent_prioritized_split():
    sampler = PrioritizedSampler()
    sampler.sync(store_with({eid: 101 for eid in range(10)}), ctx=1)  # 100 samples each: 1000 keys
    heavy = set(sampler.keys()[::25])  # 40 keys with overwhelming loss, the rest 0
    sampler.update(sampler.keys(), torch.tensor([60.0 if k in heavy else 0.0 for k in sampler.keys()]))
    g = gen(0)
    counts, first_positions = [], set()
    for _ in range(300):
        batch = sampler.sample(32, g)
        assert len(set(batch)) == 32
        counts.append(sum(k in heavy for k in batch))
        first_positions.add(next(i for i, k in enumerate(batch) if k in heavy))
    # 10 prioritized picks are always heavy; the 22 uniform ones hit the other 30 heavy keys of 990 rarely
    assert min(counts) == 10
    assert abs(sum(counts) / len(counts) - (10 + 22 * 30 / 990)) < 0.2
    assert len(first_positions) > 5  # prioritized picks are shuffled into the batch


def test_prioritized_draw_follows_softmax():
    sampler = PrioritizedSampler()
    sampler.sync(store_with({0: 5}), ctx=1)  # 4 keys
    losses = torch.log(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)) + 3.0
    sampler.update(sampler.keys(), losses)
    g = gen(1)
    freq = Counter(sampler.sample(1, g)[0] for _ in range(6000))  # B = 1: one prioritized pick
    expected = torch.exp(losses) / torch.exp(losses).sum()  # 0.1, 0.2, 0.3, 0.4
    for k, p in zip(sampler.keys(), expected.tolist()):
        assert abs(freq[k] / 6000 - p) < 0.025


def test_prioritized_pairs_are_drawn_without_replacement():
    # uniform_fraction 0: the whole batch is prioritized; P({a, b}) = p_a p_b / (1 - p_a) + p_b p_a / (1 - p_b)
    sampler = PrioritizedSampler(uniform_fraction=0.0)
    sampler.sync(store_with({0: 5}), ctx=1)  # 4 keys
    losses = torch.log(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    sampler.update(sampler.keys(), losses)
    p = (torch.exp(losses) / torch.exp(losses).sum()).tolist()
    g = gen(9)
    freq = Counter(frozenset(k[1] for k in sampler.sample(2, g)) for _ in range(6000))
    for a in range(4):
        for b in range(a + 1, 4):
            expected = p[a] * p[b] / (1 - p[a]) + p[b] * p[a] / (1 - p[b])
            assert abs(freq[frozenset((a, b))] / 6000 - expected) < 0.025


def test_dominant_key_does_not_stall_the_draw():
    # key 0 holds nearly all the mass: the second pick is (almost) uniform over the other three
    sampler = PrioritizedSampler(uniform_fraction=0.0)
    sampler.sync(store_with({0: 5}), ctx=1)
    sampler.update(sampler.keys(), torch.tensor([40.0, 0.0, 0.0, 0.0]))
    g = gen(10)
    others = Counter()
    for _ in range(600):
        batch = sampler.sample(2, g)
        assert (0, 0) in batch
        others.update(k for k in batch if k != (0, 0))
    assert sorted(others) == [(0, 1), (0, 2), (0, 3)] and min(others.values()) > 150


def test_batch_of_all_keys_has_no_duplicates():
    sampler = PrioritizedSampler()
    sampler.sync(store_with({0: 8, 1: 6}), ctx=1)
    assert sorted(sampler.sample(12, gen(2))) == sorted(sampler.keys())
    with pytest.raises(ValueError):
        sampler.sample(13, gen(2))


def test_updates_land_on_exactly_their_keys():
    sampler = PrioritizedSampler()
    sampler.sync(store_with({3: 6, 8: 4}), ctx=1)  # (3, 0..4), (8, 0..2)
    sampler.update([(8, 2), (3, 1), (3, 4)], torch.tensor([0.5, 1.5, 2.5]))
    sampler.update([(3, 1)], torch.tensor([7.0]))
    expected = {(8, 2): (0.5, 1), (3, 1): (7.0, 2), (3, 4): (2.5, 1)}
    for k in sampler.keys():
        assert sampler[k] == expected.get(k, (10.0, 0))
    with pytest.raises(KeyError):
        sampler.update([(3, 5)], torch.tensor([1.0]))  # start beyond n - ctx
    with pytest.raises(KeyError):
        sampler.update([(4, 0)], torch.tensor([1.0]))  # unknown episode


def test_sync_drops_evicted_and_adds_new_samples():
    row_bytes = 2 * 4 + 8 + 4 + 8 + 1
    store = store_with({0: 4, 1: 4}, max_ram_bytes=12 * row_bytes)
    sampler = PrioritizedSampler()
    sampler.sync(store, ctx=1)
    sampler.update([(0, 1), (1, 0), (1, 2)], torch.tensor([1.0, 2.0, 3.0]))
    store.update(episode(1, 6))  # episode 1 extended: starts 3, 4 are new
    store.add(episode(2, 4))  # 14 rows > 12: episode 0 evicted
    sampler.sync(store, ctx=1)
    assert sampler.keys() == [(1, 0), (1, 1), (1, 2), (1, 3), (1, 4), (2, 0), (2, 1), (2, 2)]
    assert sampler[(1, 0)] == (2.0, 1) and sampler[(1, 2)] == (3.0, 1)
    assert sampler[(1, 1)] == (10.0, 0) and sampler[(1, 4)] == (10.0, 0) and sampler[(2, 0)] == (10.0, 0)
    with pytest.raises(KeyError):
        sampler[(0, 1)]


def test_state_dict_round_trip():
    sampler = PrioritizedSampler()
    sampler.sync(store_with({2: 7, 5: 5}), ctx=2)
    sampler.update([(2, 3), (5, 0)], torch.tensor([0.25, 4.0]))
    buffer = io.BytesIO()
    torch.save(sampler.state_dict(), buffer)
    buffer.seek(0)
    restored = PrioritizedSampler()
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    assert restored.keys() == sampler.keys()
    assert [restored[k] for k in restored.keys()] == [sampler[k] for k in sampler.keys()]
    assert restored.sample(5, gen(3)) == sampler.sample(5, gen(3))


def test_same_seed_same_samples():
    sampler = PrioritizedSampler()
    sampler.sync(store_with({0: 50, 1: 40}), ctx=1)
    sampler.update(sampler.keys()[:20], torch.linspace(0, 12, 20))
    a = [sampler.sample(8, gen(4)) for _ in range(3)]
    b = [sampler.sample(8, gen(4)) for _ in range(3)]
    assert a == b
    assert sampler.sample(8, gen(5)) != a[0]


class CountingSampler(PrioritizedSampler):
    """Counts batches drawn, to show the loader draws ahead of the batches the trainer has consumed."""

    draws = 0

    def sample(self, batch_size, generator):
        self.draws += 1
        return super().sample(batch_size, generator)


def test_multi_worker_loader_losses_land_on_producing_samples():
    store = store_with({10: 9, 11: 7, 12: 12})
    sampler = CountingSampler()
    sampler.sync(store, ctx=1)
    loader = prioritized_loader(store, sampler, batch_size=4, num_batches=24, length=3, generator=gen(8), num_workers=2)
    visits = Counter()
    draws_at_first_batch = None
    for batch in loader:
        draws_at_first_batch = draws_at_first_batch or sampler.draws
        first = batch["obs"]["vector"][:, 0]  # (B, 2): [episode id, start row], read from the data itself
        losses = first[:, 0] * 20 + first[:, 1]  # each sample's "loss" is a function of its own segment
        assert batch["mask_padding"][:, 0].all()
        sampler.update(batch["ids"], losses)
        visits.update(batch["ids"])
    assert draws_at_first_batch > 1  # prefetching: later batches were drawn before the first loss came back
    assert sum(visits.values()) == 96
    for eid, start in sampler.keys():
        loss, count = sampler[(eid, start)]
        assert count == visits[(eid, start)]
        assert loss == (eid * 20 + start if count else 10.0)
