import math

import pytest
import torch
import torch.nn.functional as F

from m3.models.distributions import (
    HLGauss,
    reward_hl_gauss,
    reward_support,
    support_bias_init,
    symexp,
    symlog,
    value_hl_gauss,
    value_support,
)


def naive_targets(y: float, edges: list[float], sigma: float) -> list[float]:
    """§5.4 in float64 with math.erf, one bin at a time, over the given bin edges."""
    y = min(max(y, edges[0]), edges[-1])
    phi = lambda e: 0.5 * (1.0 + math.erf((e - y) / (sigma * math.sqrt(2.0))))  # noqa: E731
    z = phi(edges[-1]) - phi(edges[0])
    return [(phi(edges[i + 1]) - phi(edges[i])) / z for i in range(len(edges) - 1)]


def float32(x: float) -> float:
    return float(torch.tensor(x, dtype=torch.float32))


def test_symlog_hand_values_and_inverse():
    x = torch.tensor([0.0, math.e - 1, -(math.e**2 - 1)], dtype=torch.float64)
    torch.testing.assert_close(symlog(x), torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64))
    r = torch.linspace(-300.0, 300.0, 1001, dtype=torch.float64)
    torch.testing.assert_close(symexp(symlog(r)), r)
    torch.testing.assert_close(symlog(symexp(r / 30)), r / 30)


def test_reward_support_and_sigma():
    d = reward_hl_gauss()
    assert d.num_bins == 129
    assert d.high == pytest.approx(10.395, abs=1e-3) and d.low == -d.high
    assert d.high == float32(math.log(1 + (math.exp(15) - 1) / 100))  # float32 constants, as the official code
    assert (d.high - d.low) / 129 == pytest.approx(0.1612, abs=1e-4)
    assert d.sigma == 0.75 * float32(d.edges[1].item() - d.edges[0].item()) == pytest.approx(0.121, abs=1e-3)
    assert d.edges.shape == (130,) and d.centres.shape == (129,)
    assert d.edges.dtype == torch.float32
    torch.testing.assert_close(d.edges, torch.linspace(d.low, d.high, 130, dtype=torch.float32), rtol=0, atol=0)


def test_centres_follow_the_edges_dtype():
    """Bin centres are midpoints of the float32 edges in the compute dtype (exact in float64)."""
    d = value_hl_gauss().double()
    edges = torch.linspace(-15.0, 15.0, 130, dtype=torch.float32).double()
    assert torch.equal(d.centres, (edges[:-1] + edges[1:]) / 2)


def test_value_support_and_sigma():
    d = value_hl_gauss()
    assert (d.low, d.high, d.num_bins) == (-15.0, 15.0, 129)
    assert d.sigma == pytest.approx(0.174, abs=1e-3)
    torch.testing.assert_close(d.edges, torch.linspace(-15, 15, 130))
    torch.testing.assert_close(d.centres[:2], torch.tensor([-15 + 15 / 129, -15 + 45 / 129]))


@pytest.mark.parametrize("make", [reward_hl_gauss, value_hl_gauss, lambda: HLGauss(-1.0, 3.0, 7, 1.3)])
def test_targets_match_naive_float64(make):
    d = make()
    ys = [d.low - 5.0, d.low, d.low + 0.013, -0.4, 0.0, 0.77, d.high - 0.3, d.high, d.high + 100.0]
    got = d.targets(torch.tensor(ys))
    assert got.shape == (len(ys), d.num_bins)
    for row, y in zip(got, ys):
        ref = torch.tensor(naive_targets(y, d.edges.tolist(), d.sigma))
        torch.testing.assert_close(row, ref.float(), atol=2e-6, rtol=0)
    torch.testing.assert_close(got.sum(-1), torch.ones(len(ys)))


def test_targets_keep_leading_dims_and_clamp():
    d = value_hl_gauss()
    y = torch.randn(2, 3, 4) * 20
    p = d.targets(y)
    assert p.shape == (2, 3, 4, 129)
    torch.testing.assert_close(p, d.targets(y.clamp(-15, 15)))


@pytest.mark.parametrize("make, bound", [(reward_hl_gauss, 9.5), (value_hl_gauss, 14.0)])
def test_expectation_recovers_y_inside_support(make, bound):
    d = make()
    y = torch.linspace(-bound, bound, 997)
    logits = torch.log(d.targets(y))
    assert (d.expectation(logits) - y).abs().max() < 1e-3


def test_loss_is_soft_cross_entropy():
    d = HLGauss(-2.0, 2.0, 16)
    logits = torch.randn(5, 3, 16, dtype=torch.float64)
    y = torch.rand(5, 3) * 5 - 2.5
    targets = torch.tensor(
        [[naive_targets(float(v), d.edges.tolist(), d.sigma) for v in row] for row in y], dtype=torch.float64
    )
    ref = F.cross_entropy(logits.reshape(-1, 16), targets.reshape(-1, 16), reduction="none").reshape(5, 3)
    torch.testing.assert_close(d.loss(logits.float(), y), ref.float(), atol=1e-5, rtol=1e-5)


def test_bias_init_hand_example():
    torch.testing.assert_close(support_bias_init(torch.tensor([-3.0, 0.0, 2.0])), torch.tensor([-0.6, 0.0, -0.4]))
    support = value_support(129)
    assert support[0] == -15.0 and support[64] == 0.0 and support[1] == pytest.approx(-15 + 30 / 128)
    high = math.log1p(math.expm1(15.0) / 100.0)
    torch.testing.assert_close(reward_support(129)[[0, 64, 128]], torch.tensor([-high, 0.0, high], dtype=torch.float64))


def test_buffers_move_with_module():
    d = value_hl_gauss().to(torch.float64)
    assert d.edges.dtype == torch.float64 and d.centres.dtype == torch.float64
    assert dict(d.state_dict()) == {}
