"""LPIPS perceptual distance with a VGG16 backbone, the image tokenizer's perceptual loss (design §4.1, §2).

LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric"),
version 0.1 "lin": images in [-1, 1] are shifted and scaled, run through the 13 convolutions of VGG16
and tapped after relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3. Each tapped feature map is normalised
to unit length along channels; the squared difference of the two images' maps is weighted per channel
by a learned non-negative 1×1 convolution (one output, no bias, dropout before it), averaged over space
and summed over the five taps.

The weights are constants from two published files (see docs/weights.md): torchvision's ImageNet VGG16
state dict and the LPIPS linear heads `vgg.pth` used by taming-transformers. They are held as
non-persistent buffers: never trained, never part of any `state_dict`, yet moved by `.to(device)`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LPIPS_VGG_MD5 = "d507d7349b931f0638a25a48a722f98a"
"""md5 of the published LPIPS linear-head file `vgg.pth` (design §2)."""

# Input shift and scale of LPIPS v0.1 (its "ScalingLayer"), as published with the LPIPS paper's official
# code (github:richzhang/PerceptualSimilarity) and reused unchanged by taming-transformers. They map an
# image in [-1, 1] to roughly the ImageNet normalisation VGG16 was trained with.
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)

VGG16_STAGES: tuple[tuple[int, ...], ...] = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))
"""Output channels of each 3×3 conv of VGG16 ("configuration D"), per stage; a 2×2 max-pool precedes
stages 2–5 and each stage's last ReLU is an LPIPS tap."""

TAP_CHANNELS: tuple[int, ...] = tuple(stage[-1] for stage in VGG16_STAGES)  # (64, 128, 256, 512, 512)


def _vgg_layout() -> list[tuple[int, int, int]]:
    """(index in torchvision's `features`, in_channels, out_channels) of the 13 convs, in order.

    torchvision numbers every layer of `features`: a conv and its ReLU take two indices, a max-pool one,
    so the convs sit at 0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28.
    """
    layout, index, c_in = [], 0, 3
    for s, stage in enumerate(VGG16_STAGES):
        index += 1 if s > 0 else 0  # the max-pool before this stage
        for c_out in stage:
            layout.append((index, c_in, c_out))
            index, c_in = index + 2, c_out
    return layout


def vgg_shapes() -> dict[str, tuple[int, ...]]:
    """Expected keys and shapes of torchvision's VGG16 state dict used here (`classifier.*` is ignored)."""
    shapes = {}
    for index, c_in, c_out in _vgg_layout():
        shapes[f"features.{index}.weight"] = (c_out, c_in, 3, 3)
        shapes[f"features.{index}.bias"] = (c_out,)
    return shapes


def lin_shapes() -> dict[str, tuple[int, ...]]:
    """Expected keys and shapes of the LPIPS linear-head file: `lin{k}.model.1.weight` is the 1×1 conv of
    head k (its `model.0` is the parameter-free dropout)."""
    return {f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate(TAP_CHANNELS)}


class WeightsFileError(ValueError):
    """A weights file (or state dict) cannot be read, or lacks a key, or holds a tensor of the wrong shape."""


class MissingWeightsError(FileNotFoundError):
    """A weights file needed for the perceptual loss does not exist."""


def _validated(state: object, shapes: Mapping[str, tuple[int, ...]], source: str) -> dict[str, Tensor]:
    """The expected tensors of `state` (float32), after checking every key and shape; other keys are ignored."""
    if not isinstance(state, Mapping):
        raise WeightsFileError(f"{source}: expected a state dict (a mapping of names to tensors), got {type(state)}")
    out = {}
    for key, shape in shapes.items():
        value = state.get(key)
        if not isinstance(value, Tensor):
            raise WeightsFileError(f"{source}: missing tensor {key!r} (expected shape {shape})")
        if tuple(value.shape) != shape:
            raise WeightsFileError(f"{source}: tensor {key!r} has shape {tuple(value.shape)}, expected {shape}")
        out[key] = value.detach().to(torch.float32)
    return out


def _md5(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def _load(path: str) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a truncated or foreign file
        raise WeightsFileError(f"{path}: not a readable torch weights file ({type(e).__name__}: {e})") from e


class FrozenConv(nn.Module):
    """A convolution with constant weight and bias (non-persistent buffers: not trained, not checkpointed)."""

    def __init__(self, weight: Tensor, bias: Tensor | None = None, padding: int = 0) -> None:
        super().__init__()
        self.register_buffer("weight", weight, persistent=False)
        self.register_buffer("bias", bias, persistent=False)
        self.padding = padding

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, padding=self.padding)


class LPIPS(nn.Module):
    """Frozen LPIPS distance: `forward(x, y)` with images (N, 3, H, W) in [-1, 1] → (N,) distances.

    Its weights are frozen (buffers, no parameters); gradients flow to the inputs only. The dropout before
    each linear head follows the parent's train/eval mode, as §4.1 states: active while the tokenizer
    trains, the identity in eval mode.
    Build it with `LPIPS.from_files`; the constructor takes the two state dicts directly.
    """

    def __init__(self, vgg_state: Mapping[str, Tensor], lin_state: Mapping[str, Tensor]) -> None:
        super().__init__()
        vgg = _validated(vgg_state, vgg_shapes(), "vgg_state")
        lin = _validated(lin_state, lin_shapes(), "lin_state")
        self.register_buffer("shift", torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1), persistent=False)
        convs = iter(_vgg_layout())
        self.stages = nn.ModuleList()
        for stage in VGG16_STAGES:
            layers = []
            for _ in stage:
                index = next(convs)[0]
                layers.append(FrozenConv(vgg[f"features.{index}.weight"], vgg[f"features.{index}.bias"], padding=1))
            self.stages.append(nn.ModuleList(layers))
        self.heads = nn.ModuleList(FrozenConv(lin[key]) for key in lin_shapes())
        self.dropout = nn.Dropout(0.5)
        self.eval()

    @classmethod
    def from_files(cls, vgg_path: str, lin_path: str, verify_md5: str | None = None) -> LPIPS:
        """Load torchvision's VGG16 ImageNet weights and the LPIPS linear heads (docs/weights.md).

        verify_md5: when given, the md5 hex digest `lin_path` must have (`LPIPS_VGG_MD5` for the
        published file). Raises `MissingWeightsError` naming every missing path, `WeightsFileError`
        naming the file (and key) for an unreadable, incomplete or misshapen file.
        """
        missing = [p for p in (vgg_path, lin_path) if not os.path.isfile(p)]
        if missing:
            raise MissingWeightsError(
                f"LPIPS weights not found: {', '.join(missing)}. docs/weights.md says where to download them "
                "and where to put them; or set tokenizer.perceptual_loss=false to train the image tokenizer "
                "without the perceptual term."
            )
        if verify_md5 is not None and (actual := _md5(lin_path)) != verify_md5:
            raise WeightsFileError(f"{lin_path}: md5 {actual} differs from the expected {verify_md5}")
        vgg = _validated(_load(vgg_path), vgg_shapes(), vgg_path)
        lin = _validated(_load(lin_path), lin_shapes(), lin_path)
        return cls(vgg, lin)

    def features(self, x: Tensor) -> list[Tensor]:
        """Scaled input (N, 3, H, W) → the five taps relu1_2 … relu5_3, each (N, C_k, H / 2^k, W / 2^k)."""
        taps = []
        for s, stage in enumerate(self.stages):
            if s > 0:
                x = F.max_pool2d(x, kernel_size=2, stride=2)
            for conv in stage:
                x = F.relu(conv(x))
            taps.append(x)
        return taps

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        n = x.shape[0]
        both = (torch.cat([x, y]) - self.shift) / self.scale  # (2N, 3, H, W)
        distance = x.new_zeros(n)
        for tap, head in zip(self.features(both), self.heads):
            unit = tap / (tap.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)  # (2N, C, h, w)
            diff = (unit[:n] - unit[n:]).square()  # (N, C, h, w)
            distance = distance + head(self.dropout(diff)).mean(dim=(1, 2, 3))  # (N,)
        return distance
