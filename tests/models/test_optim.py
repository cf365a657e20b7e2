"""AdamW parameter groups: weight decay on weight matrices only (design §5.6)."""

import torch
from torch import nn

from m3.models.optim import adamw, decay_split


class Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.conv = nn.Conv2d(2, 2, 3)
        self.norm = nn.LayerNorm(3)
        self.group_norm = nn.GroupNorm(1, 2)
        self.table = nn.Embedding(5, 4)  # an embedding module under a name without "embed"
        self.prediction_embeddings = nn.Parameter(torch.randn(6, 4))  # a matrix whose name has "embed"
        self.frozen = nn.Linear(2, 2).requires_grad_(False)


def test_decay_only_on_weight_matrices():
    decay, no_decay = decay_split(Toy())
    assert sorted(decay) == ["conv.weight", "linear.weight"]
    assert sorted(no_decay) == sorted(
        [
            "linear.bias",
            "conv.bias",
            "norm.weight",
            "norm.bias",
            "group_norm.weight",
            "group_norm.bias",
            "table.weight",
            "prediction_embeddings",
        ]
    )


def test_adamw_step_shrinks_only_decayed_parameters():
    """With zero gradients AdamW's only update is the decoupled decay p ← p(1 − lr·wd)."""
    torch.manual_seed(0)
    model = Toy()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = adamw(model, lr=0.1, weight_decay=0.5)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.5, 0.0]
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    decay, _ = decay_split(model)
    for name, param in model.named_parameters():
        factor = 1 - 0.1 * 0.5 if name in decay else 1.0
        torch.testing.assert_close(param.detach(), before[name] * factor)
