"""All observation tokenizers of an environment behind one call (design §4, docs/interfaces.md).

Modalities follow the fixed order image | vector | token | token_2d (§4.0); only those the env's
`EnvSpec` declares get a sub-tokenizer, the others are None.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from m3.envs.spec import EnvSpec
from m3.models.tokenizers.categorical import Token2DTokenizer, TokenTokenizer
from m3.models.tokenizers.image import ImageTokenizer, ImageTokenizerConfig
from m3.models.tokenizers.vector import VectorTokenizer


class MultiModalTokenizer(nn.Module):
    """Raw observation dicts → token dicts → actor-critic inputs (`codes`).

    Only the image tokenizer (a VQ-VAE, §4.1) has parameters; the others are fixed (§4.2–§4.4).
    """

    def __init__(self, spec: EnvSpec, image_cfg: ImageTokenizerConfig | None = None) -> None:
        super().__init__()
        self.spec = spec
        obs = spec.observations
        self.image = ImageTokenizer(image_cfg or ImageTokenizerConfig()) if "image" in obs else None
        self.vector = VectorTokenizer() if "vector" in obs else None
        self.token = TokenTokenizer(obs["token"].vocab[0]) if "token" in obs else None
        self.token_2d = Token2DTokenizer(obs["token_2d"].vocab) if "token_2d" in obs else None

    @property
    def modalities(self) -> tuple[str, ...]:
        """The env's modality names in block order (§4.0)."""
        return tuple(self.spec.observations)

    @property
    def trainable(self) -> bool:
        """Whether there is a tokenizer to train (only the image VQ-VAE has parameters)."""
        return self.image is not None

    def vocab(self, name: str) -> tuple[int, ...]:
        """Token vocabularies of a modality: image (codebook size,), vector (125,), token (V,),
        token_2d one per column."""
        if name == "image":
            return (self.image.codebook.num_embeddings,)
        if name == "vector":
            return (VectorTokenizer.VOCAB,)
        if name == "token":
            return (self.token.vocab,)
        if name == "token_2d":
            return self.token_2d.vocabs
        raise KeyError(f"unknown modality {name!r}")

    @torch.no_grad()
    def tokenize(self, obs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Raw obs {name: (..., *shape)} → tokens {name: int64}: image (..., h*w), vector (..., n)
        (symlog inside, §11 D5), token (..., n), token_2d (..., cells, F)."""
        tokens = {}
        for name in self.modalities:
            x = obs[name]
            if name == "image":
                lead = x.shape[:-3]
                flat = self.image.tokenize(x.reshape(-1, *x.shape[-3:]))  # (N, h*w)
                tokens[name] = flat.reshape(*lead, flat.shape[-1])
            else:
                tokens[name] = getattr(self, name).tokenize(x)
        return tokens

    @torch.no_grad()
    def codes(self, tokens: dict[str, Tensor]) -> dict[str, Tensor]:
        """Tokens → what the actor-critic reads (§6.1), without gradient: image z_q (..., embed_dim, h, w)
        from the codebook, vector the dequantized symlog levels (..., n) float, token / token_2d the
        ids unchanged."""
        inputs = {}
        for name in self.modalities:
            t = tokens[name]
            if name == "image":
                z_q = self.image.embed(t.reshape(-1, t.shape[-1]))  # (N, embed_dim, h, w)
                inputs[name] = z_q.reshape(*t.shape[:-1], *z_q.shape[1:])
            elif name == "vector":
                inputs[name] = self.vector.detokenize(t)
            else:
                inputs[name] = t
        return inputs
