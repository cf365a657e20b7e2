"""LPIPS (design §4.1, §2): weight loading, validation and the distance against a float64 reference."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F

from m3.models.tokenizers.lpips import LPIPS, LPIPS_VGG_MD5, MissingWeightsError, WeightsFileError, vgg_shapes

# VGG16 "configuration D" as in the VGG paper: conv output channels, "M" = 2×2 max-pool.
VGG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]
SHIFT = torch.tensor([-0.030, -0.088, -0.188], dtype=torch.float64).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450], dtype=torch.float64).view(1, 3, 1, 1)


def random_vgg_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-layout VGG16 state dict with He-scaled random weights and a stray classifier entry."""
    g = torch.Generator().manual_seed(seed)
    state, index, c_in = {}, 0, 3
    for item in VGG_D:
        if item == "M":
            index += 1
            continue
        state[f"features.{index}.weight"] = torch.randn(item, c_in, 3, 3, generator=g) * (2 / (9 * c_in)) ** 0.5
        state[f"features.{index}.bias"] = torch.randn(item, generator=g) * 0.1
        index, c_in = index + 2, item
    state["classifier.0.weight"] = torch.randn(4, 4, generator=g)
    return state


def random_lin_state(seed: int = 1) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    taps = [64, 128, 256, 512, 512]  # channels of relu1_2 ... relu5_3
    return {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for k, c in enumerate(taps)}


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lpips")
    vgg, lin = random_vgg_state(), random_lin_state()
    vgg_path, lin_path = folder / "vgg16.pth", folder / "vgg.pth"
    torch.save(vgg, vgg_path)
    torch.save(lin, lin_path)
    return vgg, lin, str(vgg_path), str(lin_path)


@pytest.fixture(scope="module")
def lpips(weights):
    return LPIPS.from_files(weights[2], weights[3])


def reference_lpips(vgg, lin, x, y):
    """Naive float64 LPIPS: taps before every max-pool and at the end, unit-normalise, weight, average, sum."""

    def taps(img):
        h, index, out = (img.double() - SHIFT) / SCALE, 0, []
        for item in VGG_D:
            if item == "M":
                out.append(h)
                h, index = F.max_pool2d(h, 2), index + 1
            else:
                w, b = vgg[f"features.{index}.weight"].double(), vgg[f"features.{index}.bias"].double()
                h, index = F.relu(F.conv2d(h, w, b, padding=1)), index + 2
        return out + [h]

    total = torch.zeros(x.shape[0], dtype=torch.float64)
    for k, (a, b) in enumerate(zip(taps(x), taps(y))):
        a = a / (a.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
        b = b / (b.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10)
        w = lin[f"lin{k}.model.1.weight"].double().view(1, -1, 1, 1)
        total += ((a - b) ** 2 * w).sum(dim=1).mean(dim=(1, 2))
    return total


def images(seed: int, n: int = 3, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_matches_float64_reference(weights, lpips):
    x, y = images(0), images(1)
    expected = reference_lpips(weights[0], weights[1], x, y)
    torch.testing.assert_close(lpips(x, y).double(), expected, rtol=1e-4, atol=1e-6)


def test_zero_for_identical_symmetric_and_positive(lpips):
    x, y = images(2), images(3)
    torch.testing.assert_close(lpips(x, x), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(lpips(x, y), lpips(y, x), rtol=1e-5, atol=1e-7)
    assert (lpips(x, y) > 1e-3).all()


def test_gradient_reaches_the_inputs(lpips):
    x, y = images(4), images(5).requires_grad_()
    lpips(x, y).sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0


def test_frozen_and_outside_every_state_dict(lpips):
    assert list(lpips.parameters()) == []
    assert lpips.state_dict() == {}
    moved = LPIPS(random_vgg_state(), random_lin_state()).to(torch.float64)
    assert all(b.dtype == torch.float64 for b in moved.buffers())


def test_dropout_follows_train_and_eval(lpips):
    x, y = images(4), images(5)
    lpips.eval()
    torch.testing.assert_close(lpips(x, y), lpips(x, y))
    lpips.train()
    torch.manual_seed(0)
    a = lpips(x, y)
    torch.manual_seed(1)
    assert not torch.allclose(a, lpips(x, y))
    lpips.eval()


def test_torchvision_conv_indices():
    indices = sorted({int(key.split(".")[1]) for key in vgg_shapes()})
    assert indices == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def test_missing_files_named_in_one_error(tmp_path):
    vgg, lin = tmp_path / "nope_vgg.pth", tmp_path / "nope_lin.pth"
    with pytest.raises(MissingWeightsError) as info:
        LPIPS.from_files(str(vgg), str(lin))
    message = str(info.value)
    assert str(vgg) in message and str(lin) in message and "docs/weights.md" in message
    assert isinstance(info.value, FileNotFoundError)


def test_missing_key_names_file_and_key(weights, tmp_path):
    vgg = dict(weights[0])
    del vgg["features.14.weight"]
    path = tmp_path / "broken.pth"
    torch.save(vgg, path)
    with pytest.raises(WeightsFileError, match="features.14.weight") as info:
        LPIPS.from_files(str(path), weights[3])
    assert str(path) in str(info.value)


def test_misshapen_key_names_file_and_key(weights, tmp_path):
    lin = dict(weights[1])
    lin["lin2.model.1.weight"] = torch.rand(1, 128, 1, 1)
    path = tmp_path / "lin.pth"
    torch.save(lin, path)
    with pytest.raises(WeightsFileError, match=r"lin2\.model\.1\.weight.*\(1, 128, 1, 1\)") as info:
        LPIPS.from_files(weights[2], str(path))
    assert str(path) in str(info.value)


def test_swapped_files_rejected(weights):
    with pytest.raises(WeightsFileError, match="features.0.weight"):
        LPIPS.from_files(weights[3], weights[2])


@pytest.mark.parametrize("content", [b"this is not a torch file", None])
def test_unreadable_or_foreign_file(weights, tmp_path, content):
    path = tmp_path / "bad.pth"
    if content is None:
        torch.save([torch.zeros(1)], path)  # readable, but not a state dict
    else:
        path.write_bytes(content)
    with pytest.raises(WeightsFileError, match=str(path)):
        LPIPS.from_files(weights[2], str(path))


def test_verify_md5(weights):
    with open(weights[3], "rb") as f:
        digest = hashlib.md5(f.read()).hexdigest()
    LPIPS.from_files(weights[2], weights[3], verify_md5=digest)
    assert digest != LPIPS_VGG_MD5
    with pytest.raises(WeightsFileError, match=LPIPS_VGG_MD5):
        LPIPS.from_files(weights[2], weights[3], verify_md5=LPIPS_VGG_MD5)
