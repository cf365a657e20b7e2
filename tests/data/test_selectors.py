import io
from collections import Counter

import pytest
import torch

from m3.data.replay import ReplayStore
from m3.data.selectors import FlatIndex, PrioritizedSampler, num_samples, sample_frames, sample_uniform
from tests.data.replay_episodes import episode


def store_with(lengths: dict[int, int], max_ram_bytes: int = 2**30) -> ReplayStore:
    store = ReplayStore(None, max_ram_bytes)
    for eid, rows in lengths.items():
        store.add(episode(eid, rows, ("vector",)))
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


def test_flat_index_numbers_the_samples_of_all_episodes():
    index = FlatIndex.of(store_with({4: 5, 9: 3, 6: 2}), ctx=2)  # 3, 1 and 0 samples: episode 6 is left out
    assert len(index) == 4 and index.episode_ids.tolist() == [4, 9]
    ids, indices = index.locate(torch.tensor([3, 0, 2, 1]))
    assert list(zip(ids.tolist(), indices.tolist())) == [(9, 0), (4, 0), (4, 2), (4, 1)]
    assert index.rows([(9, 0), (4, 1)]).tolist() == [3, 1]
    assert len(FlatIndex.of(store_with({4: 5, 9: 3, 6: 2}), ctx=0)) == 10  # ctx 0: every stored row
    with pytest.raises(KeyError):
        index.rows([(6, 0)])


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
    store.update(episode(1, 6, ("vector",)))  # episode 1 extended: starts 3, 4 are new
    store.add(episode(2, 4, ("vector",)))  # 14 rows > 12: episode 0 evicted
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


def test_sample_uniform_left_padded_keys():
    store = ReplayStore(None)
    store.add(episode(1, 5))
    store.add(episode(2, 4))
    store.add(episode(3, 2))  # n = 1 < ctx: no samples
    ctx, length = 2, 4  # AC: ctx = c + 1; a sample ends at ctx + 1 + i, i in [0, n - ctx]
    expected = {(1, -1), (1, 0), (1, 1), (2, -1), (2, 0)}
    assert sorted(sample_uniform(store, 5, ctx, length, torch.Generator().manual_seed(0))) == sorted(expected)
    g = torch.Generator().manual_seed(1)
    freq = {k: 0 for k in expected}
    for _ in range(500):
        batch = sample_uniform(store, 2, ctx, length, g)
        assert len(set(batch)) == 2
        for key in batch:
            freq[key] += 1
            assert store.segment(*key, length, "left")["mask_padding"][-1]  # ends on a real row
    assert min(freq.values()) > 150 and max(freq.values()) < 250  # 200 expected each
    right = sample_uniform(store, 5, ctx, length, torch.Generator().manual_seed(2), padding="right")
    assert sorted(right) == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1)]
    a = sample_uniform(store, 3, ctx, length, torch.Generator().manual_seed(3))
    assert a == sample_uniform(store, 3, ctx, length, torch.Generator().manual_seed(3))
    with pytest.raises(ValueError):
        sample_uniform(store, 6, ctx, length, g)


def test_sample_frames_uniform_over_all_rows():
    store = ReplayStore(None)
    store.add(episode(1, 5))
    store.add(episode(3, 2))
    all_frames = sample_frames(store, 7, torch.Generator().manual_seed(0))
    assert all_frames.dtype == torch.uint8 and all_frames.shape == (7, 3, 2, 2)
    assert sorted(all_frames[:, 0, 0, 0].tolist()) == [10, 11, 12, 13, 14, 30, 31]  # each row exactly once
    g = torch.Generator().manual_seed(1)
    counts = torch.zeros(256)
    for _ in range(1400):
        counts[int(sample_frames(store, 1, g)[0, 0, 0, 0])] += 1
    hits = counts[[10, 11, 12, 13, 14, 30, 31]]
    assert hits.sum() == 1400 and (hits - 200).abs().max() < 60  # ~uniform, 200 expected each
    a = sample_frames(store, 3, torch.Generator().manual_seed(5))
    b = sample_frames(store, 3, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    with pytest.raises(ValueError):
        sample_frames(store, 8, g)


def test_draws_for_a_fixed_seed_are_unchanged():
    """Recorded with the code before replay was split into storage and selectors (commit 8de3c35): a change to any
    of these samples changes training results."""
    store = ReplayStore(None)
    for eid, rows in [(3, 9), (4, 2), (7, 14), (8, 6)]:  # episode 4 has no sample for ctx >= 1
        store.add(episode(eid, rows, ("image",)))
    g = torch.Generator().manual_seed(123)
    assert [sample_uniform(store, 5, ctx=3, length=6, generator=g) for _ in range(2)] == [
        [(3, 0), (7, 1), (7, 2), (3, -2), (7, -2)], [(8, -2), (8, 0), (7, 6), (7, 3), (3, -1)]]
    assert sample_uniform(store, 4, ctx=1, length=4, generator=g, padding="right") == [(3, 3), (7, 7), (7, 1), (7, 3)]
    assert [sample_frames(store, 6, g)[:, 0, 0, 0].tolist() for _ in range(2)] == [
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
