import numpy as np
import pytest
import torch

from m3.rl.returns import ReturnScaler, lambda_returns


def naive_lambda_returns(rewards, values, dones, gamma, lam):
    """§6.2 in float64, one sample and one step at a time."""
    B, H = len(rewards), len(rewards[0])
    out = [[0.0] * H for _ in range(B)]
    for b in range(B):
        out[b][H - 1] = float(values[b][H - 1])
        for t in range(H - 2, -1, -1):
            boot = (1 - lam) * float(values[b][t + 1]) + lam * out[b][t + 1]
            out[b][t] = float(rewards[b][t]) + gamma * (1.0 - float(dones[b][t])) * boot
    return torch.tensor(out, dtype=torch.float64)


def test_hand_worked_three_steps():
    r = torch.tensor([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    v = torch.tensor([[10.0, 20.0, 30.0], [10.0, 20.0, 30.0]])
    d = torch.tensor([[False, False, False], [False, True, True]])
    # row 0: G2 = 30; G1 = 2 + .5(.5·30 + .5·30) = 17; G0 = 1 + .5(.5·20 + .5·17) = 10.25
    # row 1: G2 = 30 (done at the last step does not matter); G1 = 2 (done); G0 = 1 + .5(.5·20 + .5·2) = 6.5
    expected = torch.tensor([[10.25, 17.0, 30.0], [6.5, 2.0, 30.0]])
    torch.testing.assert_close(lambda_returns(r, v, d, gamma=0.5, lam=0.5), expected)


def test_matches_naive_loop_with_dones():
    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(6, 9, generator=g), torch.randn(6, 9, generator=g) * 3
    d = (torch.rand(6, 9, generator=g) < 0.2).float()
    got = lambda_returns(r, v, d, gamma=0.99, lam=0.95)
    torch.testing.assert_close(got.double(), naive_lambda_returns(r, v, d, 0.99, 0.95), atol=1e-5, rtol=1e-5)


def test_no_dones_equals_weighted_n_step_returns():
    """Without dones the recursion is the λ-weighted mix of n-step returns bootstrapped at the end."""
    g = torch.Generator().manual_seed(1)
    H, gamma, lam = 7, 0.9, 0.8
    r, v = torch.randn(1, H, generator=g, dtype=torch.float64), torch.randn(1, H, generator=g, dtype=torch.float64)
    got = lambda_returns(r, v, torch.zeros(1, H), gamma, lam)[0]

    def n_step(t, n):
        return sum(gamma**k * r[0, t + k] for k in range(n)) + gamma**n * v[0, t + n]

    for t in range(H - 1):
        N = H - 1 - t
        ref = (1 - lam) * sum(lam ** (n - 1) * n_step(t, n) for n in range(1, N)) + lam ** (N - 1) * n_step(t, N)
        assert float(got[t]) == pytest.approx(float(ref), rel=1e-10)
    assert float(got[-1]) == float(v[0, -1])


def test_scaler_matches_numpy_percentile():
    g = torch.Generator().manual_seed(2)
    s = ReturnScaler()
    chunks = [torch.randn(4, 5, generator=g) * 10 + i for i in range(6)] + [torch.randn(3, generator=g) * 10]
    for c in chunks:
        s.update(c)
    flat = np.concatenate([c.numpy().ravel() for c in chunks]).astype(np.float64)
    ref = 0.5 * (np.percentile(flat, 97.5) - np.percentile(flat, 2.5))
    assert ref > 1
    assert s.scale() == pytest.approx(ref, rel=1e-5)


def test_scaler_floor_is_one():
    s = ReturnScaler()
    assert s.scale() == 1.0
    s.update(torch.full((10,), 3.0) + torch.linspace(0, 0.1, 10))
    assert s.scale() == 1.0


def test_scaler_fifo_eviction_and_detach():
    s = ReturnScaler(capacity=3)
    chunks = [torch.arange(20.0, requires_grad=True) * (i + 1) for i in range(5)]
    for c in chunks:
        s.update(c)
    assert len(s.buffer) == 3 and not any(t.requires_grad for t in s.buffer)
    kept = np.concatenate([c.detach().numpy() for c in chunks[2:]])
    ref = 0.5 * (np.percentile(kept, 97.5) - np.percentile(kept, 2.5))
    assert s.scale() == pytest.approx(ref, rel=1e-6)
    chunks[-1].data.mul_(100)  # the stored copy must not follow the caller's tensor
    assert s.scale() == pytest.approx(ref, rel=1e-6)


def test_scaler_state_dict_round_trip():
    s = ReturnScaler(capacity=4)
    for i in range(6):
        s.update(torch.randn(8) * (i + 2))
    t = ReturnScaler()
    t.load_state_dict(s.state_dict())
    assert t.capacity == 4 and t.scale() == s.scale()
    new = torch.randn(8) * 50
    s.update(new)
    t.update(new)
    assert len(t.buffer) == 4 and t.scale() == s.scale()
