"""Losses on the test episodes (design §7.1 step 5): the windows, and the weighted means against the training losses
computed on hand-built batches."""

import pytest
import torch

from m3.agent import Agent
from m3.config import load_config
from m3.data import Episode, ReplayStore
from m3.envs import registry
from m3.evaluation import eval_losses, eval_windows
from tests.data.replay_episodes import random_episode


def store_of(lengths: list[int], spec) -> ReplayStore:
    store, gen = ReplayStore(None), torch.Generator().manual_seed(0)
    for i, rows in enumerate(lengths):
        store.add(random_episode(spec, i, rows, gen))
    return store


CARTPOLE_SPEC = registry.env_spec("cartpole", registry.EnvConfig("CartPole-v1"))


def test_windows_hand_worked():
    store = store_of([7, 3], CARTPOLE_SPEC)
    assert eval_windows(store, length=4, context_length=1) == [(0, 0), (0, 3), (1, 0)]
    assert eval_windows(store, length=4, context_length=2) == [(0, 0), (0, 2), (0, 4), (1, 0)]
    with pytest.raises(ValueError, match="windows of 2 blocks leave no target after a context of 2"):
        eval_windows(store, length=2, context_length=2)


@pytest.mark.parametrize("length,ctx", [(4, 1), (6, 2), (5, 3), (2, 1)])
def test_every_step_past_the_context_is_an_observation_target_once(length, ctx):
    lengths = [1 + ctx, 2, 9, 17, length, length + 1]
    store = store_of(lengths, CARTPOLE_SPEC)
    targets = {e: [0] * n for e, n in enumerate(lengths)}
    pairs = {e: [0] * (n - 1) for e, n in enumerate(lengths)}
    for e, start in eval_windows(store, length, ctx):
        rows = range(start, min(start + length, lengths[e]))
        for t in rows:
            targets[e][t] += t - start >= ctx
        for t in rows[:-1]:
            pairs[e][t] += 1
    for e, n in enumerate(lengths):
        assert targets[e] == [0] * min(ctx, n) + [1] * max(n - ctx, 0), e
        if n > ctx:  # shorter episodes have no window at all
            assert all(count >= 1 for count in pairs[e]), e


def agent_for(benchmark: str, game: str, tmp_path, *overrides) -> tuple[Agent, object]:
    cfg = load_config([f"benchmark={benchmark}", "scale=smoke", f"env.game={game}", f"run_dir={tmp_path}", *overrides])
    torch.manual_seed(0)
    return Agent(cfg, registry.env_spec(benchmark, cfg.env)), cfg


def hand_batch(episodes: list[Episode], windows: list[tuple[int, int]], length: int) -> dict:
    """The right-padded windows built by slicing and zero padding, independently of ReplayStore.segment."""
    def cut(t: torch.Tensor, start: int) -> torch.Tensor:
        piece = t[start : start + length]
        return torch.cat([piece, piece.new_zeros(length - len(piece), *piece.shape[1:])])

    out = {"obs": {}}
    for name in episodes[0].observations:
        out["obs"][name] = torch.stack([cut(episodes[e].observations[name], s) for e, s in windows])
    for key in ("actions", "rewards", "ends", "mask_padding"):
        out[key] = torch.stack([cut(getattr(episodes[e], key), s) for e, s in windows])
    return out


@torch.no_grad()
def reference_wm_losses(agent: Agent, batch: dict) -> dict[str, float]:
    agent.eval()
    out = agent.world_model.compute_loss(agent.tokenizer.tokenize(batch["obs"]), batch["actions"], batch["rewards"],
                                         batch["ends"], batch["mask_padding"], agent.codebook)
    return {k: float(v) for k, v in out.metrics.items()}


@pytest.mark.parametrize("batch_size", [64, 4])
def test_world_model_eval_losses_equal_the_training_loss_on_the_windows(batch_size, tmp_path):
    agent, cfg = agent_for("cartpole", "CartPole-v1", tmp_path, f"training.world_model.batch_size={batch_size}")
    gen = torch.Generator().manual_seed(1)
    episodes = [random_episode(agent.spec, i, rows, gen) for i, rows in enumerate([12, 5, 30])]
    L, c = cfg.world_model.retnet.max_blocks, cfg.world_model.context_length
    windows = [(e, s) for e, ep in enumerate(episodes) for s in range(0, len(ep) - c, L - c)]
    assert len(windows) == 10  # batches of 4: 4 + 4 + 2, the last one uneven across the curiosity members
    chunks = [windows[i : i + batch_size] for i in range(0, len(windows), batch_size)]
    per_chunk = [(len(w), reference_wm_losses(agent, hand_batch(episodes, w, L))) for w in chunks]
    expected = {k: sum(n * m[k] for n, m in per_chunk) / len(windows) for k in per_chunk[0][1]}
    agent.train()
    rng = torch.get_rng_state()
    got = eval_losses(agent, cfg, episodes)
    assert torch.equal(rng, torch.get_rng_state())  # training's random stream is untouched
    assert agent.training and agent.world_model.training  # modes restored
    assert not any(k.startswith("tokenizer/") for k in got)  # a vector env has no trainable tokenizer
    assert set(got) == {f"world_model/eval/{k}" for k in expected}
    for k, v in expected.items():
        assert got[f"world_model/eval/{k}"] == pytest.approx(v, rel=1e-6), k
    assert got["world_model/eval/total_loss"] > 0


@pytest.mark.parametrize("batch_size", [16, 1])
def test_tokenizer_eval_losses_equal_the_training_loss_on_every_frame(batch_size, tmp_path):
    agent, cfg = agent_for("atari", "Breakout", tmp_path, f"training.tokenizer.batch_size={batch_size}")
    gen = torch.Generator().manual_seed(2)
    episodes = [random_episode(agent.spec, i, rows, gen) for i, rows in enumerate([5, 3])]
    frames = torch.cat([e.observations["image"] for e in episodes])  # (8, 3, 64, 64)
    agent.eval()
    with torch.no_grad():
        chunks = [frames] if batch_size >= len(frames) else list(frames.split(1))
        parts = [agent.tokenizer.image.compute_loss(chunk) for chunk in chunks]
    expected = {"total_loss": sum(loss.item() for loss, _ in parts) / len(parts)}
    for name in parts[0][1]:
        expected[name] = sum(m[name] for _, m in parts) / len(parts)
    got = eval_losses(agent, cfg, episodes)
    assert {k for k in got if k.startswith("tokenizer/")} == {f"tokenizer/eval/{k}" for k in expected}
    for k, v in expected.items():
        assert got[f"tokenizer/eval/{k}"] == pytest.approx(v, rel=1e-6), k
    assert "world_model/eval/loss_obs" in got
