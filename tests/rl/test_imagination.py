"""Tests of imagination training (design §6.2, §11 D2, D3) on tiny real tokenizers, world models and actor-critics."""

import math

import numpy as np
import pytest
import torch

from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec
from m3.models.actor_critic import ActorCritic, ActorCriticConfig
from m3.models.retnet import RetNetConfig
from m3.models.tokenizers import ImageTokenizerConfig, MultiModalTokenizer
from m3.models.world_model import WorldModel, WorldModelConfig
from m3.rl.imagination import ImaginationConfig, Trajectory, actor_critic_loss, imagine, segment_indices
from m3.rl.returns import ReturnScaler

IMAGE_CFG = ImageTokenizerConfig(vocab_size=16, embed_dim=8, channels_first_layer=8, resolution=16,
                                 norm_num_groups=4, perceptual_loss=False)


def tiny_world_model(spec: EnvSpec, c: int, horizon: int) -> WorldModel:
    retnet = RetNetConfig(num_layers=1, num_heads=1, embed_dim=16, blocks_per_chunk=2, max_blocks=horizon)
    return WorldModel(WorldModelConfig(retnet=retnet, context_length=c), spec, image_vocab=16, image_embed_dim=8)


def tiny_actor_critic(spec: EnvSpec, separate: bool = False) -> ActorCritic:
    cfg = ActorCriticConfig(obs_mlp_layer_sizes=[16], separate_networks=separate, num_value_bins=16, tokens_embed_dim=4)
    return ActorCritic(cfg, spec, image_embed_dim=8, image_grid=2)


def left_padded_mask(B: int, L: int, pads: list[int]) -> torch.Tensor:
    mask = torch.ones(B, L, dtype=torch.bool)
    for b, pad in enumerate(pads):
        mask[b, :pad] = False
    return mask


# --- D2 / D3: what imagine() feeds the actor-critic and the world model --------------------------------------------


class RecordingActorCritic(ActorCritic):
    """The real actor-critic, recording its burn-in arguments and the first obs step's input and state."""

    def burn_in(self, inputs, actions, mask_padding):
        self.burn_in_args = (inputs, actions, mask_padding)
        self.burn_in_state = super().burn_in(inputs, actions, mask_padding)
        return self.burn_in_state

    def obs_logits(self, inputs, state):
        if not hasattr(self, "first_input"):
            self.first_input, self.first_state = inputs, state
        return super().obs_logits(inputs, state)


class RecordingWorldModel(WorldModel):
    """The real world model, recording its imagination context."""

    def imagine_reset(self, context_tokens, context_actions, codebook=None):
        self.context = (context_tokens, context_actions)
        return super().imagine_reset(context_tokens, context_actions, codebook)


@pytest.mark.parametrize("c", [1, 2])
def test_d2_indices_and_d3_burn_in_on_a_toy_segment(c):
    torch.manual_seed(0)
    L, B, horizon = 6, 2, 4
    spec = EnvSpec(observations={"token": ModalitySpec((1,), (L,))}, action=ActionSpec("discrete", L))
    tokenizer = MultiModalTokenizer(spec)
    world_model = RecordingWorldModel(WorldModelConfig(
        retnet=RetNetConfig(num_layers=1, num_heads=1, embed_dim=16, blocks_per_chunk=2, max_blocks=horizon),
        context_length=c), spec)
    actor_critic = RecordingActorCritic(ActorCriticConfig(obs_mlp_layer_sizes=[8], tokens_embed_dim=4), spec)
    steps = torch.arange(L).expand(B, L)  # o_t = token t, a_t = action t
    mask = left_padded_mask(B, L, [0, 1])
    batch = {"obs": {"token": steps.unsqueeze(-1)}, "actions": steps.clone(), "rewards": torch.zeros(B, L),
             "ends": torch.zeros(B, L, dtype=torch.long), "mask_padding": mask, "ids": [(0, 0), (1, 0)]}
    traj = imagine(tokenizer, world_model, actor_critic, batch, ImaginationConfig(imagine_horizon=horizon), c)

    inputs, actions, burn_mask = actor_critic.burn_in_args
    assert inputs["token"][..., 0].tolist() == [list(range(L - 2))] * B  # o_0 .. o_{L−3}
    assert actions.tolist() == [list(range(L - 2))] * B  # a_0 .. a_{L−3}
    assert torch.equal(burn_mask, mask[:, : L - 2])
    context_tokens, context_actions = world_model.context
    assert context_tokens["token"][..., 0].tolist() == [list(range(L - 1 - c, L - 1))] * B  # o_{L−1−c} .. o_{L−2}
    assert context_actions.tolist() == [list(range(L - 1 - c, L - 2))] * B  # the c − 1 actions between
    assert actor_critic.first_input["token"][:, 0].tolist() == [L - 2] * B  # first policy input = last context obs
    assert actor_critic.first_input["token"][:, 0].tolist() == context_tokens["token"][:, -1, 0].tolist()
    assert traj.rewards.shape == (B, horizon - c + 1)

    # D3: the starting state equals acting through (o_0, a_0) .. (o_{L−3}, a_{L−3}), padded steps skipped
    for b, pad in enumerate([0, 1]):
        ref = actor_critic.initial_state(1)
        for t in range(pad, L - 2):
            _, _, ref = ActorCritic.obs_logits(actor_critic, {"token": torch.tensor([[t]])}, ref)
            ref = actor_critic.action_step(torch.tensor([t]), ref)
        torch.testing.assert_close(actor_critic.first_state.actor[0][b : b + 1], ref.actor[0], atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(actor_critic.first_state.actor[1][b : b + 1], ref.actor[1], atol=1e-6, rtol=1e-5)


def test_segment_indices_values():
    idx = segment_indices(22, 2)
    assert (idx.burn_in, idx.context_obs, idx.context_actions, idx.first_input) == (
        slice(0, 20), slice(19, 21), slice(19, 20), 20)
    with pytest.raises(ValueError):
        segment_indices(2, 2)


# --- the loss against a naive float64 computation ------------------------------------------------------------------


def naive_hl_gauss_ce(logits: np.ndarray, y: float, bins: int) -> float:
    edges = np.linspace(-15, 15, bins + 1)
    sigma = 0.75 * 30 / bins
    y = min(max(y, -15.0), 15.0)
    cdf = np.array([math.erf((e - y) / (sigma * math.sqrt(2))) for e in edges])
    p = (cdf[1:] - cdf[:-1]) / (cdf[-1] - cdf[0])
    z = logits - logits.max()
    return float(-(p * (z - math.log(np.exp(z).sum()))).sum())


def hand_made_trajectory(B: int = 3, H: int = 5, bins: int = 17) -> Trajectory:
    g = torch.Generator().manual_seed(0)
    return Trajectory(
        actions=torch.zeros(B, H, dtype=torch.long),
        log_probs=(-torch.rand(B, H, generator=g) * 2).requires_grad_(),
        entropies=(torch.rand(B, H, generator=g) * 2).requires_grad_(),
        value_logits=torch.randn(B, H, bins, generator=g).requires_grad_(),
        values=torch.randn(B, H, generator=g) * 3,
        rewards=torch.randn(B, H, generator=g) * 4,
        intrinsic_rewards=torch.rand(B, H, generator=g),
        dones=torch.rand(B, H, generator=g) < 0.2,
    )


@pytest.mark.parametrize("train_actor", [True, False])
def test_loss_matches_naive_float64(train_actor):
    cfg = ImaginationConfig(entropy_weight=0.01)
    traj = hand_made_trajectory()
    r, v, d = (x.detach().double().numpy() for x in (traj.rewards, traj.values, traj.dones))
    B, H = r.shape
    G = np.zeros((B, H))
    G[:, -1] = v[:, -1]
    for t in range(H - 2, -1, -1):
        G[:, t] = r[:, t] + cfg.gamma * (1 - d[:, t]) * ((1 - cfg.lambda_) * v[:, t + 1] + cfg.lambda_ * G[:, t + 1])
    G = G[:, :-1]
    earlier = torch.linspace(-20, 30, 40)  # already in the FIFO
    scaler = ReturnScaler(501)
    scaler.update(earlier)
    pooled = np.concatenate([earlier.double().numpy(), G.ravel()])
    scale = max(1.0, 0.5 * (np.percentile(pooled, 97.5) - np.percentile(pooled, 2.5)))
    assert scale > 1.0
    adv = (G - v[:, :-1]) / scale
    want_actor = -(traj.log_probs.detach().double().numpy()[:, :-1] * adv).mean()
    want_entropy = -cfg.entropy_weight * traj.entropies.detach().double().numpy()[:, :-1].mean()
    logits = traj.value_logits.detach().double().numpy()
    symlog_g = np.sign(G) * np.log1p(np.abs(G))
    want_values = np.mean([naive_hl_gauss_ce(logits[b, t], symlog_g[b, t], 17) for b in range(B) for t in range(H - 1)])

    loss, metrics = actor_critic_loss(traj, tiny_actor_critic(IMAGE_SPEC), cfg, scaler, train_actor=train_actor)
    assert len(scaler.buffer) == 2
    assert metrics["returns_scale_mean"] == pytest.approx(scale, rel=1e-5)
    assert metrics["loss_values"] == pytest.approx(want_values, rel=1e-5)
    assert metrics["returns_mean"] == pytest.approx(G.mean(), rel=1e-5)
    if train_actor:
        assert metrics["loss_actor"] == pytest.approx(want_actor, rel=1e-5)
        assert metrics["loss_entropy"] == pytest.approx(want_entropy, rel=1e-5)
        assert loss.item() == pytest.approx(want_actor + want_entropy + want_values, rel=1e-5)
    else:
        assert metrics["loss_actor"] == 0.0 and metrics["loss_entropy"] == 0.0
        assert loss.item() == pytest.approx(want_values, rel=1e-5)
    loss.backward()
    assert traj.value_logits.grad is not None and traj.value_logits.grad[:, -1].abs().sum() == 0  # last step bootstraps
    if train_actor:
        assert traj.log_probs.grad[:, :-1].abs().sum() > 0 and traj.entropies.grad[:, :-1].abs().sum() > 0
    else:
        assert traj.log_probs.grad is None and traj.entropies.grad is None


# --- end to end on tiny real modules -------------------------------------------------------------------------------


def image_batch(B: int, L: int, pads: list[int]) -> dict:
    g = torch.Generator().manual_seed(1)
    return {"obs": {"image": torch.randint(0, 256, (B, L, 3, 16, 16), generator=g, dtype=torch.uint8)},
            "actions": torch.randint(3, (B, L), generator=g), "rewards": torch.zeros(B, L),
            "ends": torch.zeros(B, L, dtype=torch.long), "mask_padding": left_padded_mask(B, L, pads),
            "ids": [(b, 0) for b in range(B)]}


def multimodal_batch(B: int, L: int, pads: list[int]) -> dict:
    g = torch.Generator().manual_seed(2)
    grid = torch.stack([torch.randint(v, (B, L, 3), generator=g) for v in (3, 2, 4)], dim=-1)
    return {"obs": {"vector": torch.randn(B, L, 4, generator=g) * 5, "token": torch.randint(4, (B, L, 1), generator=g),
                    "token_2d": grid},
            "actions": torch.linspace(-1, 1, 51)[torch.randint(51, (B, L, 2), generator=g)],
            "rewards": torch.zeros(B, L), "ends": torch.zeros(B, L, dtype=torch.long),
            "mask_padding": left_padded_mask(B, L, pads), "ids": [(b, 0) for b in range(B)]}


IMAGE_SPEC = EnvSpec(observations={"image": ModalitySpec((3, 16, 16))}, action=ActionSpec("discrete", 3))
MULTI_SPEC = EnvSpec(observations={"vector": ModalitySpec((4,)), "token": ModalitySpec((1,), (4,)),
                                   "token_2d": ModalitySpec((3, 3), (3, 2, 4))}, action=ActionSpec("continuous", 2))


END_TO_END = pytest.mark.parametrize("spec, make_batch, c, separate", [
    (IMAGE_SPEC, image_batch, 2, False),
    (MULTI_SPEC, multimodal_batch, 1, True),
])


def tiny_setup(spec, make_batch, c, separate, tokenizer_class=MultiModalTokenizer):
    """Seeded tiny modules and a left-padded batch of 4 segments: (cfg, tokenizer, world model, actor-critic, batch)."""
    torch.manual_seed(0)
    cfg = ImaginationConfig(burn_in=3, imagine_horizon=4, real_reward_weight=2.0, intrinsic_reward_weight=10.0)
    tokenizer = tokenizer_class(spec, IMAGE_CFG)
    world_model, actor_critic = tiny_world_model(spec, c, cfg.imagine_horizon), tiny_actor_critic(spec, separate)
    return cfg, tokenizer, world_model, actor_critic, make_batch(4, cfg.burn_in + c, [0, 1, 0, 2])


@END_TO_END
def test_end_to_end_gradients_only_on_actor_critic(spec, make_batch, c, separate):
    cfg, tokenizer, world_model, actor_critic, batch = tiny_setup(spec, make_batch, c, separate)
    traj = imagine(tokenizer, world_model, actor_critic, batch, cfg, c)
    horizon = cfg.imagine_horizon - c + 1
    assert traj.log_probs.shape == traj.rewards.shape == traj.dones.shape == (4, horizon)
    assert world_model.training and tokenizer.training  # modes restored
    loss, metrics = actor_critic_loss(traj, actor_critic, cfg, ReturnScaler(cfg.return_buffer_size), train_actor=True)
    loss.backward()
    assert torch.isfinite(loss) and all(math.isfinite(v) for v in metrics.values())
    assert metrics["imagined_intrinsic_rewards_mean"] > 0  # the ensemble members disagree at init
    assert all(p.grad is None for p in [*tokenizer.parameters(), *world_model.parameters()])
    grads = [p.grad for p in actor_critic.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert actor_critic.actor_head.weight.grad.abs().sum() > 0 and actor_critic.critic_head.weight.grad.abs().sum() > 0


# --- the rollout through the world-model env equals the direct WorldModel calls -----------------------------------


class RecordingTokenizer(MultiModalTokenizer):
    """The real tokenizer, recording the tokens the actor-critic's inputs are made from."""

    def codes(self, tokens):
        self.seen = [*getattr(self, "seen", []), tokens]
        return super().codes(tokens)


def direct_rollout(tokenizer, world_model, actor_critic, batch, cfg, c):
    """The reference: imagination as written before `WorldModelEnv`, calling `WorldModel.imagine_reset` and
    `imagine_step` directly. Returns the per-step sampled tokens, actions, rewards, intrinsic rewards, dones and
    value logits."""
    obs = {k: v[:, :-1] for k, v in batch["obs"].items()}
    idx = segment_indices(batch["mask_padding"].shape[1], c)
    codebook = tokenizer.image.codebook.weight.detach() if tokenizer.image is not None else None
    out = {k: [] for k in ("tokens", "actions", "rewards", "intrinsic", "dones", "value_logits")}
    tokenizer.eval(), world_model.eval()
    with torch.no_grad():
        tokens = tokenizer.tokenize(obs)
        codes = tokenizer.codes(tokens)
        burn_in = idx.burn_in
        state = actor_critic.burn_in({k: v[:, burn_in] for k, v in codes.items()}, batch["actions"][:, burn_in],
                                   batch["mask_padding"].bool()[:, burn_in])
        wm_state = world_model.imagine_reset({k: v[:, idx.context_obs] for k, v in tokens.items()},
                                             batch["actions"][:, idx.context_actions], codebook)
        inputs = {k: v[:, idx.first_input] for k, v in codes.items()}
        for _ in range(cfg.imagine_horizon - c + 1):
            policy, value_logits, state = actor_critic.obs_logits(inputs, state)
            action = policy.sample()
            state = actor_critic.action_step(action, state)
            step = world_model.imagine_step(wm_state, action, codebook)
            inputs, wm_state = tokenizer.codes(step.tokens), step.state
            out["tokens"].append(step.tokens)
            out["actions"].append(action)
            out["rewards"].append(cfg.real_reward_weight * step.reward + cfg.intrinsic_reward_weight * step.intrinsic)
            out["intrinsic"].append(step.intrinsic)
            out["dones"].append(step.done)
            out["value_logits"].append(value_logits)
    tokenizer.train(), world_model.train()
    return out


@END_TO_END
def test_imagine_equals_the_direct_world_model_calls_for_a_fixed_seed(spec, make_batch, c, separate):
    cfg, tokenizer, world_model, actor_critic, batch = tiny_setup(spec, make_batch, c, separate, RecordingTokenizer)
    torch.manual_seed(5)
    want = direct_rollout(tokenizer, world_model, actor_critic, batch, cfg, c)
    tokenizer.seen = []
    torch.manual_seed(5)
    traj = imagine(tokenizer, world_model, actor_critic, batch, cfg, c)
    sampled = tokenizer.seen[1:]  # the first call encodes the replayed segment
    assert len(sampled) == len(want["tokens"]) == cfg.imagine_horizon - c + 1
    for got, expected in zip(sampled, want["tokens"]):
        assert got.keys() == expected.keys() and all(torch.equal(got[k], expected[k]) for k in got)
    assert torch.equal(traj.actions, torch.stack(want["actions"], 1))
    assert torch.equal(traj.rewards, torch.stack(want["rewards"], 1))
    assert torch.equal(traj.intrinsic_rewards, torch.stack(want["intrinsic"], 1))
    assert torch.equal(traj.dones, torch.stack(want["dones"], 1))
    assert torch.equal(traj.value_logits.detach(), torch.stack(want["value_logits"], 1))
