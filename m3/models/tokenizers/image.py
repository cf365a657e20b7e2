"""Image tokenizer: a VQ-VAE turning a 64×64 RGB frame into 8×8 = 64 codebook tokens (design §4.1, §3.4).

Encoder and decoder are plain conv stacks (no residual blocks, no attention, identity pre/post-quant
convs). The quantizer picks the nearest of `vocab_size` codes by squared L2 and passes gradients to the
encoder straight through. Loss = codebook + commitment (β = 1) + pixel MSE + LPIPS, all weights 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from m3.models.tokenizers.lpips import LPIPS

COMMITMENT_BETA = 1.0
"""Weight of the commitment term MSE(z, sg z_q) (§4.1)."""


@dataclass
class ImageTokenizerConfig:
    """VQ-VAE sizes (§3.4) and the LPIPS weight files (§2, docs/weights.md)."""

    vocab_size: int = 512
    embed_dim: int = 256  # code dimension = encoder output channels
    in_channels: int = 3
    channels_first_layer: int = 64  # doubled by each downsampling stage: 64 → 128 → 256 → 512
    resolution: int = 64
    num_downsample_steps: int = 3  # 64 / 2^3 = 8 → an 8×8 token grid
    norm_num_groups: int = 8
    perceptual_loss: bool = True
    vgg_weights: str = "weights/vgg16-397923af.pth"
    lpips_weights: str = "weights/lpips_vgg.pth"

    @property
    def grid_size(self) -> int:
        """Side of the token grid (h = w)."""
        return self.resolution // 2**self.num_downsample_steps


def _norm_act(cfg: ImageTokenizerConfig, channels: int) -> list[nn.Module]:
    return [nn.GroupNorm(cfg.norm_num_groups, channels, eps=1e-6), nn.SiLU()]


class Encoder(nn.Module):
    """(N, 3, 64, 64) in [-1, 1] → z (N, 256, 8, 8): conv 3→64; per stage GN → SiLU → pad (0,1,0,1) →
    3×3 stride-2 conv doubling channels; GN → SiLU → conv 512→256 (§4.1, about 2.73M parameters)."""

    def __init__(self, cfg: ImageTokenizerConfig) -> None:
        super().__init__()
        c = cfg.channels_first_layer
        layers: list[nn.Module] = [nn.Conv2d(cfg.in_channels, c, 3, padding=1)]
        for _ in range(cfg.num_downsample_steps):
            layers += [*_norm_act(cfg, c), nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(c, 2 * c, 3, stride=2)]
            c *= 2
        layers += [*_norm_act(cfg, c), nn.Conv2d(c, cfg.embed_dim, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """z_q (N, 256, 8, 8) → (N, 3, 64, 64) on the [-1, 1] scale (no output squashing): BatchNorm2d →
    conv 256→512; per stage GN → SiLU → nearest-exact ×2 → conv halving channels; GN → SiLU → conv 64→3
    (§4.1, about 2.73M parameters)."""

    def __init__(self, cfg: ImageTokenizerConfig) -> None:
        super().__init__()
        c = cfg.channels_first_layer * 2**cfg.num_downsample_steps
        layers: list[nn.Module] = [nn.BatchNorm2d(cfg.embed_dim), nn.Conv2d(cfg.embed_dim, c, 3, padding=1)]
        for _ in range(cfg.num_downsample_steps):
            layers += [
                *_norm_act(cfg, c),
                nn.Upsample(scale_factor=2, mode="nearest-exact"),
                nn.Conv2d(c, c // 2, 3, padding=1),
            ]
            c //= 2
        layers += [*_norm_act(cfg, c), nn.Conv2d(c, cfg.in_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z_q: Tensor) -> Tensor:
        return self.net(z_q)


class ImageTokenizer(nn.Module):
    """VQ-VAE over single frames (§4.1). Frames are uint8 (N, 3, H, W); tokens int64 (N, h*w), row-major.

    With `cfg.perceptual_loss` the constructor loads the frozen LPIPS metric from the two configured
    files (raising `MissingWeightsError` if either is absent). LPIPS holds its weights as non-persistent
    buffers, so it follows `.to(device)` but adds nothing to `parameters()` or `state_dict()`.
    """

    def __init__(self, cfg: ImageTokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.codebook = nn.Embedding(cfg.vocab_size, cfg.embed_dim)
        nn.init.uniform_(self.codebook.weight, -1.0 / cfg.vocab_size, 1.0 / cfg.vocab_size)
        self.lpips = LPIPS.from_files(cfg.vgg_weights, cfg.lpips_weights) if cfg.perceptual_loss else None
        self.encode_batch_size: int | None = None  # lowered after a CUDA out-of-memory error in `tokenize`

    def quantize(self, z: Tensor) -> Tensor:
        """z (N, D, h, w) → index of the nearest code by squared L2, (N, h*w) int64, row-major (h, w)."""
        flat = rearrange(z, "n d h w -> n (h w) d")
        codes = self.codebook.weight  # (V, D)
        # ||z - e||² = ||z||² - 2 z·e + ||e||²; ||z||² is the same for every code, so it is left out.
        distances = codes.square().sum(dim=1) - 2 * flat @ codes.t()  # (N, h*w, V)
        return distances.argmin(dim=-1)

    def embed(self, tokens: Tensor) -> Tensor:
        """Tokens (..., h*w) → z_q (..., D, h, w), the codebook vectors on the token grid."""
        return rearrange(self.codebook(tokens), "... (h w) d -> ... d h w", h=self.cfg.grid_size)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (N, 3, H, W) in [0, 1] → z (N, D, h, w), z_q (N, D, h, w), tokens (N, h*w)."""
        z = self.encoder(2 * x - 1)
        tokens = self.quantize(z)
        return z, self.embed(tokens), tokens

    def decode(self, z_q: Tensor) -> Tensor:
        """z_q (N, D, h, w) → reconstruction (N, 3, H, W) on the [-1, 1] scale."""
        return self.decoder(z_q)

    @torch.no_grad()
    def tokenize(self, frames: Tensor) -> Tensor:
        """uint8 frames (N, 3, H, W) → tokens (N, h*w) int64, without gradient.

        On CUDA out-of-memory the batch is encoded in halves, and the smaller size is kept for later calls.
        """
        while True:
            size = self.encode_batch_size or frames.shape[0]
            try:
                return torch.cat([self.encode(part.float() / 255)[2] for part in frames.split(size)])
            except torch.cuda.OutOfMemoryError:
                if size == 1:
                    raise
                self.encode_batch_size = size // 2

    @torch.no_grad()
    def reconstruct(self, frames: Tensor) -> Tensor:
        """uint8 frames (N, 3, H, W) → reconstructions (N, 3, H, W) in [0, 1], for viewing."""
        z_q = self.encode(frames.float() / 255)[1]
        return ((self.decode(z_q) + 1) / 2).clamp(0, 1)

    def compute_loss(self, frames: Tensor) -> tuple[Tensor, dict[str, float]]:
        """uint8 frames (N, 3, H, W) → (loss, metrics), §4.1.

        commitment_loss = MSE(z_q, sg z) + β·MSE(z, sg z_q); reconstruction_loss = pixel MSE on the
        [-1, 1] scale; perceptual_loss = mean LPIPS (only with `cfg.perceptual_loss`). The decoder reads
        z + sg(z_q - z), so the reconstruction terms train the encoder straight through.
        """
        x = frames.float() / 255  # (N, 3, H, W)
        target = 2 * x - 1
        z, z_q, tokens = self.encode(x)
        terms = {"commitment_loss": F.mse_loss(z_q, z.detach()) + COMMITMENT_BETA * F.mse_loss(z, z_q.detach())}
        reconstruction = self.decode(z + (z_q - z).detach())  # (N, 3, H, W)
        terms["reconstruction_loss"] = F.mse_loss(reconstruction, target)
        if self.lpips is not None:
            terms["perceptual_loss"] = self.lpips(target, reconstruction).mean()
        loss = sum(terms.values())
        metrics = {name: value.item() for name, value in terms.items()}
        metrics["codebook_usage"] = tokens.unique().numel() / self.cfg.vocab_size
        return loss, metrics
