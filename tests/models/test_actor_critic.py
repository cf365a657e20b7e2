"""Tests of the latent-space actor-critic (design §6.1, §6.3, §11 D3, D7)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec
from m3.models.actor_critic import ActorCritic, ActorCriticConfig, ActorCriticState

EMBED, GRID = 8, 2  # tiny image code maps (B, 8, 2, 2)


def multimodal_spec(action: ActionSpec) -> EnvSpec:
    return EnvSpec(
        observations={
            "image": ModalitySpec((3, 16, 16)),
            "vector": ModalitySpec((5,)),
            "token": ModalitySpec((2,), (4,)),
            "token_2d": ModalitySpec((3, 3), (3, 2, 4)),
        },
        action=action,
    )


def tiny_actor_critic(action: ActionSpec, separate: bool = False, actions_in: bool = True) -> ActorCritic:
    torch.manual_seed(0)
    cfg = ActorCriticConfig(obs_mlp_layer_sizes=[16, 12], separate_networks=separate, include_action_inputs=actions_in,
                           num_value_bins=16, tokens_embed_dim=4, n_action_quant_levels=5)
    return ActorCritic(cfg, multimodal_spec(action), image_embed_dim=EMBED, image_grid=GRID)


def random_inputs(*lead: int, seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.randn(*lead, EMBED, GRID, GRID, generator=g),
        "vector": torch.randn(*lead, 5, generator=g),
        "token": torch.randint(4, (*lead, 2), generator=g),
        "token_2d": torch.stack([torch.randint(v, (*lead, 3), generator=g) for v in (3, 2, 4)], dim=-1),
    }


def random_actions(action: ActionSpec, *lead: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    if action.kind == "discrete":
        return torch.randint(action.n, lead, generator=g)
    return torch.linspace(-1, 1, 5)[torch.randint(5, (*lead, action.n), generator=g)]


def assert_rows_close(state, ref, row: int) -> None:
    """Row `row` of every (h, c) of `state` equals the single-row state `ref`."""
    assert (state.critic is None) == (ref.critic is None)
    for got, want in zip(state, ref):
        if got is not None:
            torch.testing.assert_close(got[0][row : row + 1], want[0], atol=1e-6, rtol=1e-5)
            torch.testing.assert_close(got[1][row : row + 1], want[1], atol=1e-6, rtol=1e-5)


ACTIONS = [ActionSpec("discrete", 3), ActionSpec("continuous", 2)]


def test_atari_parameter_count_matches_hand_count():
    spec = EnvSpec(observations={"image": ModalitySpec((3, 64, 64))}, action=ActionSpec("discrete", 18))
    model = ActorCritic(ActorCriticConfig(), spec)
    convs = (256 * 128 * 9 + 128) + (128 * 64 * 9 + 64)
    fuser = 4096 * 512 + 512 + 2 * 512  # Linear + LayerNorm
    lstm = 4 * 512 * (512 + 512) + 2 * 4 * 512
    heads = (512 * 18 + 18) + (512 * 129 + 129) + 18 * 512  # actor, critic, action embedding
    assert sum(p.numel() for p in model.parameters()) == convs + fuser + lstm + heads  # ≈ 4.65M (design §5.6)


def test_fuser_ends_with_layernorm_silu():
    model = tiny_actor_critic(ACTIONS[0])
    fuser = model.trunk.fuser
    assert [type(m) for m in fuser] == [nn.Linear, nn.LayerNorm, nn.SiLU] * 2
    # image 8→4→2 channels × 2×2 = 8, vector 5, token 2×4 = 8, token_2d 3 cells × 4 = 12
    assert fuser[0].in_features == 8 + 5 + 8 + 12


def test_encoders_match_hand_computation():
    """Concatenated in modality order: image convs, vector identity, token embeddings, token_2d cell means."""
    model = tiny_actor_critic(ACTIONS[0])
    enc = model.trunk.encoder
    inputs = random_inputs(3)
    out = enc(inputs)
    conv1, conv2 = enc.image[0], enc.image[2]
    x = F.silu(F.conv2d(inputs["image"], conv1.weight, conv1.bias, stride=1, padding=1))  # (3, 4, 2, 2)
    x = F.silu(F.conv2d(x, conv2.weight, conv2.bias, stride=1, padding=1))  # (3, 2, 2, 2)
    torch.testing.assert_close(out[:, :8], x.flatten(1))
    table = enc.token_2d.weight.detach().double()
    grid = inputs["token_2d"]
    expected = torch.zeros(3, 3, 4, dtype=torch.float64)
    for b in range(3):
        for cell in range(3):
            rows = [table[grid[b, cell, 0]], table[grid[b, cell, 1] + 3], table[grid[b, cell, 2] + 5]]
            expected[b, cell] = sum(rows) / 3
    torch.testing.assert_close(out[:, -12:].double(), expected.flatten(1), atol=1e-6, rtol=1e-6)
    token_table = enc.token.weight.detach()
    torch.testing.assert_close(out[:, 13:21], token_table[inputs["token"]].flatten(1))
    torch.testing.assert_close(out[:, 8:13], inputs["vector"])


def keep_rows(mask: torch.Tensor, new: ActorCriticState, old: ActorCriticState) -> ActorCriticState:
    """Per row: `new` where mask (B,) is True, else `old`."""

    def pick(a, b):
        return None if a is None else tuple(torch.where(mask[:, None], x, y) for x, y in zip(a, b))

    return ActorCriticState(pick(new.actor, old.actor), pick(new.critic, old.critic))


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("separate", [False, True])
def test_burn_in_equals_acting_steps_and_skips_padding(action, separate):
    model = tiny_actor_critic(action, separate)
    B, L, pad = 3, 5, 2
    inputs, actions = random_inputs(B, L), random_actions(action, B, L)
    mask = torch.ones(B, L, dtype=torch.bool)
    mask[1, :pad] = False  # row 1 is left-padded
    state = model.burn_in(inputs, actions, mask)
    for b in range(B):
        start = pad if b == 1 else 0
        ref = model.initial_state(1)
        for t in range(start, L):
            _, _, ref = model.obs_logits({k: v[b : b + 1, t] for k, v in inputs.items()}, ref)
            ref = model.action_step(actions[b : b + 1, t], ref)
        assert_rows_close(state, ref, b)
    # the padded row equals the same transitions without padding
    unpadded = model.burn_in({k: v[1:2, pad:] for k, v in inputs.items()}, actions[1:2, pad:], mask[1:2, pad:])
    assert_rows_close(state, unpadded, 1)
    # then the first obs step continues identically from either state
    nxt = {k: v[:, -1] for k, v in inputs.items()}
    _, v_burn, _ = model.obs_logits(nxt, state)
    ref = model.initial_state(B)
    for t in range(L):
        _, _, stepped = model.obs_logits({k: v[:, t] for k, v in inputs.items()}, ref)
        stepped = model.action_step(actions[:, t], stepped)
        ref = keep_rows(mask[:, t], stepped, ref)
    _, v_ref, _ = model.obs_logits(nxt, ref)
    torch.testing.assert_close(v_burn, v_ref, atol=1e-5, rtol=1e-5)


def test_separate_networks_have_their_own_trunk():
    shared, separate = tiny_actor_critic(ACTIONS[0]), tiny_actor_critic(ACTIONS[0], separate=True)
    assert shared.critic_trunk is None and shared.initial_state(2).critic is None
    assert separate.critic_trunk is not separate.trunk and separate.initial_state(2).critic[0].shape == (2, 12)
    # the value reads the critic trunk only: changing the actor trunk leaves it unchanged
    inputs, state = random_inputs(2), separate.initial_state(2)
    _, v0, _ = separate.obs_logits(inputs, state)
    with torch.no_grad():
        separate.trunk.fuser[0].weight.add_(1.0)
    _, v1, _ = separate.obs_logits(inputs, state)
    torch.testing.assert_close(v0, v1)


def test_without_action_inputs_action_step_is_identity():
    model = tiny_actor_critic(ACTIONS[0], actions_in=False)
    state = model.initial_state(2)
    _, _, state = model.obs_logits(random_inputs(2), state)
    assert model.action_step(torch.tensor([0, 2]), state) is state


def test_continuous_log_prob_entropy_and_grid_samples():
    model = tiny_actor_critic(ACTIONS[1])
    policy, _, _ = model.obs_logits(random_inputs(4), model.initial_state(4))
    assert policy.logits.shape == (4, 2, 5)
    actions = policy.sample(generator=torch.Generator().manual_seed(0))
    levels = np.linspace(-1, 1, 5)
    assert actions.shape == (4, 2)
    assert np.isin(actions.numpy().astype(np.float64).round(6), levels.round(6)).all()
    logits = policy.logits.detach().double().numpy()
    for b in range(4):
        per_dim, ent = [], []
        for d in range(2):
            z = logits[b, d] - logits[b, d].max()
            logp = z - math.log(np.exp(z).sum())
            per_dim.append(logp[int(np.argmin(np.abs(levels - actions[b, d].item())))])
            ent.append(-(np.exp(logp) * logp).sum())
        assert policy.log_prob(actions)[b].item() == pytest.approx(np.mean(per_dim), abs=1e-5)
        assert policy.entropy()[b].item() == pytest.approx(np.mean(ent), abs=1e-5)


def test_discrete_log_prob_entropy_match_categorical():
    model = tiny_actor_critic(ACTIONS[0])
    policy, _, _ = model.obs_logits(random_inputs(6), model.initial_state(6))
    actions = torch.tensor([0, 1, 2, 2, 1, 0])
    ref = torch.distributions.Categorical(logits=policy.logits.double())
    torch.testing.assert_close(policy.log_prob(actions).double(), ref.log_prob(actions), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(policy.entropy().double(), ref.entropy(), atol=1e-6, rtol=1e-6)


def test_value_is_symexp_of_expected_bin_centre_and_bias_init():
    model = tiny_actor_critic(ACTIONS[0])
    edges = np.linspace(-15, 15, 18)  # 17 categories = num_value_bins + 1
    centres = (edges[:-1] + edges[1:]) / 2
    support = np.linspace(-15, 15, 17)  # §6.1: the bias init uses the support, not the bin centres
    np.testing.assert_allclose(model.critic_head.bias.detach().numpy(), -0.2 * np.abs(support), rtol=1e-6, atol=1e-7)
    _, value_logits, _ = model.obs_logits(random_inputs(3), model.initial_state(3))
    logits = value_logits.detach().double().numpy()
    p = np.exp(logits - logits.max(-1, keepdims=True))
    y = (p / p.sum(-1, keepdims=True) * centres).sum(-1)
    np.testing.assert_allclose(model.value(value_logits).detach().numpy(), np.sign(y) * np.expm1(np.abs(y)), rtol=1e-5)


@pytest.mark.parametrize("action", ACTIONS)
def test_act_state_equals_obs_then_action_step(action):
    model = tiny_actor_critic(action)
    inputs, state = random_inputs(4), model.initial_state(4)
    actions, new_state = model.act(inputs, state, temperature=0.5, generator=torch.Generator().manual_seed(3))
    _, _, ref = model.obs_logits(inputs, state)
    ref = model.action_step(actions, ref)
    torch.testing.assert_close(new_state.actor[0], ref.actor[0])
    torch.testing.assert_close(new_state.actor[1], ref.actor[1])


def test_epsilon_greedy_replaces_the_whole_batch_with_one_draw():
    torch.manual_seed(0)
    spec = EnvSpec(observations={"vector": ModalitySpec((3,))}, action=ActionSpec("discrete", 50))
    model = ActorCritic(ActorCriticConfig(obs_mlp_layer_sizes=[8]), spec)
    with torch.no_grad():  # a deterministic policy: always action 0
        model.actor_head.weight.zero_()
        model.actor_head.bias.fill_(-1e4)
        model.actor_head.bias[0] = 0.0
    inputs, state = {"vector": torch.randn(64, 3)}, model.initial_state(64)
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        assert (model.act(inputs, state, epsilon=0.0, generator=g)[0] == 0).all()
        assert (model.act(inputs, state, epsilon=1.0, generator=g)[0] != 0).float().mean() > 0.8
    zero_fractions = [(model.act(inputs, state, epsilon=0.5, generator=g)[0] == 0).float().mean().item()
                      for _ in range(40)]
    assert all(f == 1.0 or f < 0.2 for f in zero_fractions)  # never a per-sample mixture
    greedy = sum(f == 1.0 for f in zero_fractions)
    assert 5 < greedy < 35


def test_continuous_random_actions_lie_on_grid():
    model = tiny_actor_critic(ACTIONS[1])
    actions = model.random_actions(100, torch.Generator().manual_seed(0))
    assert actions.shape == (100, 2)
    grid = torch.linspace(-1, 1, 5)
    assert ((actions.unsqueeze(-1) - grid).abs().min(-1).values == 0).all()
    assert len(actions.unique()) == 5
