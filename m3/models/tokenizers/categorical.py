"""Identity tokenizers for categorical observations (design §4.3, §4.4)."""

from __future__ import annotations

from torch import Tensor, nn


def _check_range(x: Tensor, vocab: int, what: str) -> None:
    if x.numel() and (int(x.min()) < 0 or int(x.max()) >= vocab):
        raise ValueError(f"{what}: values must lie in [0, {vocab}), got min {int(x.min())}, max {int(x.max())}")


class TokenTokenizer(nn.Module):
    """1-D categorical observations (..., n): one token per entry, one vocabulary for all (§4.3)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab = int(vocab)

    def tokenize(self, x: Tensor) -> Tensor:
        """x (..., n) integer → (..., n) int64, unchanged; raises ValueError outside [0, vocab)."""
        x = x.long()
        _check_range(x, self.vocab, "token")
        return x


class Token2DTokenizer(nn.Module):
    """2-D categorical grids (..., cells, F): one token per cell, one vocabulary per column (§4.4)."""

    def __init__(self, vocabs: tuple[int, ...]) -> None:
        super().__init__()
        self.vocabs = tuple(int(v) for v in vocabs)

    def tokenize(self, x: Tensor) -> Tensor:
        """x (..., cells, F) integer → (..., cells, F) int64, unchanged; raises ValueError naming the
        first column with a value outside its vocabulary."""
        if x.shape[-1] != len(self.vocabs):
            raise ValueError(f"token_2d: expected {len(self.vocabs)} columns, got shape {tuple(x.shape)}")
        x = x.long()
        for column, vocab in enumerate(self.vocabs):
            _check_range(x[..., column], vocab, f"token_2d column {column}")
        return x
