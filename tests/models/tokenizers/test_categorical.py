import pytest
import torch

from m3.models.tokenizers.categorical import Token2DTokenizer, TokenTokenizer


def test_token_identity_int64():
    tok = TokenTokenizer(4)
    x = torch.tensor([[0, 3], [2, 1]], dtype=torch.int32)
    t = tok.tokenize(x)
    assert t.dtype == torch.int64 and t.tolist() == x.tolist()


@pytest.mark.parametrize("bad", [4, -1])
def test_token_out_of_range_raises(bad):
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        TokenTokenizer(4).tokenize(torch.tensor([0, bad]))


def test_token_2d_identity():
    tok = Token2DTokenizer((37, 5, 40, 20))
    x = torch.stack([torch.randint(0, v, (2, 3, 99)) for v in (37, 5, 40, 20)], dim=-1)
    t = tok.tokenize(x)
    assert t.shape == (2, 3, 99, 4) and t.dtype == torch.int64 and torch.equal(t, x)


def test_token_2d_names_the_bad_column():
    tok = Token2DTokenizer((37, 5, 40, 20))
    x = torch.zeros(99, 4, dtype=torch.int64)
    x[7, 1] = 5  # column 1 has vocab 5
    with pytest.raises(ValueError, match="column 1"):
        tok.tokenize(x)
    x[7, 1] = 0
    x[3, 3] = -2
    with pytest.raises(ValueError, match="column 3"):
        tok.tokenize(x)
    with pytest.raises(ValueError, match="columns"):
        tok.tokenize(torch.zeros(99, 3, dtype=torch.int64))
