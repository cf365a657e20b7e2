import math

import pytest
import torch

from m3.models.tokenizers.vector import VectorTokenizer


def reference_levels() -> list[float]:
    """§4.2 written out in float64: 32 inner points, 31 outer points, mirrored, 0 once."""
    a = math.log(1 + math.pi)
    inner = [i * a / 31 for i in range(32)]
    outer = [a + j * (6 - a) / 31 for j in range(1, 32)]
    positive = inner + outer
    return [-p for p in reversed(positive[1:])] + positive


def nearest(s: float, levels: list[float]) -> int:
    return min(range(len(levels)), key=lambda i: abs(levels[i] - s))


def test_grid_is_the_spec_grid():
    tok = VectorTokenizer()
    ref = reference_levels()
    assert VectorTokenizer.VOCAB == 125 == tok.levels.numel() == len(ref)
    torch.testing.assert_close(tok.levels, torch.tensor(ref, dtype=torch.float32), atol=1e-6, rtol=0)
    assert ref[63] - ref[62] == pytest.approx(0.04584, abs=1e-5)
    assert ref[124] - ref[123] == pytest.approx(0.14771, abs=1e-5)
    assert (tok.levels == 0).sum() == 1 and tok.levels[0] == -6 and tok.levels[-1] == 6
    assert (tok.levels.diff() > 0).all()
    assert list(tok.parameters()) == []


def test_hand_picked_tokens():
    tok = VectorTokenizer()
    # symlog values 0, 0.02 (< midpoint 0.0229) → level 0; 0.03 → 0.0458; 0.07 (> 0.0688) → 0.0917;
    # ln(1+π) exactly → index 93; −1.5 → between −1.4211 (31) and −1.5688 (30), nearer −1.5688.
    s = torch.tensor([0.0, 0.02, 0.03, 0.07, math.log(1 + math.pi), -1.5], dtype=torch.float64)
    raw = torch.sign(s) * torch.expm1(s.abs())
    assert tok.tokenize(raw).tolist() == [62, 62, 63, 64, 93, 30]


def test_matches_bruteforce_nearest_in_float64():
    ref = reference_levels()
    mids = [(a + b) / 2 for a, b in zip(ref[:-1], ref[1:])]
    g = torch.Generator().manual_seed(0)
    s = torch.rand(2000, generator=g, dtype=torch.float64) * 14 - 7
    s = s[[min(abs(float(v) - m) for m in mids) > 1e-5 for v in s]]
    raw = torch.sign(s) * torch.expm1(s.abs())
    assert VectorTokenizer().tokenize(raw.float()).tolist() == [nearest(float(v), ref) for v in s]


def test_clamps_beyond_six_including_huge_values():
    tok = VectorTokenizer()
    raw = torch.tensor([math.exp(6.5), 1e6, 1e30, float("inf"), -math.exp(6.5), -1e6, -1e30, -float("inf")])
    assert tok.tokenize(raw).tolist() == [124] * 4 + [0] * 4


def test_round_trip_on_levels_and_shapes():
    tok = VectorTokenizer()
    raw_levels = torch.sign(tok.levels) * torch.expm1(tok.levels.abs())
    tokens = tok.tokenize(raw_levels)
    assert tokens.dtype == torch.int64 and tokens.tolist() == list(range(125))
    torch.testing.assert_close(tok.detokenize(tokens), tok.levels)
    x = torch.randn(2, 3, 5) * 10
    t = tok.tokenize(x)
    assert t.shape == (2, 3, 5) and tok.detokenize(t).shape == (2, 3, 5)


def test_symlog_is_applied_inside_tokenize():
    """D5: a raw value e − 1 has symlog 1, so it lands on the level nearest 1.0, not nearest 1.718."""
    tok = VectorTokenizer()
    ref = reference_levels()
    got = tok.tokenize(torch.tensor([math.e - 1, -(math.e - 1)])).tolist()
    assert got == [nearest(1.0, ref), nearest(-1.0, ref)]
    assert got[0] != nearest(math.e - 1, ref)
    assert tok.tokenize(torch.tensor([math.e - 1], dtype=torch.float64)).tolist() == got[:1]
