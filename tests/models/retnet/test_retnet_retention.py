"""Retention forms against a naive float64 double loop; block states; decay values (design §5.2)."""
import pytest
import torch

from m3.models.retnet.retention import (
    decay_gammas,
    decay_tables,
    retention,
    retention_chunkwise,
    retention_recurrent,
)

B, H, D_K, D_V, N = 2, 2, 8, 8, 24
GAMMA = torch.tensor([0.9, 0.75], dtype=torch.float64)


def naive_retention(q, k, v, gamma, state=None):
    """o_n = Σ_{m≤n} γ^{n-m} (q_n·k_m) v_m + γ^{n+1} q_n S, as an explicit loop over (n, m)."""
    out = torch.zeros(q.shape[0], q.shape[1], q.shape[2], v.shape[-1], dtype=torch.float64)
    for b in range(q.shape[0]):
        for h in range(q.shape[1]):
            g = float(gamma[h])
            for n in range(q.shape[2]):
                for m in range(n + 1):
                    out[b, h, n] += g ** (n - m) * torch.dot(q[b, h, n], k[b, h, m]) * v[b, h, m]
                if state is not None:
                    out[b, h, n] += g ** (n + 1) * (q[b, h, n] @ state[b, h])
    return out


def naive_state(k, v, gamma, state=None):
    """S after the last token: Σ_m γ^{N-1-m} k_mᵀ v_m + γ^N S."""
    n_tokens = k.shape[2]
    result = torch.zeros(k.shape[0], k.shape[1], k.shape[-1], v.shape[-1], dtype=torch.float64)
    for h in range(k.shape[1]):
        g = float(gamma[h])
        for m in range(n_tokens):
            result[:, h] += g ** (n_tokens - 1 - m) * k[:, h, m, :, None] * v[:, h, m, None, :]
        if state is not None:
            result[:, h] += g**n_tokens * state[:, h]
    return result


def rel_err(a, b):
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture
def qkv():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(B, H, N, d, generator=gen, dtype=torch.float64) for d in (D_K, D_K, D_V))
    state = torch.randn(B, H, D_K, D_V, generator=gen, dtype=torch.float64)
    return q, k, v, state


@pytest.mark.parametrize("with_state", [False, True])
def test_parallel_and_recurrent_match_naive(qkv, with_state):
    q, k, v, state = qkv
    state = state if with_state else None
    ref_out, ref_state = naive_retention(q, k, v, GAMMA, state), naive_state(k, v, GAMMA, state)
    out, final, blocks = retention(q, k, v, GAMMA, state)
    assert blocks is None
    assert rel_err(out, ref_out) < 1e-6 and rel_err(final, ref_state) < 1e-6
    out, final = retention_recurrent(q, k, v, GAMMA, state)
    assert rel_err(out, ref_out) < 1e-6 and rel_err(final, ref_state) < 1e-6


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, N])
def test_chunkwise_matches_naive(qkv, chunk_size, with_state):
    q, k, v, state = qkv
    state = state if with_state else None
    out, final = retention_chunkwise(q, k, v, GAMMA, chunk_size, state)
    assert rel_err(out, naive_retention(q, k, v, GAMMA, state)) < 1e-6
    assert rel_err(final, naive_state(k, v, GAMMA, state)) < 1e-6


def test_decay_is_not_trivial(qkv):
    """The comparison above can fail: a wrong decay changes the output."""
    q, k, v, _ = qkv
    out, _, _ = retention(q, k, v, GAMMA)
    assert rel_err(out, naive_retention(q, k, v, GAMMA.flip(0))) > 1e-2


@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("block_size", [1, 3, 4, N])
def test_block_states_equal_recurrent_states_at_block_ends(qkv, block_size, with_state):
    q, k, v, state = qkv
    state = state if with_state else None
    out, final, blocks = retention(q, k, v, GAMMA, state, block_size)
    assert blocks.shape == (B, N // block_size, H, D_K, D_V)
    assert rel_err(out, naive_retention(q, k, v, GAMMA, state)) < 1e-6
    for j in range(N // block_size):
        end = (j + 1) * block_size
        _, expected = retention_recurrent(q[:, :, :end], k[:, :, :end], v[:, :, :end], GAMMA, state)
        assert rel_err(blocks[:, j], expected) < 1e-6
    assert torch.equal(final, blocks[:, -1])


def test_block_size_must_divide_length(qkv):
    q, k, v, _ = qkv
    with pytest.raises(ValueError):
        retention(q, k, v, GAMMA, block_size=5)


def test_tables_made_in_inference_mode_support_backward():
    """A decay table first built during imagination (inference mode) is reused by training."""
    gamma = (0.5, 0.25)  # a key no other test uses
    q = torch.randn(1, 2, 7, 8, dtype=torch.float64)
    with torch.inference_mode():
        retention(q, q, q, gamma)
    leaf = q.clone().requires_grad_()
    out, _, _ = retention(leaf, leaf, leaf, gamma)
    out.sum().backward()
    assert leaf.grad is not None
    assert decay_tables.cache_info().hits > 0


@pytest.mark.parametrize(
    "num_heads, lo, hi, tokens, expected",
    [
        (4, 4, 16, 65, [0.996154, 0.997577, 0.998474, 0.999038]),  # Atari
        (4, 8, 40, 148, [0.999155, 0.999506, 0.999711, 0.999831]),  # Craftax
        (3, 2, 2, 30, [0.983333, 0.983333, 0.983333]),  # DMC walker
    ],
)
def test_decay_gammas_match_spec_examples(num_heads, lo, hi, tokens, expected):
    gammas = decay_gammas(num_heads, lo, hi, tokens)
    assert gammas.dtype == torch.float64
    assert torch.allclose(gammas, torch.tensor(expected, dtype=torch.float64), rtol=0, atol=5e-7)
