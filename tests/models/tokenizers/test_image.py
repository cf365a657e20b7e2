"""Image VQ-VAE tokenizer (design §4.1): shapes, quantizer, straight-through, loss terms, LPIPS wiring."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from m3.models.tokenizers.image import ImageTokenizer, ImageTokenizerConfig
from m3.models.tokenizers.lpips import MissingWeightsError

VGG16_CONVS = [(0, 3, 64), (2, 64, 64), (5, 64, 128), (7, 128, 128), (10, 128, 256), (12, 256, 256),
               (14, 256, 256), (17, 256, 512), (19, 512, 512), (21, 512, 512), (24, 512, 512), (26, 512, 512),
               (28, 512, 512)]  # (torchvision features index, in, out)
LPIPS_TAPS = [64, 128, 256, 512, 512]  # channels of relu1_2 ... relu5_3


def small_cfg(**overrides) -> ImageTokenizerConfig:
    cfg = dict(vocab_size=32, embed_dim=16, channels_first_layer=8, resolution=16, num_downsample_steps=2,
               norm_num_groups=4, perceptual_loss=False)
    return ImageTokenizerConfig(**(cfg | overrides))


def frames(n: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory):
    """Random weight files in the torchvision VGG16 and LPIPS `vgg.pth` key layouts."""
    g = torch.Generator().manual_seed(0)
    vgg = {}
    for index, c_in, c_out in VGG16_CONVS:
        vgg[f"features.{index}.weight"] = torch.randn(c_out, c_in, 3, 3, generator=g) * (2 / (9 * c_in)) ** 0.5
        vgg[f"features.{index}.bias"] = torch.zeros(c_out)
    lin = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for k, c in enumerate(LPIPS_TAPS)}
    folder = tmp_path_factory.mktemp("weights")
    torch.save(vgg, folder / "vgg16.pth")
    torch.save(lin, folder / "lpips_vgg.pth")
    return dict(vgg_weights=str(folder / "vgg16.pth"), lpips_weights=str(folder / "lpips_vgg.pth"))


def test_default_shapes_and_parameter_counts():
    torch.manual_seed(0)
    tok = ImageTokenizer(ImageTokenizerConfig(perceptual_loss=False))
    x = frames(2, 64).float() / 255
    z, z_q, tokens = tok.encode(x)
    assert z.shape == z_q.shape == (2, 256, 8, 8)
    assert tokens.shape == (2, 64) and tokens.dtype == torch.int64
    assert tok.decode(z_q).shape == (2, 3, 64, 64)
    assert tuple(tok.codebook.weight.shape) == (512, 256)
    assert tok.codebook.weight.abs().max() <= 1 / 512
    for net in (tok.encoder, tok.decoder):
        assert sum(p.numel() for p in net.parameters()) == pytest.approx(2.73e6, rel=0.02)


def test_nearest_code_matches_float64_brute_force():
    torch.manual_seed(1)
    tok = ImageTokenizer(small_cfg())
    with torch.no_grad():
        tok.codebook.weight.normal_(0, 0.5)  # spread the codes so many of them win somewhere
    z, _, tokens = tok.encode(frames(4, 16).float() / 255)
    codes = tok.codebook.weight.detach().double()
    width = z.shape[3]
    for n in range(z.shape[0]):
        for i in range(z.shape[2]):
            for j in range(width):
                distances = ((z[n, :, i, j].detach().double() - codes) ** 2).sum(dim=1)
                assert tokens[n, i * width + j] == distances.argmin()
    assert tokens.unique().numel() > 4


def test_tokenize_then_embed_gives_the_encoded_z_q():
    torch.manual_seed(2)
    tok = ImageTokenizer(small_cfg())
    batch = frames(3, 16)
    tokens = tok.tokenize(batch)
    _, z_q, _ = tok.encode(batch.float() / 255)
    assert tokens.dtype == torch.int64 and tokens.shape == (3, 16)
    torch.testing.assert_close(tok.embed(tokens), z_q, rtol=0, atol=0)
    assert torch.equal(tok.embed(tokens)[1, :, 2, 3], tok.codebook.weight[tokens[1, 2 * 4 + 3]])
    stacked = tok.embed(torch.stack([tokens, tokens]))  # leading dims pass through
    assert stacked.shape == (2, 3, 16, 4, 4) and torch.equal(stacked[1], z_q)


def test_loss_terms_match_hand_computation(lpips_files):
    torch.manual_seed(3)
    tok = ImageTokenizer(small_cfg(perceptual_loss=True, **lpips_files))
    batch = frames(4, 16, seed=3)
    loss, metrics = tok.compute_loss(batch)

    with torch.no_grad():
        target = batch.double() / 255 * 2 - 1
        z = tok.encoder(target.float())
        codes = tok.codebook.weight
        d = ((z.double().permute(0, 2, 3, 1)[..., None, :] - codes.double()) ** 2).sum(-1)  # (N, h, w, V)
        z_q = codes[d.argmin(-1)].permute(0, 3, 1, 2)  # (N, D, h, w)
        rec = tok.decoder(z_q)  # train-mode BatchNorm, same batch statistics as inside compute_loss
        expected = {
            "commitment_loss": 2 * ((z.double() - z_q.double()) ** 2).mean().item(),
            "reconstruction_loss": ((rec.double() - target) ** 2).mean().item(),
            "perceptual_loss": tok.lpips(target.float(), rec).mean().item(),
        }
    for name, value in expected.items():
        assert metrics[name] == pytest.approx(value, rel=1e-4), name
    assert metrics["perceptual_loss"] > 0
    assert "loss" not in metrics  # the trainer logs the returned loss as total_loss
    assert loss.item() == pytest.approx(sum(expected.values()), rel=1e-4)
    assert metrics["codebook_usage"] == d.argmin(-1).unique().numel() / 32


def test_straight_through_gradients():
    torch.manual_seed(4)
    tok = ImageTokenizer(small_cfg())
    batch = frames(4, 16, seed=4)
    loss, _ = tok.compute_loss(batch)
    loss.backward()
    total = {name: p.grad.clone() for name, p in tok.named_parameters()}

    tok.zero_grad()
    z = tok.encoder(batch.float() / 255 * 2 - 1)
    z_q = tok.codebook(tok.quantize(z)).permute(0, 2, 1).reshape(z.shape)
    (F.mse_loss(z_q, z.detach()) + F.mse_loss(z, z_q.detach())).backward()
    commitment_only = {name: p.grad for name, p in tok.named_parameters()}

    # The codebook learns from the codebook term alone; the encoder also from the reconstruction.
    torch.testing.assert_close(total["codebook.weight"], commitment_only["codebook.weight"])
    first_conv = "encoder.net.0.weight"
    assert (total[first_conv] - commitment_only[first_conv]).abs().max() > 1e-6
    assert all(total[name].abs().sum() > 0 for name in total if name.startswith("decoder.net.1."))


def test_a_few_adam_steps_reduce_the_loss():
    torch.manual_seed(5)
    tok = ImageTokenizer(small_cfg())
    batch = frames(8, 16, seed=5)
    optimizer = torch.optim.Adam(tok.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss, _ = tok.compute_loss(batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]


def test_reconstruct_is_a_viewable_image():
    torch.manual_seed(6)
    tok = ImageTokenizer(small_cfg())
    out = tok.reconstruct(frames(2, 16))
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.float32
    assert out.min() >= 0 and out.max() <= 1 and not out.requires_grad


def test_missing_lpips_weights_give_one_clear_error(tmp_path):
    cfg = small_cfg(perceptual_loss=True, vgg_weights=str(tmp_path / "a.pth"), lpips_weights=str(tmp_path / "b.pth"))
    with pytest.raises(FileNotFoundError) as info:
        ImageTokenizer(cfg)
    assert isinstance(info.value, MissingWeightsError)
    message = str(info.value)
    for part in (cfg.vgg_weights, cfg.lpips_weights, "docs/weights.md", "tokenizer.perceptual_loss=false"):
        assert part in message


def test_frozen_lpips_stays_out_of_state_dict_and_optimizer(lpips_files):
    torch.manual_seed(7)
    with_lpips = ImageTokenizer(small_cfg(perceptual_loss=True, **lpips_files))
    without = ImageTokenizer(small_cfg())
    assert with_lpips.state_dict().keys() == without.state_dict().keys()
    assert not any("lpips" in key for key in with_lpips.state_dict())
    assert len(list(with_lpips.parameters())) == len(list(without.parameters()))
    with_lpips.load_state_dict(without.state_dict())  # strict: checkpoints are interchangeable
    with_lpips.train()
    assert with_lpips.lpips.training  # its dropout is active while the tokenizer trains (§4.1)
    with_lpips.to(torch.float64)
    assert all(b.dtype == torch.float64 for b in with_lpips.lpips.buffers())


def test_tokenize_halves_the_batch_after_cuda_oom(monkeypatch):
    torch.manual_seed(8)
    tok = ImageTokenizer(small_cfg())
    batch = frames(8, 16, seed=8)
    expected = tok.tokenize(batch)
    real_encode, sizes = tok.encode, []

    def encode_within_memory(x):
        sizes.append(x.shape[0])
        if x.shape[0] > 2:
            raise torch.cuda.OutOfMemoryError("simulated out of memory")
        return real_encode(x)

    monkeypatch.setattr(tok, "encode", encode_within_memory)
    assert torch.equal(tok.tokenize(batch), expected)
    assert tok.encode_batch_size == 2 and sizes == [8, 4, 2, 2, 2, 2]
    sizes.clear()
    tok.tokenize(batch)
    assert sizes == [2, 2, 2, 2]  # the smaller size is remembered
