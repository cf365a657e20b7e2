import pytest
import torch

from m3.envs.spec import ActionSpec
from m3.models.tokenizers.actions import ActionTokenizer


def test_discrete_round_trip():
    tok = ActionTokenizer(ActionSpec("discrete", 18))
    a = torch.tensor([[0, 5], [17, 3]])
    t = tok.tokenize(a)
    assert t.shape == (2, 2, 1) and t.dtype == torch.int64 and t[..., 0].tolist() == a.tolist()
    assert torch.equal(tok.detokenize(t), a)
    assert (tok.vocab, tok.num_tokens) == (18, 1)


def test_continuous_hand_values_and_clip():
    tok = ActionTokenizer(ActionSpec("continuous", 7))
    a = torch.tensor([-1.0, 1.0, 0.0, 0.04, 0.019, 0.021, 5.0])
    assert tok.tokenize(a).tolist() == [0, 50, 25, 26, 25, 26, 50]
    assert tok.tokenize(torch.tensor([-3.0, -0.999, -0.981, -0.979, 0.5, 0.95, 0.97])).tolist() == [
        0, 0, 0, 1, 38, 49, 49]
    assert (tok.vocab, tok.num_tokens) == (51, 7)


def test_continuous_matches_bruteforce_nearest_level():
    tok = ActionTokenizer(ActionSpec("continuous", 6))
    levels = [-1 + 2 * i / 50 for i in range(51)]
    g = torch.Generator().manual_seed(0)
    a = torch.rand(3, 40, 6, generator=g) * 2.4 - 1.2
    t = tok.tokenize(a)
    assert t.shape == (3, 40, 6) and t.dtype == torch.int64
    for v, k in zip(a.flatten().tolist(), t.flatten().tolist()):
        c = min(max(v, -1.0), 1.0)
        dist = [abs(c - lv) for lv in levels]
        assert dist[k] == pytest.approx(min(dist), abs=1e-6)


def test_continuous_detokenize_gives_level_values():
    tok = ActionTokenizer(ActionSpec("continuous", 2))
    t = torch.tensor([[0, 50], [25, 13]])
    out = tok.detokenize(t)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, torch.tensor([[-1.0, 1.0], [0.0, -0.48]]))
    levels = torch.linspace(-1, 1, 51)
    assert torch.equal(tok.tokenize(levels), torch.arange(51))
