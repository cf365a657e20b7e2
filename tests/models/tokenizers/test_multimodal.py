import math

import pytest
import torch

from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec
from m3.models.tokenizers import ImageTokenizerConfig, MultiModalTokenizer, VectorTokenizer

CRAFTAX_LIKE = EnvSpec(
    observations={
        "token_2d": ModalitySpec((6, 4), (37, 5, 40, 20)),  # declared out of order on purpose
        "vector": ModalitySpec((3,)),
        "token": ModalitySpec((1,), (4,)),
    },
    action=ActionSpec("discrete", 43),
)
TINY_IMAGE = ImageTokenizerConfig(vocab_size=32, embed_dim=16, channels_first_layer=8, perceptual_loss=False)


def craftax_obs(*lead):
    return {
        "vector": torch.randn(*lead, 3) * 5,
        "token": torch.randint(0, 4, (*lead, 1)),
        "token_2d": torch.stack([torch.randint(0, v, (*lead, 6)) for v in (37, 5, 40, 20)], dim=-1),
    }


def test_non_image_modalities():
    tok = MultiModalTokenizer(CRAFTAX_LIKE)
    assert tok.modalities == ("vector", "token", "token_2d")
    assert tok.image is None and not tok.trainable and list(tok.parameters()) == []
    assert tok.vocab("vector") == (125,) and tok.vocab("token") == (4,)
    assert tok.vocab("token_2d") == (37, 5, 40, 20)


def test_tokenize_and_codes_keep_leading_dims():
    tok = MultiModalTokenizer(CRAFTAX_LIKE)
    obs = craftax_obs(2, 5)
    tokens = tok.tokenize(obs)
    assert list(tokens) == ["vector", "token", "token_2d"]
    assert tokens["vector"].shape == (2, 5, 3) and tokens["vector"].dtype == torch.int64
    assert torch.equal(tokens["vector"], VectorTokenizer().tokenize(obs["vector"]))
    assert torch.equal(tokens["token"], obs["token"]) and torch.equal(tokens["token_2d"], obs["token_2d"])
    inputs = tok.codes(tokens)
    torch.testing.assert_close(inputs["vector"], VectorTokenizer().levels[tokens["vector"]])
    assert torch.equal(inputs["token"], obs["token"]) and torch.equal(inputs["token_2d"], obs["token_2d"])


def test_vector_path_applies_symlog():
    tok = MultiModalTokenizer(EnvSpec(observations={"vector": ModalitySpec((2,))}))
    inputs = tok.codes(tok.tokenize({"vector": torch.tensor([[math.e - 1, -(math.e**2 - 1)]])}))
    levels = VectorTokenizer().levels
    expected = torch.stack([levels[(levels - 1.0).abs().argmin()], levels[(levels + 2.0).abs().argmin()]])
    torch.testing.assert_close(inputs["vector"], expected[None])


def test_bad_token_raises():
    tok = MultiModalTokenizer(CRAFTAX_LIKE)
    obs = craftax_obs(3)
    obs["token_2d"][1, 2, 2] = 40
    with pytest.raises(ValueError, match="column 2"):
        tok.tokenize(obs)


def test_image_path():
    spec = EnvSpec(observations={"image": ModalitySpec((3, 64, 64))}, action=ActionSpec("discrete", 6))
    tok = MultiModalTokenizer(spec, TINY_IMAGE)
    assert tok.modalities == ("image",) and tok.trainable and tok.vocab("image") == (32,)
    frames = torch.randint(0, 256, (2, 3, 3, 64, 64), dtype=torch.uint8)
    tokens = tok.tokenize({"image": frames})
    assert tokens["image"].shape == (2, 3, 64) and tokens["image"].dtype == torch.int64
    assert not tokens["image"].requires_grad
    assert torch.equal(tokens["image"][1], tok.image.tokenize(frames[1]))
    inputs = tok.codes(tokens)
    assert inputs["image"].shape == (2, 3, 16, 8, 8) and not inputs["image"].requires_grad
    code = tok.image.codebook.weight[tokens["image"][0, 2, 9]]  # token 9 sits at row 1, column 1
    torch.testing.assert_close(inputs["image"][0, 2, :, 1, 1], code.detach())
