import numpy as np
import pytest
import torch

from m3.data.episode import Episode, EpisodeBuilder
from m3.envs.spec import ActionSpec


def obs_at(t: int) -> dict[str, np.ndarray]:
    """A distinct raw observation for step t: image uint8 (3, 4, 4), vector (2,)."""
    return {"image": np.full((3, 4, 4), t % 256, dtype=np.uint8), "vector": np.array([t, -t], dtype=np.float64)}


def build(n_actions: int, terminated_at_end: bool, action=ActionSpec("discrete", 5)) -> EpisodeBuilder:
    builder = EpisodeBuilder(7, action)
    builder.start(obs_at(0))
    for t in range(n_actions):
        a = t % 5 if action.kind == "discrete" else np.full(action.n, t / 100, dtype=np.float32)
        builder.step(a, reward=t + 0.5, terminated=terminated_at_end and t == n_actions - 1, next_obs=obs_at(t + 1))
    return builder


def test_rows_hold_obs_action_reward_end_and_final_obs_is_appended():
    ep = build(4, terminated_at_end=True).episode()
    assert len(ep) == 5 and ep.id == 7
    assert ep.observations["image"].dtype == torch.uint8 and ep.observations["image"].shape == (5, 3, 4, 4)
    assert ep.observations["vector"].dtype == torch.float32
    assert ep.observations["image"][:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4]
    assert ep.observations["vector"][:, 1].tolist() == [0, -1, -2, -3, -4]
    assert ep.actions.tolist() == [0, 1, 2, 3, 0]  # last row: zero action
    assert ep.rewards.tolist() == [0.5, 1.5, 2.5, 3.5, 0.0]  # last row: zero reward
    assert ep.ends.tolist() == [0, 0, 0, 1, 0]  # end after a_3; final obs has end 0
    assert ep.mask_padding.tolist() == [True] * 5


def test_truncated_episode_has_no_end_flag():
    ep = build(3, terminated_at_end=False).episode()
    assert ep.ends.tolist() == [0, 0, 0, 0]
    assert len(ep) == 4


def test_no_step_after_termination():
    builder = build(2, terminated_at_end=True)
    assert builder.terminated
    with pytest.raises(RuntimeError):
        builder.step(0, 0.0, False, obs_at(9))


def test_continuous_actions():
    ep = build(3, terminated_at_end=False, action=ActionSpec("continuous", 2)).episode()
    assert ep.actions.dtype == torch.float32 and ep.actions.shape == (4, 2)
    assert torch.allclose(ep.actions[:, 0], torch.tensor([0.0, 0.01, 0.02, 0.0]))


def test_growth_past_capacity_and_extension_over_epochs():
    builder = build(30, terminated_at_end=False)
    first = builder.episode()  # stored mid-episode
    for t in range(30, 150):  # past the initial capacity of 64 rows
        builder.step(t % 5, t + 0.5, False, obs_at(t + 1))
    later = builder.episode()
    assert len(first) == 31 and len(later) == 151
    assert later.observations["vector"][:, 0].tolist() == list(range(151))
    assert later.actions[:150].tolist() == [t % 5 for t in range(150)] and later.actions[150] == 0
    assert torch.equal(later.observations["image"][:31], first.observations["image"])
    assert first.actions[30] == 0 and later.actions[30] == 0 and later.rewards[30] == 30.5 and first.rewards[30] == 0
    assert first.actions.tolist() == later.actions[:31].tolist()  # the snapshot was a copy, not a view


def test_from_episode_continues_like_an_uninterrupted_builder():
    spec = ActionSpec("discrete", 5)
    resumed = EpisodeBuilder.from_episode(build(10, terminated_at_end=False).episode(), spec)
    for t in range(10, 20):
        resumed.step(t % 5, t + 0.5, t == 19, obs_at(t + 1))
    expected = build(20, terminated_at_end=True).episode()
    got = resumed.episode()
    for name in expected.observations:
        assert torch.equal(got.observations[name], expected.observations[name])
    for field in ("actions", "rewards", "ends", "mask_padding"):
        assert torch.equal(getattr(got, field), getattr(expected, field))


def hand_episode(ends: list[int]) -> Episode:
    n = len(ends)
    return Episode(
        id=3,
        observations={"vector": torch.arange(n, dtype=torch.float32)[:, None]},
        actions=torch.arange(n),
        rewards=torch.ones(n),
        ends=torch.tensor(ends),
        mask_padding=torch.ones(n, dtype=torch.bool),
    )


def test_episode_is_cut_two_rows_after_its_first_end():
    ep = hand_episode([0, 1, 0, 1, 0])
    assert len(ep) == 3
    assert ep.ends.tolist() == [0, 1, 0]
    assert ep.observations["vector"][:, 0].tolist() == [0, 1, 2]  # terminal obs kept


def test_row_counts_must_agree():
    with pytest.raises(ValueError):
        Episode(3, {"vector": torch.zeros(4, 1)}, torch.zeros(3), torch.zeros(3), torch.zeros(3), torch.ones(3))


def test_dict_round_trip_and_bytes():
    ep = build(4, terminated_at_end=True).episode()
    back = Episode.from_dict(ep.to_dict())
    assert back.id == ep.id
    for a, b in zip(back.tensors, ep.tensors):
        assert a.dtype == b.dtype and torch.equal(a, b)
    # 5 rows: image 48 B, vector 2 * 4 B, action 8 B, reward 4 B, end 8 B, mask 1 B per row
    assert ep.num_bytes == 5 * (48 + 8 + 8 + 4 + 8 + 1)
