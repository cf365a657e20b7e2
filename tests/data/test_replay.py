import os

import pytest
import torch

from m3.data.replay import ReplayStore
from tests.data.replay_episodes import episode

ROW_BYTES = 12 + 8 + 8 + 4 + 8 + 1  # image 3*2*2, vector 2 floats, action, reward, end, mask


def test_ram_cap_evicts_oldest_first():
    store = ReplayStore(None, max_ram_bytes=10 * ROW_BYTES)
    store.add(episode(0, 4))
    store.add(episode(1, 3))
    store.add(episode(2, 3))
    assert store.episode_ids == [0, 1, 2] and store.num_bytes == 10 * ROW_BYTES
    store.add(episode(1, 5))  # extended: keeps its FIFO position, 12 rows > cap -> evict 0
    assert store.episode_ids == [1, 2] and store.num_steps == 8
    store.add(episode(3, 4))  # 12 rows -> evict 1
    assert store.episode_ids == [2, 3] and store.num_episodes == 2 and store.num_steps == 7
    store.update(episode(2, 2))
    assert store.episode_ids == [2, 3] and store.num_steps == 6
    store.add(episode(4, 20))  # alone over the cap: the newest episode is always kept
    assert store.episode_ids == [4]
    with pytest.raises(KeyError):
        store.update(episode(5, 2))  # update() only replaces


def file_identity(path):
    st = os.stat(path)
    return st.st_ino, st.st_mtime_ns


def test_incremental_save_writes_only_dirty_and_removes_evicted(tmp_path):
    store = ReplayStore(tmp_path, max_ram_bytes=12 * ROW_BYTES)
    for eid in range(3):
        store.add(episode(eid, 3))
    store.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.pt", "1.pt", "2.pt"]
    before = {p.name: file_identity(p) for p in tmp_path.iterdir()}
    store.update(episode(2, 4))  # dirty, 10 rows
    store.add(episode(3, 3))  # dirty; 13 rows > 12 -> episode 0 evicted
    store.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.pt", "2.pt", "3.pt"]
    assert file_identity(tmp_path / "1.pt") == before["1.pt"]  # untouched
    assert file_identity(tmp_path / "2.pt") != before["2.pt"]  # rewritten
    after = {p.name: file_identity(p) for p in tmp_path.iterdir()}
    store.save()  # nothing changed: nothing written
    assert {p.name: file_identity(p) for p in tmp_path.iterdir()} == after


def test_save_load_round_trip_ignores_temp_files(tmp_path):
    store = ReplayStore(tmp_path)
    for eid, rows in [(5, 3), (2, 6), (11, 4)]:
        store.add(episode(eid, rows))
    store.save()
    (tmp_path / ".7.pt.k3j2x9.tmp").write_bytes(b"torn write")  # left by an interrupted atomic save
    loaded = ReplayStore(tmp_path)
    loaded.load()
    assert loaded.episode_ids == [2, 5, 11]  # id order = collection order
    assert loaded.num_steps == 13
    for eid in [2, 5, 11]:
        a, b = loaded[eid], store[eid]
        for x, y in zip(a.tensors, b.tensors):
            assert x.dtype == y.dtype and torch.equal(x, y)
    loaded.save()  # a freshly loaded store has nothing dirty
    assert (tmp_path / ".7.pt.k3j2x9.tmp").exists()


def test_load_with_manifest_restores_the_checkpoint_view(tmp_path):
    store = ReplayStore(tmp_path)
    store.add(episode(0, 4))
    store.add(episode(1, 3))  # unfinished at the checkpoint
    store.save()
    manifest = store.manifest()
    assert manifest == {0: 4, 1: 3}
    grown = episode(1, 6)  # after the checkpoint: episode 1 extended, episode 2 started, both saved
    store.add(grown)
    store.add(episode(2, 2))
    store.save()
    restored = ReplayStore(tmp_path)
    restored.load(manifest=manifest)
    assert restored.manifest() == manifest
    ep = restored[1]
    assert ep.observations["vector"][:, 1].tolist() == [0, 1, 2]
    assert ep.actions.tolist() == [0, 1, 0] and ep.rewards.tolist() == [0.0, 0.5, 0.0]  # row 2: zero placeholder
    restored.save()  # rewrites the cut episode, removes the file the checkpoint never saw
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0.pt", "1.pt"]
    again = ReplayStore(tmp_path)
    again.load()
    assert again.manifest() == manifest and torch.equal(again[1].actions, ep.actions)


def test_load_applies_the_cap(tmp_path):
    store = ReplayStore(tmp_path)
    for eid in range(3):
        store.add(episode(eid, 4))
    store.save()
    small = ReplayStore(tmp_path, max_ram_bytes=9 * ROW_BYTES)
    small.load()
    assert small.episode_ids == [1, 2]


def rows_of(segment) -> list[int]:
    """Row index carried in vector[:, 1], -1 on padding."""
    return [int(r) if m else -1 for r, m in zip(segment["obs"]["vector"][:, 1], segment["mask_padding"])]


def test_right_padding_segments():
    store = ReplayStore(None)
    store.add(episode(1, 5))  # rows 0..4, n = 4
    assert rows_of(store.segment(1, 0, 3, "right")) == [0, 1, 2]
    seg = store.segment(1, 3, 4, "right")
    assert rows_of(seg) == [3, 4, -1, -1]
    assert seg["actions"].tolist() == [3, 4, 0, 0]
    assert seg["rewards"].tolist() == [1.5, 2.0, 0.0, 0.0]
    assert seg["obs"]["image"][:, 0, 0, 0].tolist() == [13, 14, 0, 0]
    assert seg["id"] == (1, 3)
    with pytest.raises(ValueError):
        store.segment(1, -1, 3, "right")


def test_left_padding_segments():
    store = ReplayStore(None)
    store.add(episode(1, 5))
    # AC: ctx = 2, L = 4, sample i -> end = ctx + 1 + i, start = end - L
    expected = {0: [-1, 0, 1, 2], 1: [0, 1, 2, 3], 2: [1, 2, 3, 4]}
    for i, rows in expected.items():
        start = 2 + 1 + i - 4
        seg = store.segment(1, start, 4, "left")
        assert rows_of(seg) == rows
        assert seg["actions"].tolist() == [max(r, 0) for r in rows]
        assert seg["mask_padding"].tolist() == [r >= 0 for r in rows]
    with pytest.raises(ValueError):
        store.segment(1, 3, 4, "left")  # would run past the last row


def test_collate_batch_layout():
    store = ReplayStore(None)
    store.add(episode(1, 5))
    store.add(episode(2, 3))
    batch = store.collate([(2, 1), (1, 0)], 3, "right")
    assert batch["obs"]["image"].shape == (2, 3, 3, 2, 2) and batch["obs"]["image"].dtype == torch.uint8
    assert batch["obs"]["vector"].shape == (2, 3, 2)
    assert batch["actions"].shape == (2, 3) and batch["actions"].dtype == torch.int64
    assert batch["rewards"].dtype == torch.float32 and batch["ends"].dtype == torch.int64
    assert batch["mask_padding"].tolist() == [[True, True, False], [True, True, True]]
    assert batch["ids"] == [(2, 1), (1, 0)]
    assert batch["obs"]["vector"][0, :2, 0].tolist() == [2.0, 2.0]
