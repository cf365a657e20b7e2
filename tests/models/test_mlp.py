import pytest
import torch
import torch.nn.functional as F
from torch import nn

from m3.models.mlp import mlp


def kinds(net):
    return [type(m) for m in net]


def test_last_norm_act_true_ends_with_layernorm_silu():
    net = mlp([6, 8, 5], last_norm_act=True)
    assert kinds(net) == [nn.Linear, nn.LayerNorm, nn.SiLU, nn.Linear, nn.LayerNorm, nn.SiLU]
    assert net[3].out_features == 5 and net[4].normalized_shape == (5,)


def test_last_norm_act_false_ends_with_linear():
    net = mlp([6, 8, 7, 5], last_norm_act=False)
    assert kinds(net) == [nn.Linear, nn.LayerNorm, nn.SiLU] * 2 + [nn.Linear]
    assert [(m.in_features, m.out_features) for m in net if isinstance(m, nn.Linear)] == [(6, 8), (8, 7), (7, 5)]


def test_without_norm():
    assert kinds(mlp([3, 4, 2], norm=False, last_norm_act=True)) == [nn.Linear, nn.SiLU, nn.Linear, nn.SiLU]
    assert kinds(mlp([3, 2], norm=False, last_norm_act=False)) == [nn.Linear]


def test_forward_matches_functional_composition():
    net = mlp([4, 6, 3], last_norm_act=True)
    x = torch.randn(2, 5, 4)
    h = F.silu(F.layer_norm(net[0](x), (6,), net[1].weight, net[1].bias))
    ref = F.silu(F.layer_norm(net[3](h), (3,), net[4].weight, net[4].bias))
    torch.testing.assert_close(net(x), ref)


def test_choice_is_explicit_and_sizes_validated():
    with pytest.raises(TypeError):
        mlp([4, 3])
    with pytest.raises(ValueError):
        mlp([4], last_norm_act=False)
