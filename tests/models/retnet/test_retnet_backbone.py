"""RetNet layer against a hand-written float64 reference; backbone chunk/block/per-row consistency (§5.2, §5.3)."""
import math

import pytest
import torch

from m3.models.retnet import RetNet, RetNetConfig, RetNetLayer, decay_gammas

T = 3  # tokens per block
CFG = RetNetConfig(
    num_layers=2, num_heads=2, embed_dim=16, dropout=0.0, decay_scale_min_num_blocks=1, decay_scale_max_num_blocks=3
)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return RetNet(CFG, tokens_per_block=T).double().eval()


def rel_err(a, b):
    return ((a - b).norm() / b.norm()).item()


def reference_layer(layer: RetNetLayer, x, start, gammas):
    """One layer written out token by token in float64 from its weights (no dropout)."""
    msr = layer.retention
    H, d_h = msr.num_heads, msr.head_dim
    N = x.shape[1]

    def layer_norm(z, ln):
        mu, var = z.mean(-1, keepdim=True), z.var(-1, unbiased=False, keepdim=True)
        return (z - mu) / torch.sqrt(var + 1e-6) * ln.weight + ln.bias

    def linear(z, lin):
        return z @ lin.weight.T + lin.bias

    def rotate(z, pos):  # (..., d_h): pairs rotated as complex numbers
        theta = torch.tensor([10000.0 ** (-i / (d_h // 2 - 1)) for i in range(d_h // 2)], dtype=torch.float64)
        c = torch.complex(z[..., 0::2], z[..., 1::2]) * torch.polar(torch.ones_like(theta), pos * theta)
        return torch.stack((c.real, c.imag), -1).flatten(-2)

    h = layer_norm(x, layer.retention_norm)
    q, k, v = linear(h, msr.q_proj), linear(h, msr.k_proj), linear(h, msr.v_proj)
    gate = linear(h, msr.g_proj)
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        for head in range(H):
            ch = slice(head * d_h, (head + 1) * d_h)
            for n in range(N):
                o = torch.zeros(d_h, dtype=torch.float64)
                qn = rotate(q[b, n, ch], start + n)
                for m in range(n + 1):
                    km = rotate(k[b, m, ch], start + m) / math.sqrt(d_h)
                    o += gammas[head] ** (n - m) * torch.dot(qn, km) * v[b, m, ch]
                out[b, n, ch] = (o - o.mean()) / torch.sqrt(o.var(unbiased=False) + 1e-6)
    x = x + linear(out * gate * torch.sigmoid(gate), msr.out_proj)
    f = linear(layer_norm(x, layer.ffn_norm), layer.ffn.fc1)
    return x + linear(f * torch.sigmoid(f), layer.ffn.fc2)


def test_layers_and_stack_match_reference(model):
    """Also pins that the stack ends with the last layer (no final LayerNorm)."""
    x = torch.randn(2, 6, CFG.embed_dim, dtype=torch.float64)
    gammas = decay_gammas(CFG.num_heads, 1, 3, T).tolist()
    expected = x
    for layer in model.layers:
        expected = reference_layer(layer, expected, 4, gammas)
    assert rel_err(model(x, 4).y, expected) < 1e-6


def test_whole_equals_chunks_equals_blocks(model):
    L = 4
    x = torch.randn(2, L * T, CFG.embed_dim, dtype=torch.float64)
    whole = model(x, 0, block_size=T)
    assert whole.y.shape == x.shape
    assert [s.shape for s in whole.block_states] == [(2, L, 2, 8, 8)] * CFG.num_layers
    for s, blocks in zip(whole.states, whole.block_states):
        assert torch.equal(s, blocks[:, -1])

    first = model(x[:, : 2 * T], 0)
    second = model(x[:, 2 * T :], 2 * T, first.states)
    assert rel_err(torch.cat([first.y, second.y], 1), whole.y) < 1e-6
    for s, expected in zip(second.states, whole.states):
        assert rel_err(s, expected) < 1e-6

    states = None
    for j in range(L):
        out = model(x[:, j * T : (j + 1) * T], j * T, states)
        states = out.states
        assert rel_err(out.y, whole.y[:, j * T : (j + 1) * T]) < 1e-6
        for s, blocks in zip(states, whole.block_states):
            assert rel_err(s, blocks[:, j]) < 1e-6


def test_wrong_start_changes_output(model):
    """The chunk test can fail: a chunk run at the wrong position differs."""
    x = torch.randn(1, 2 * T, CFG.embed_dim, dtype=torch.float64)
    first = model(x[:, :T], 0)
    right, wrong = model(x[:, T:], T, first.states), model(x[:, T:], 0, first.states)
    assert rel_err(wrong.y, right.y) > 1e-4


def test_tensor_start_equals_rows_run_separately(model):
    """POP usage: prediction tokens of several blocks folded into the batch, each with its own start and state."""
    x = torch.randn(3, T - 1, CFG.embed_dim, dtype=torch.float64)
    states = [torch.randn(3, CFG.num_heads, 8, 8, dtype=torch.float64) for _ in range(CFG.num_layers)]
    start = torch.tensor([0, 3, 9])
    out = model(x, start, states)
    for b in range(3):
        row = model(x[b : b + 1], int(start[b]), [s[b : b + 1] for s in states])
        assert rel_err(out.y[b : b + 1], row.y) < 1e-6
        for s, r in zip(out.states, row.states):
            assert rel_err(s[b : b + 1], r) < 1e-6


def test_initialisation_and_size():
    torch.manual_seed(0)
    net = RetNet(RetNetConfig(), tokens_per_block=65)
    assert sum(p.numel() for p in net.parameters()) == 8_555_520  # §5.6: 10 × 0.856M
    q0, q1 = net.layers[0].retention.q_proj, net.layers[1].retention.q_proj
    assert not torch.equal(q0.weight, q1.weight)  # independent initialisation
    for name, p in net.named_parameters():
        if name.endswith("bias"):
            assert torch.count_nonzero(p) == 0, name
    fan_in, fan_out = 256, 1024
    std = net.layers[0].ffn.fc1.weight.std().item()
    assert abs(std - math.sqrt(2 / (fan_in + fan_out))) < 0.002  # xavier-normal


def test_rejects_head_dim_not_multiple_of_8():
    with pytest.raises(ValueError):
        RetNet(RetNetConfig(num_heads=3, embed_dim=36), tokens_per_block=2)
