"""World model: POP training forward vs block-by-block imagination, D1, loss masking, priority (design §5)."""

import math

import pytest
import torch
import torch.nn.functional as F

from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec
from m3.models.optim import adamw
from m3.models.retnet import RetNetConfig
from m3.models.world_model import WorldModel, WorldModelConfig

IMAGE_VOCAB, IMAGE_DIM = 7, 6


def make_spec(action: ActionSpec) -> EnvSpec:
    """Every modality, tiny: image 2×2 grid (4 tokens), vector 3, token 2 (vocab 4), token_2d 2 cells × 3 columns."""
    return EnvSpec(
        {
            "image": ModalitySpec((3, 16, 16)),
            "vector": ModalitySpec((3,)),
            "token": ModalitySpec((2,), (4,)),
            "token_2d": ModalitySpec((2, 3), (5, 3, 4)),
        },
        action,
    )


def make_model(spec: EnvSpec, context: int = 2, chunk: int = 2, dtype=torch.float64, seed: int = 0) -> WorldModel:
    torch.manual_seed(seed)
    retnet = RetNetConfig(num_layers=2, num_heads=2, embed_dim=16, dropout=0.0, blocks_per_chunk=chunk, max_blocks=5,
                          decay_scale_min_num_blocks=1, decay_scale_max_num_blocks=3)
    return WorldModel(WorldModelConfig(retnet, context_length=context), spec, IMAGE_VOCAB, IMAGE_DIM).to(dtype)


def random_segment(spec: EnvSpec, B: int, L: int, dtype=torch.float64, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    tokens = {
        "image": torch.randint(0, IMAGE_VOCAB, (B, L, 4), generator=g),
        "vector": torch.randint(0, 125, (B, L, 3), generator=g),
        "token": torch.randint(0, 4, (B, L, 2), generator=g),
        "token_2d": torch.stack([torch.randint(0, v, (B, L, 2), generator=g) for v in (5, 3, 4)], dim=-1),
    }
    if spec.action.kind == "discrete":
        actions = torch.randint(0, spec.action.n, (B, L), generator=g)
    else:
        actions = torch.rand(B, L, spec.action.n, generator=g, dtype=dtype) * 2 - 1
    rewards = torch.randn(B, L, generator=g, dtype=dtype) * 3
    ends = torch.randint(0, 2, (B, L), generator=g)
    codebook = torch.randn(IMAGE_VOCAB, IMAGE_DIM, generator=g, dtype=dtype)
    return tokens, actions, rewards, ends, codebook


def at(tokens: dict, index) -> dict:
    return {name: t[index] for name, t in tokens.items()}


ACTIONS = [ActionSpec("discrete", 3), ActionSpec("continuous", 2)]


@pytest.mark.parametrize("action", ACTIONS, ids=["discrete", "continuous"])
@pytest.mark.parametrize("context", [1, 2])
def test_pop_training_forward_matches_block_by_block_imagination(action, context):
    """Block j's parallel prediction outputs (chunks of 2 over L = 5 blocks, so chunk boundaries and the
    state shift are exercised) equal those of imagination fed the true tokens block by block."""
    spec = make_spec(action)
    wm = make_model(spec, context=context).eval()
    B, L = 3, 5
    tokens, actions, _, _, codebook = random_segment(spec, B, L)
    train = wm(tokens, actions, codebook)
    state = wm.imagine_reset(at(tokens, (slice(None), slice(0, context))), actions[:, : context - 1], codebook)
    for j in range(context, L):
        state, pred = wm.imagine_predict(state, actions[:, j - 1])
        assert state.position == j * spec.tokens_per_block
        for name in tokens:
            torch.testing.assert_close(pred.obs[name], train.obs[name][:, j], atol=1e-5, rtol=0)
        torch.testing.assert_close(pred.reward, train.reward[:, j], atol=1e-5, rtol=0)
        torch.testing.assert_close(pred.done, train.done[:, j], atol=1e-5, rtol=0)
        state = wm.imagine_observe(state, at(tokens, (slice(None), j)), codebook)


def test_chunk_size_does_not_change_training_predictions():
    spec = make_spec(ACTIONS[0])
    tokens, actions, _, _, codebook = random_segment(spec, 2, 5)
    whole = make_model(spec, chunk=5).eval()(tokens, actions, codebook)
    chunked = make_model(spec, chunk=2).eval()(tokens, actions, codebook)
    torch.testing.assert_close(chunked.features, whole.features, atol=1e-9, rtol=0)


def test_first_block_is_predicted_from_the_zero_state():
    """Block 0's predictions must not depend on the segment's tokens; block 1's must."""
    spec = make_spec(ACTIONS[0])
    wm = make_model(spec).eval()
    tokens, actions, _, _, codebook = random_segment(spec, 2, 3)
    other, other_actions, _, _, _ = random_segment(spec, 2, 3, seed=7)
    a, b = wm(tokens, actions, codebook), wm(other, other_actions, codebook)
    torch.testing.assert_close(a.features[:, 0], b.features[:, 0])
    assert (a.features[:, 1] - b.features[:, 1]).abs().max() > 1e-3


def test_reward_and_done_read_the_same_latent():
    """D1: only the last obs prediction token of a block feeds both its reward and done logits."""
    spec = make_spec(ACTIONS[0])
    wm = make_model(spec).eval()
    features = torch.randn(2, 4, spec.tokens_per_obs, 16, dtype=torch.float64)
    base = wm.heads(features)
    for k, expect_change in [(spec.tokens_per_obs - 1, True), (spec.tokens_per_obs - 2, False)]:
        bumped = features.clone()
        bumped[:, 2, k] += 1.0
        out = wm.heads(bumped)
        for logits, ref in [(out.reward, base.reward), (out.done, base.done)]:
            changed = (logits - ref).abs().amax(dim=(0, 2)) > 1e-6  # (L,)
            assert changed.tolist() == [False, False, expect_change, False]


def naive_losses(wm: WorldModel, pred, tokens, rewards, ends, mask, context: int):
    """Reference loss terms and priority, one sample and step at a time, float64 log-softmax by hand."""
    B, L = mask.shape
    vocabs = wm.obs_heads.vocabs
    hl = wm.reward_head.hl_gauss
    obs_sum, obs_n, rew_sum, end_sum, steps = 0.0, 0, 0.0, 0.0, 0
    priority = []
    for b in range(B):
        o_sum, o_n, r_sum, r_n = 0.0, 0, 0.0, 0
        for t in range(L):
            if mask[b, t] and t >= context:
                for name, logits in pred.obs.items():
                    for i in range(logits.shape[2]):
                        parts = torch.split(logits[b, t, i], list(vocabs[name]))
                        target = tokens[name][b, t, i].reshape(-1)
                        o_sum += sum(-torch.log_softmax(p, 0)[target[f]].item() for f, p in enumerate(parts))
                        o_n += 1
            if t + 1 < L and mask[b, t] and mask[b, t + 1]:
                y = math.copysign(math.log1p(abs(rewards[b, t].item())), rewards[b, t].item())
                cdf = [0.5 * (1 + math.erf((e - y) / (hl.sigma * math.sqrt(2)))) for e in hl.edges.tolist()]
                p = [(cdf[i + 1] - cdf[i]) / (cdf[-1] - cdf[0]) for i in range(len(cdf) - 1)]
                logq = torch.log_softmax(pred.reward[b, t + 1], 0).tolist()
                r_ce = -sum(pi * qi for pi, qi in zip(p, logq))
                r_sum, r_n = r_sum + r_ce, r_n + 1
                end_sum += -torch.log_softmax(pred.done[b, t + 1], 0)[ends[b, t]].item()
        obs_sum, obs_n, rew_sum, steps = obs_sum + o_sum, obs_n + o_n, rew_sum + r_sum, steps + r_n
        priority.append(o_sum / o_n + r_sum / r_n)
    return obs_sum / obs_n, rew_sum / steps, end_sum / steps, torch.tensor(priority, dtype=torch.float64)


@pytest.mark.parametrize("context", [1, 2])
def test_loss_terms_and_priority_match_naive_reference(context):
    """Obs CE on valid blocks t ≥ c per token (token_2d cell = sum of its column CEs); r_t and d_t from
    block t+1 (D1) on pairs with t and t+1 valid; priority = mean obs CE + mean reward CE per sample."""
    spec = make_spec(ACTIONS[1])
    wm = make_model(spec, context=context).eval()
    B, L = 4, 5
    tokens, actions, rewards, ends, codebook = random_segment(spec, B, L)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, 3:] = False
    mask[3, 4:] = False
    out = wm.compute_loss(tokens, actions, rewards, ends, mask, codebook)
    pred = wm(tokens, actions, codebook)
    ref_obs, ref_rew, ref_end, ref_priority = naive_losses(wm, pred, tokens, rewards, ends, mask, context)
    assert out.metrics["loss_obs"].item() == pytest.approx(ref_obs, abs=1e-9)
    assert out.metrics["loss_rewards"].item() == pytest.approx(ref_rew, abs=1e-9)
    assert out.metrics["loss_ends"].item() == pytest.approx(ref_end, abs=1e-9)
    torch.testing.assert_close(out.priority, ref_priority, atol=1e-9, rtol=0)
    total = sum(out.metrics[k] for k in ("loss_obs", "loss_rewards", "loss_ends", "curiosity_loss"))
    torch.testing.assert_close(out.loss.detach(), total)


def test_priority_equals_the_loss_of_each_sample_alone():
    spec = make_spec(ACTIONS[0])
    wm = make_model(spec).eval()
    B, L = 4, 5
    tokens, actions, rewards, ends, codebook = random_segment(spec, B, L)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[2, 3:] = False
    out = wm.compute_loss(tokens, actions, rewards, ends, mask, codebook)
    for b in range(B):
        alone = wm.compute_loss(at(tokens, slice(b, b + 1)), actions[b : b + 1], rewards[b : b + 1],
                                ends[b : b + 1], mask[b : b + 1], codebook)
        expected = alone.metrics["loss_obs"] + alone.metrics["loss_rewards"]
        torch.testing.assert_close(out.priority[b], expected, atol=1e-9, rtol=0)
    assert not out.priority.requires_grad


def test_padding_and_context_blocks_carry_no_loss():
    """Perturbing targets of padded steps and of blocks t < c leaves every loss term unchanged; perturbing
    a scored target changes it."""
    spec = make_spec(ACTIONS[0])
    wm = make_model(spec, context=2).eval()
    B, L = 4, 5
    tokens, actions, rewards, ends, codebook = random_segment(spec, B, L)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[0, 3:] = False
    pred = wm(tokens, actions, codebook)
    wm.forward = lambda *args, **kwargs: pred  # fix the predictions: only the targets change below
    base = wm.compute_loss(tokens, actions, rewards, ends, mask, codebook).metrics

    def shifted(index) -> dict:
        out = {name: t.clone() for name, t in tokens.items()}
        for name, t in out.items():
            vocab = IMAGE_VOCAB if name == "image" else 125 if name == "vector" else 3
            t[index] = (t[index] + 1) % vocab
        return out

    unscored_rewards, unscored_ends = rewards.clone(), ends.clone()
    unscored_rewards[0, 2:] += 5.0  # pair (2, 3) has step 3 padded
    unscored_ends[0, 2:] = 1 - unscored_ends[0, 2:]
    unscored_rewards[:, L - 1] += 5.0  # the last step has no next block
    for new_tokens, new_rewards, new_ends in [
        (shifted((slice(None), slice(0, 2))), rewards, ends),  # blocks t < c
        (shifted((0, slice(3, None))), rewards, ends),  # padding
        (tokens, unscored_rewards, unscored_ends),
    ]:
        metrics = wm.compute_loss(new_tokens, actions, new_rewards, new_ends, mask, codebook).metrics
        for key in base:
            torch.testing.assert_close(metrics[key], base[key], atol=0, rtol=0)
    scored = wm.compute_loss(shifted((1, 2)), actions, rewards, ends, mask, codebook).metrics
    assert abs(scored["loss_obs"] - base["loss_obs"]) > 1e-6


def test_codebook_gets_no_gradient_and_token_2d_cells_embed_as_column_means():
    spec = make_spec(ACTIONS[1])
    wm = make_model(spec)
    tokens, actions, rewards, ends, codebook = random_segment(spec, 4, 3)
    codebook.requires_grad_(True)
    wm.compute_loss(tokens, actions, rewards, ends, torch.ones(4, 3, dtype=torch.bool), codebook).loss.backward()
    assert codebook.grad is None
    assert wm.embedder.image_proj.weight.grad is not None  # image_embed_dim 6 ≠ d 16: Linear map to d
    emb = wm.embedder.obs(tokens, codebook)  # (B, L, K, d)
    tables = wm.embedder.embeddings["token_2d"]
    cell = tokens["token_2d"][1, 2, 1]
    expected = sum(tables[f].weight[cell[f]] for f in range(3)) / 3
    torch.testing.assert_close(emb[1, 2, -1], expected)
    torch.testing.assert_close(emb[1, 2, :4], wm.embedder.image_proj(codebook[tokens["image"][1, 2]]))
    levels = wm.embedder.actions(torch.tensor([[-1.0, 1.0]], dtype=torch.float64))  # shared 51-level table
    torch.testing.assert_close(levels[0], wm.embedder.action_embedding.weight[[0, 50]])


@pytest.mark.parametrize("action", ACTIONS, ids=["discrete", "continuous"])
def test_imagine_step_outputs(action):
    spec = make_spec(action)
    wm = make_model(spec, dtype=torch.float32).eval()
    B, c = 8, 2
    tokens, actions, _, _, codebook = random_segment(spec, B, 4, dtype=torch.float32)
    state = wm.imagine_reset(at(tokens, (slice(None), slice(0, c))), actions[:, : c - 1], codebook.float())
    for step in range(3):
        out = wm.imagine_step(state, actions[:, step], codebook.float())
        state = out.state
        assert state.position == (c + step) * spec.tokens_per_block
        for name, t in tokens.items():
            assert out.tokens[name].shape == t[:, 0].shape and out.tokens[name].dtype == torch.int64
        for f, v in enumerate((5, 3, 4)):
            assert int(out.tokens["token_2d"][..., f].max()) < v
        assert out.reward.shape == (B,) and out.done.shape == (B,) and out.done.dtype == torch.bool
        assert out.intrinsic.shape == (B,) and bool((out.intrinsic >= -1e-6).all())
        assert torch.equal(state.pending, wm.embedder.obs(out.tokens, codebook.float()))


def test_adamw_steps_reduce_the_loss():
    spec = make_spec(ACTIONS[0])
    wm = make_model(spec, dtype=torch.float32).train()
    tokens, actions, rewards, ends, codebook = random_segment(spec, 4, 5, dtype=torch.float32)
    mask = torch.ones(4, 5, dtype=torch.bool)
    opt = adamw(wm, lr=1e-2, weight_decay=0.05)
    metrics = []
    for _ in range(10):
        out = wm.compute_loss(tokens, actions, rewards, ends, mask, codebook)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        metrics.append(out.metrics)
    assert metrics[-1]["total_loss"] < 0.75 * metrics[0]["total_loss"]
    for key in ("loss_obs", "loss_rewards", "curiosity_loss"):
        assert metrics[-1][key] < metrics[0][key]


def test_done_head_trains_on_terminal_steps():
    """ends[t] = 1 is scored against block t+1 (the stored final obs, §7.2): CE of F.cross_entropy."""
    spec = make_spec(ACTIONS[0])
    wm = make_model(spec).eval()
    tokens, actions, rewards, _, codebook = random_segment(spec, 1, 3)
    ends = torch.tensor([[0, 1, 0]])
    mask = torch.ones(1, 3, dtype=torch.bool)
    done = wm(tokens, actions, codebook).done
    expected = (F.cross_entropy(done[0, 1], ends[0, 0]) + F.cross_entropy(done[0, 2], ends[0, 1])) / 2
    out = wm.compute_loss(tokens, actions, rewards, ends, mask, codebook)
    torch.testing.assert_close(out.metrics["loss_ends"], expected.detach())
