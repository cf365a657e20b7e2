"""xPos rotation (design §5.2): complex-number reference, norm preservation, relative positions."""
import pytest
import torch

from m3.models.retnet.xpos import rotate, rotation_angles, rotation_tables

D_H = 8


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def complex_reference(x, positions):
    """Rotate pairs (x_{2i}, x_{2i+1}) as complex numbers by e^{i·pos·θ_i}, in float64, with θ_i = 10000^{-i/(d_h/2-1)}
    evaluated in float32 as the official code stores it (design §5.2): the float64 value differs by up to 6e-8
    relative, an angle error of ~1e-7 rad at position 130."""
    half = x.shape[-1] // 2
    theta = (1.0 / 10000 ** torch.linspace(0, 1, half, dtype=torch.float32)).double()
    z = torch.complex(x[..., 0::2], x[..., 1::2])
    z = z * torch.polar(torch.ones_like(theta), positions[..., None] * theta)
    return torch.stack((z.real, z.imag), dim=-1).flatten(-2)


def rotated(x, start):
    cos, sin = rotation_tables(start, x.shape[-2], x.shape[-1], x.device, x.dtype)
    return rotate(x, cos, sin)


def test_int_start_matches_complex_reference():
    x = torch.randn(2, 3, 5, D_H, dtype=torch.float64)
    positions = torch.arange(7, 12, dtype=torch.float64)
    assert torch.allclose(rotated(x, 7), complex_reference(x, positions), atol=1e-12)


def test_tensor_start_rotates_each_row_by_its_own_positions():
    x = torch.randn(3, 2, 4, D_H, dtype=torch.float64)
    start = torch.tensor([0, 5, 130], dtype=torch.int64)
    assert rotation_angles(start, 4, D_H, x.device).shape == (3, 1, 4, D_H)
    out = rotated(x, start)
    for b in range(3):
        positions = start[b] + torch.arange(4, dtype=torch.float64)
        assert torch.allclose(out[b], complex_reference(x[b], positions), atol=1e-12)
        assert torch.allclose(out[b : b + 1], rotated(x[b : b + 1], int(start[b])), atol=1e-12)


def test_rotation_preserves_norms():
    x = torch.randn(2, 2, 9, D_H, dtype=torch.float64)
    assert torch.allclose(rotated(x, 1234).norm(dim=-1), x.norm(dim=-1), atol=1e-12)


def test_dot_product_depends_only_on_relative_position():
    q, k = torch.randn(2, 1, 1, 1, D_H, dtype=torch.float64)

    def score(m, n):
        return (rotated(q, m) * rotated(k, n)).sum().item()

    assert abs(score(3, 1) - score(10, 8)) < 1e-9
    assert abs(score(3, 1) - score(1002, 1000)) < 1e-9
    assert abs(score(0, 5) - score(40, 45)) < 1e-9
    assert abs(score(3, 1) - score(3, 2)) > 1e-3  # positions do matter


def test_int_start_tables_are_cached_equal_to_fresh_ones_and_usable_in_training_after_inference():
    with torch.inference_mode():  # first built during imagination
        cos, sin = rotation_tables(7, 5, D_H, torch.device("cpu"), torch.float32)
    angles = rotation_angles(7, 5, D_H, torch.device("cpu"))
    assert torch.equal(cos, angles.cos().float()) and torch.equal(sin, angles.sin().float())
    again = rotation_tables(7, 5, D_H, torch.device("cpu"), torch.float32)
    assert again[0] is cos and again[1] is sin
    x = torch.randn(2, 3, 5, D_H, requires_grad=True)
    rotate(x, *again).sum().backward()  # not inference tensors: saved for backward without error
    assert x.grad is not None
