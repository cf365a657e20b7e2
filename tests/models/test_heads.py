"""World-model heads: obs CE and sampling, reward/termination heads, curiosity ensemble and JSD (§5.4, §5.5, D6)."""

import math

import pytest
import torch
from torch import nn

from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec
from m3.models.heads import (
    CuriosityEnsemble,
    ObservationHeads,
    RewardHead,
    jensen_shannon,
    obs_head,
    sample_tokens,
    termination_head,
    token_cross_entropy,
)
from m3.models.distributions import reward_hl_gauss, symexp


def entropy_by_hand(p: list[float]) -> float:
    return -sum(x * math.log(x) for x in p if x > 0)


def jsd_by_hand(members: list[list[float]]) -> float:
    mean = [sum(col) / len(members) for col in zip(*members)]
    return entropy_by_hand(mean) - sum(entropy_by_hand(p) for p in members) / len(members)


def test_jensen_shannon_known_values():
    assert jensen_shannon(torch.tensor([[1.0, 0.0], [0.0, 1.0]])).item() == pytest.approx(math.log(2))
    a, b = [0.5, 0.5], [0.9, 0.1]
    expected = -(0.7 * math.log(0.7) + 0.3 * math.log(0.3)) - 0.5 * (
        math.log(2) - (0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    )
    assert jensen_shannon(torch.tensor([a, b], dtype=torch.float64)).item() == pytest.approx(expected, abs=1e-12)
    assert jensen_shannon(torch.tensor([a, a, a])).item() == pytest.approx(0.0, abs=1e-7)


def grid_spec(cells: int = 1, vocabs=(2, 3)) -> EnvSpec:
    return EnvSpec({"token_2d": ModalitySpec((cells, len(vocabs)), vocabs)}, ActionSpec("discrete", 2))


def test_token_2d_intrinsic_reward_is_the_mean_of_per_column_jsds():
    """D6 on a known two-column example: column 0 members disagree, column 1 members agree."""
    ensemble = CuriosityEnsemble(grid_spec(), d=8, image_vocab=512, members=4)
    col0 = [[0.5, 0.5], [0.9, 0.1], [0.5, 0.5], [0.9, 0.1]]
    col1 = [0.2, 0.3, 0.5]
    with torch.no_grad():
        for member, p0 in zip(ensemble.members, col0):
            last = member.heads["token_2d"][-1]
            last.weight.zero_()
            last.bias.copy_(torch.cat([torch.tensor(p0).log(), torch.tensor(col1).log() + 2.0]))
    reward = ensemble.intrinsic_reward(torch.randn(3, 1, 8))
    expected = (jsd_by_hand(col0) + 0.0) / 2
    torch.testing.assert_close(reward, torch.full((3,), expected), atol=1e-6, rtol=0)
    # the official variant (one categorical over the 5 concatenated logits) gives another value
    joint = [torch.softmax(member.heads["token_2d"][-1].bias, 0).tolist() for member in ensemble.members]
    assert abs(jsd_by_hand(joint) - expected) > 1e-3


def test_intrinsic_reward_is_zero_when_members_agree():
    spec = EnvSpec(
        {"vector": ModalitySpec((3,)), "token_2d": ModalitySpec((2, 3), (5, 3, 4))}, ActionSpec("discrete", 2)
    )
    ensemble = CuriosityEnsemble(spec, d=8, image_vocab=512)
    for member in ensemble.members[1:]:
        member.load_state_dict(ensemble.members[0].state_dict())
    torch.testing.assert_close(ensemble.intrinsic_reward(torch.randn(5, 5, 8)), torch.zeros(5), atol=1e-6, rtol=0)


def test_intrinsic_reward_averages_tokens_and_sums_modalities():
    spec = EnvSpec(
        {"token": ModalitySpec((2,), (3,)), "token_2d": ModalitySpec((2, 2), (2, 3))}, ActionSpec("discrete", 2)
    )
    torch.manual_seed(0)
    ensemble = CuriosityEnsemble(spec, d=8, image_vocab=512).double()
    features = torch.randn(2, 4, 8, dtype=torch.float64)
    logits = [member(features) for member in ensemble.members]
    expected = []
    for b in range(2):
        total = 0.0
        for name, vocabs in [("token", (3,)), ("token_2d", (2, 3))]:
            per_token = []
            for i in range(2):
                per_column = []
                for f, (lo, v) in enumerate(zip([0, vocabs[0]], vocabs)):
                    members = [torch.softmax(m[name][b, i, lo : lo + v], 0).tolist() for m in logits]
                    per_column.append(jsd_by_hand(members))
                per_token.append(sum(per_column) / len(per_column))
            total += sum(per_token) / len(per_token)
        expected.append(total)
    torch.testing.assert_close(ensemble.intrinsic_reward(features), torch.tensor(expected, dtype=torch.float64))


def test_token_2d_cross_entropy_sums_columns_and_sampling_is_per_column():
    logits = torch.randn(4, 2 + 3, dtype=torch.float64)
    targets = torch.tensor([[0, 2], [1, 0], [1, 1], [0, 0]])
    expected = [
        -torch.log_softmax(logits[i, :2], 0)[targets[i, 0]] - torch.log_softmax(logits[i, 2:], 0)[targets[i, 1]]
        for i in range(4)
    ]
    torch.testing.assert_close(token_cross_entropy(logits, targets, (2, 3)), torch.stack(expected))
    peaked = torch.full((6, 5), -1e4)
    peaked[:, 1] = 0.0  # column 0 → 1
    peaked[:, 2 + 2] = 0.0  # column 1 → 2
    assert sample_tokens(peaked, (2, 3)).tolist() == [[1, 2]] * 6
    assert sample_tokens(peaked[:, :2], (2,)).tolist() == [1] * 6


def test_observation_heads_layout():
    spec = EnvSpec(
        {"image": ModalitySpec((3, 16, 16)), "vector": ModalitySpec((3,)), "token_2d": ModalitySpec((2, 2), (4, 6))},
        ActionSpec("discrete", 2),
    )
    heads = ObservationHeads(spec, d=8, image_vocab=11)
    assert heads.vocabs == {"image": (11,), "vector": (125,), "token_2d": (4, 6)}
    assert heads.slices == {"image": slice(0, 4), "vector": slice(4, 7), "token_2d": slice(7, 9)}
    out = heads(torch.randn(2, 5, 9, 8))
    assert {n: tuple(t.shape) for n, t in out.items()} == {
        "image": (2, 5, 4, 11),
        "vector": (2, 5, 3, 125),
        "token_2d": (2, 5, 2, 10),
    }
    layers = [type(m) for m in obs_head(8, 10)]
    assert layers == [nn.Linear, nn.LayerNorm, nn.SiLU, nn.Linear] and obs_head(8, 10)[0].out_features == 16
    assert [type(m) for m in termination_head(8)] == [nn.Linear, nn.LayerNorm, nn.SiLU, nn.Linear]
    assert termination_head(8)[0].out_features == 8 and termination_head(8)[-1].out_features == 2


def test_ensemble_members_train_on_disjoint_slices_of_detached_features():
    spec = EnvSpec({"token": ModalitySpec((2,), (3,))}, ActionSpec("discrete", 2))
    torch.manual_seed(0)
    ensemble = CuriosityEnsemble(spec, d=8, image_vocab=512).double()
    features = torch.randn(8, 3, 2, 8, dtype=torch.float64, requires_grad=True)  # (B, L, K, d)
    targets = {"token": torch.randint(0, 3, (8, 3, 2))}
    mask = torch.ones(8, 3, dtype=torch.bool)
    mask[:, 0] = False
    loss = ensemble.loss(features, targets, mask)
    summed = 0.0
    for i, member in enumerate(ensemble.members):
        rows = slice(2 * i, 2 * i + 2)
        ce = token_cross_entropy(member(features[rows])["token"], targets["token"][rows], (3,))  # (2, L, K)
        summed = summed + ce[:, 1:].sum()
    torch.testing.assert_close(loss, summed / (2 * mask.sum()))
    loss.backward()
    assert features.grad is None

    def grads(t):
        ensemble.zero_grad()
        ensemble.loss(features, {"token": t}, mask).backward()
        return [member.heads["token"][0].weight.grad.clone() for member in ensemble.members]

    changed = targets["token"].clone()
    changed[0:2] = (changed[0:2] + 1) % 3  # member 0's slice only
    differs = [not torch.equal(a, b) for a, b in zip(grads(targets["token"]), grads(changed))]
    assert differs == [True, False, False, False]


def test_reward_head_bias_init_and_prediction():
    head = RewardHead(8, reward_hl_gauss())
    assert [type(m) for m in head.net] == [nn.Linear, nn.SiLU, nn.Linear] and head.net[0].out_features == 16
    bias = head.net[-1].bias.detach()
    high = math.log1p(math.expm1(15.0) / 100.0)  # ≈ 10.395
    assert bias.shape == (129,)
    assert bias[0].item() == pytest.approx(-0.2 * high, abs=1e-5)
    assert bias[-1].item() == pytest.approx(-0.2 * high, abs=1e-5)
    assert bias[64].item() == pytest.approx(0.0, abs=1e-7)
    support_32 = math.log1p(abs(math.expm1(abs(-15.0 + 30.0 * 32 / 128))) / 100.0)
    assert bias[32].item() == pytest.approx(-0.2 * support_32, abs=1e-5)
    logits = torch.full((129,), -1e4)
    logits[100] = 0.0
    centre = head.hl_gauss.centres[100]
    assert head.predict(logits).item() == pytest.approx(symexp(centre).item(), rel=1e-5)


def test_sampled_tokens_are_the_draws_of_a_validated_categorical():
    logits = torch.randn(5, 3, 7 + 4)  # two columns, vocabularies 7 and 4
    torch.manual_seed(3)
    got = sample_tokens(logits, (7, 4))
    torch.manual_seed(3)
    want = [torch.distributions.Categorical(logits=col, validate_args=True).sample()
            for col in (logits[..., :7], logits[..., 7:])]
    assert torch.equal(got, torch.stack(want, dim=-1))
