"""Prediction heads of the world model (design §5.4, §5.5, §11 D6).

Observation heads read the K prediction-token outputs of a block; each modality has one MLP shared
across its positions. A token_2d cell is one token whose head emits the concatenated logits of its
columns; the columns are independent categoricals (per-column CE summed per cell, per-column
sampling, per-column JSD). The reward and termination heads read the last obs prediction latent.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m3.envs.spec import EnvSpec
from m3.models.mlp import mlp
from m3.models.tokenizers.vector import VectorTokenizer
from m3.models.distributions import HLGauss, reward_support, support_bias_init, symexp, symlog


def modality_vocabs(spec: EnvSpec, image_vocab: int) -> dict[str, tuple[int, ...]]:
    """Per-modality token vocabularies: image (image_vocab,), vector (125,), token (V,), token_2d per column."""
    vocabs = {"image": (image_vocab,), "vector": (VectorTokenizer.VOCAB,)}
    return {name: vocabs.get(name, tuple(m.vocab)) for name, m in spec.observations.items()}


def split_columns(logits: Tensor, vocabs: tuple[int, ...]) -> tuple[Tensor, ...]:
    """(..., Σ vocabs) → one (..., vocab_f) slice per column."""
    return torch.split(logits, list(vocabs), dim=-1)


def token_cross_entropy(logits: Tensor, targets: Tensor, vocabs: tuple[int, ...]) -> Tensor:
    """CE per token (...,): logits (..., Σ vocabs); targets (...,) for one column, (..., F) for several
    (a token_2d cell's CE is the sum of its column CEs, §4.4)."""
    if len(vocabs) == 1:
        return F.cross_entropy(logits.flatten(0, -2), targets.flatten(), reduction="none").view(targets.shape)
    columns = split_columns(logits, vocabs)
    per_column = [token_cross_entropy(col, targets[..., f], (v,)) for f, (col, v) in enumerate(zip(columns, vocabs))]
    return torch.stack(per_column).sum(0)


def sample_tokens(logits: Tensor, vocabs: tuple[int, ...], temperature: float = 1.0) -> Tensor:
    """Sample (...,) int64 for one column, (..., F) with every column drawn independently."""
    draws = [
        # validate_args=False: the same draws, without the argument check that waits for the device
        torch.distributions.Categorical(logits=col / temperature, validate_args=False).sample()
        for col in split_columns(logits, vocabs)
    ]
    return draws[0] if len(vocabs) == 1 else torch.stack(draws, dim=-1)


def entropy(probs: Tensor) -> Tensor:
    """Shannon entropy in nats over the last dim: (..., V) → (...)."""
    return -(probs * torch.log(probs.clamp_min(1e-12))).sum(-1)


def jensen_shannon(probs: Tensor) -> Tensor:
    """JSD of M members (M, ..., V) → (...): H(mean_i p_i) − mean_i H(p_i) (design §5.5), in nats."""
    return entropy(probs.mean(0)) - entropy(probs).mean(0)


def obs_head(d: int, vocab: int) -> nn.Sequential:
    """Linear d→2d → LayerNorm → SiLU → Linear 2d→vocab (design §5.4)."""
    return mlp([d, 2 * d, vocab], norm=True, last_norm_act=False)


class ObservationHeads(nn.Module):
    """One obs head per modality over the K prediction outputs of a block (design §5.4).

    Positions inside the K obs tokens follow the modality order of the spec (image | vector | token |
    token_2d); `slices[name]` gives each modality's range.
    """

    def __init__(self, spec: EnvSpec, d: int, image_vocab: int) -> None:
        super().__init__()
        self.vocabs = modality_vocabs(spec, image_vocab)
        self.slices: dict[str, slice] = {}
        offset = 0
        for name in spec.observations:
            self.slices[name] = slice(offset, offset + spec.obs_tokens(name))
            offset += spec.obs_tokens(name)
        self.heads = nn.ModuleDict({name: obs_head(d, sum(v)) for name, v in self.vocabs.items()})

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """x (..., K, d) → {name: logits (..., n_m, Σ vocab_m)}."""
        return {name: head(x[..., self.slices[name], :]) for name, head in self.heads.items()}

    def cross_entropy(self, logits: dict[str, Tensor], targets: dict[str, Tensor]) -> Tensor:
        """Per-token CE, modalities concatenated in block order: (..., K)."""
        return torch.cat([token_cross_entropy(logits[n], targets[n], self.vocabs[n]) for n in self.heads], dim=-1)

    def sample(self, logits: dict[str, Tensor], temperature: float = 1.0) -> dict[str, Tensor]:
        """{name: tokens (..., n_m) or (..., cells, F)} drawn independently per token and column."""
        return {n: sample_tokens(logits[n], self.vocabs[n], temperature) for n in self.heads}


class CuriosityEnsemble(nn.Module):
    """`members` copies of the observation heads trained on detached features (design §5.5)."""

    def __init__(self, spec: EnvSpec, d: int, image_vocab: int, members: int = 4) -> None:
        super().__init__()
        self.members = nn.ModuleList(ObservationHeads(spec, d, image_vocab) for _ in range(members))

    def loss(self, features: Tensor, targets: dict[str, Tensor], mask: Tensor) -> Tensor:
        """features (B, L, K, d), targets {name: (B, L, ...)}, mask (B, L) of predicted steps → scalar.

        Member i trains on the i-th of `members` disjoint batch slices; summed CE / (K × predicted steps).
        """
        features = features.detach()
        B, M = features.shape[0], len(self.members)
        edges = [i * B // M for i in range(M + 1)]
        total = features.new_zeros(())
        for member, lo, hi in zip(self.members, edges[:-1], edges[1:]):
            ce = member.cross_entropy(member(features[lo:hi]), {n: t[lo:hi] for n, t in targets.items()})  # (b, L, K)
            total = total + torch.where(mask[lo:hi].unsqueeze(-1), ce, 0.0).sum()
        return total / (features.shape[-2] * mask.sum()).clamp_min(1)

    def intrinsic_reward(self, features: Tensor) -> Tensor:
        """features (B, K, d) → (B,): per-token JSD across members, mean over each modality's tokens
        (token_2d: mean of per-column JSDs, §11 D6), summed over modalities."""
        logits = [member(features) for member in self.members]  # members × {name: (B, n_m, Σ V)}
        reward = features.new_zeros(features.shape[0])
        for name, vocabs in self.members[0].vocabs.items():
            columns = [split_columns(member_logits[name], vocabs) for member_logits in logits]
            per_column = [
                jensen_shannon(torch.stack([F.softmax(cols[f], dim=-1) for cols in columns]))  # (B, n_m)
                for f in range(len(vocabs))
            ]
            reward = reward + torch.stack(per_column).mean(0).mean(-1)
        return reward


class RewardHead(nn.Module):
    """Linear d→2d → SiLU → Linear 2d→129 HL-Gauss logits over symlog rewards (design §5.4)."""

    def __init__(self, d: int, hl_gauss: HLGauss) -> None:
        super().__init__()
        self.hl_gauss = hl_gauss
        self.net = mlp([d, 2 * d, hl_gauss.num_bins], norm=False, last_norm_act=False)
        with torch.no_grad():
            self.net[-1].bias.copy_(support_bias_init(reward_support(hl_gauss.num_bins)))

    def forward(self, x: Tensor) -> Tensor:
        """x (..., d) → logits (..., num_bins)."""
        return self.net(x)

    def loss(self, logits: Tensor, rewards: Tensor) -> Tensor:
        """HL-Gauss CE against symlog(r): (...,)."""
        return self.hl_gauss.loss(logits, symlog(rewards))

    def predict(self, logits: Tensor) -> Tensor:
        """symexp of the expected bin centre: the reward (...,)."""
        return symexp(self.hl_gauss.expectation(logits))


def termination_head(d: int) -> nn.Sequential:
    """Linear d→d → LayerNorm → SiLU → Linear d→2 (design §5.4)."""
    return mlp([d, d, 2], norm=True, last_norm_act=False)
