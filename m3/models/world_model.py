"""The token world model: token stream, RetNet + POP, heads, loss, priority and imagination (design §5).

A block (one env step) is [obs tokens in modality order | action token(s)], T tokens of which K are
obs tokens. Block j's K learned prediction tokens run against the RetNet state after block j − 1 and
predict o_j; the last of them also gives r_{j−1} and d_{j−1} (§5.4, §11 D1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m3.envs.spec import EnvSpec
from m3.models.heads import CuriosityEnsemble, ObservationHeads, RewardHead, termination_head
from m3.models.retnet import RetNet, RetNetConfig
from m3.models.tokenizers.actions import ActionTokenizer
from m3.models.tokenizers.vector import VectorTokenizer
from m3.models.distributions import reward_hl_gauss


@dataclass
class WorldModelConfig:
    """World-model settings (§3.2); `retnet.max_blocks` / `blocks_per_chunk` set segment and chunk sizes."""

    retnet: RetNetConfig = field(default_factory=RetNetConfig)
    context_length: int = 2
    shared_embeddings: bool = True  # image tokens embedded by the tokenizer's codebook (no gradient)
    enable_curiosity: bool = True
    ensemble_size: int = 4


class WorldModelLoss(NamedTuple):
    loss: Tensor  # scalar: loss_obs + loss_rewards + loss_ends + curiosity_loss
    priority: Tensor  # (B,) detached: mean obs CE + mean reward CE of each sample (§5.6)
    metrics: dict[str, Tensor]  # detached scalars named as logged (§7.4)


class Predictions(NamedTuple):
    """Head outputs for one or more predicted blocks (leading dims ...)."""

    features: Tensor  # (..., K, d) prediction-token outputs
    obs: dict[str, Tensor]  # {name: (..., n_m, Σ vocab_m)}
    reward: Tensor  # (..., num_bins) HL-Gauss logits, from the last obs prediction token
    done: Tensor  # (..., 2) logits, from the same token (§11 D1)


@dataclass
class ImaginationState:
    """Recurrent imagination state (§5.3): per-layer RetNet states, token counter, unconsumed inputs."""

    states: list[Tensor] | None  # per layer (B, H, d_h, d_h); None = zero state
    position: int  # n: absolute index of the next token (0 = the first context block's first token)
    pending: Tensor  # (B, P, d): embedded tokens to consume before the next action


class ImaginationStep(NamedTuple):
    state: ImaginationState
    tokens: dict[str, Tensor]  # sampled next obs tokens {name: (B, ...)}
    reward: Tensor  # (B,) symexp of the HL-Gauss expectation
    done: Tensor  # (B,) bool, sampled
    intrinsic: Tensor  # (B,) ensemble JSD summed over modalities (zeros without curiosity)


class TokenEmbedder(nn.Module):
    """Input embeddings of the token stream (§5.1, §4.1–§4.5); no positional embedding.

    image: the tokenizer codebook (passed per call, detached) with a Linear map to d when its width
    differs from d (only small test configs), or an own table when `shared` is False; vector: one
    shared 125 × d table; token: V × d; token_2d: one table per column, a cell = mean of its columns;
    actions: num_actions × d (discrete) or one shared 51 × d table for all dimensions (continuous).
    """

    def __init__(self, spec: EnvSpec, d: int, image_vocab: int, image_embed_dim: int, shared: bool) -> None:
        super().__init__()
        self.names = tuple(spec.observations)
        self.shared_image = shared and "image" in spec.observations
        tables: dict[str, nn.Module] = {}
        if "image" in spec.observations and not shared:
            tables["image"] = nn.Embedding(image_vocab, d)
        if "vector" in spec.observations:
            tables["vector"] = nn.Embedding(VectorTokenizer.VOCAB, d)
        if "token" in spec.observations:
            tables["token"] = nn.Embedding(spec.observations["token"].vocab[0], d)
        if "token_2d" in spec.observations:
            tables["token_2d"] = nn.ModuleList(nn.Embedding(v, d) for v in spec.observations["token_2d"].vocab)
        self.embeddings = nn.ModuleDict(tables)
        self.image_proj = nn.Linear(image_embed_dim, d) if image_embed_dim != d else nn.Identity()
        self.action_tokenizer = ActionTokenizer(spec.action)
        self.action_embedding = nn.Embedding(self.action_tokenizer.vocab, d)

    def obs(self, tokens: dict[str, Tensor], codebook: Tensor | None) -> Tensor:
        """{name: (..., n_m) or (..., cells, F)} → (..., K, d) in block order."""
        parts = []
        for name in self.names:
            if name == "image" and self.shared_image:
                parts.append(self.image_proj(codebook.detach()[tokens[name]]))
            elif name == "token_2d":
                columns = [table(tokens[name][..., f]) for f, table in enumerate(self.embeddings[name])]
                parts.append(torch.stack(columns).mean(0))
            else:
                parts.append(self.embeddings[name](tokens[name]))
        return torch.cat(parts, dim=-2)

    def actions(self, actions: Tensor) -> Tensor:
        """Env actions (...,) int or (..., A) float → (..., num_action_tokens, d)."""
        return self.action_embedding(self.action_tokenizer.tokenize(actions))


class WorldModel(nn.Module):
    """RetNet world model with parallel observation prediction (§5)."""

    def __init__(
        self, cfg: WorldModelConfig, spec: EnvSpec, image_vocab: int = 512, image_embed_dim: int = 256
    ) -> None:
        super().__init__()
        self.cfg, self.spec = cfg, spec
        self.K, self.T = spec.tokens_per_obs, spec.tokens_per_block
        d = cfg.retnet.embed_dim
        self.embedder = TokenEmbedder(spec, d, image_vocab, image_embed_dim, cfg.shared_embeddings)
        self.prediction_embedding = nn.Embedding(self.T, d)  # one per block position, the first K used (§5.3)
        self.retnet = RetNet(cfg.retnet, self.T)
        self.obs_heads = ObservationHeads(spec, d, image_vocab)
        self.reward_head = RewardHead(d, reward_hl_gauss())
        self.termination_head = termination_head(d)
        self.ensemble = CuriosityEnsemble(spec, d, image_vocab, cfg.ensemble_size) if cfg.enable_curiosity else None

    def embed_blocks(self, tokens: dict[str, Tensor], actions: Tensor, codebook: Tensor | None) -> Tensor:
        """Segment tokens {name: (B, L, ...)} and actions (B, L[, A]) → the token stream (B, L·T, d)."""
        blocks = torch.cat([self.embedder.obs(tokens, codebook), self.embedder.actions(actions)], dim=2)  # (B, L, T, d)
        return blocks.flatten(1, 2)

    def _prediction_features(self, states: list[Tensor], start: int | Tensor) -> Tensor:
        """Run the K prediction tokens against `states` (per layer (N, H, d_h, d_h)) without updating
        them; `start` (int or (N,)) is the absolute index of the first obs token they stand for → (N, K, d)."""
        N = states[0].shape[0]
        x = self.prediction_embedding.weight[: self.K].expand(N, self.K, -1)  # (N, K, d)
        return self.retnet(x, start, states=states).y

    def heads(self, features: Tensor) -> Predictions:
        """Prediction-token outputs (..., K, d) → all head outputs; reward and done both read the last obs
        prediction token (§11 D1)."""
        last = features[..., -1, :]  # (..., d)
        return Predictions(features, self.obs_heads(features), self.reward_head(last), self.termination_head(last))

    def forward(self, tokens: dict[str, Tensor], actions: Tensor, codebook: Tensor | None = None) -> Predictions:
        """POP training forward (§5.3): predictions (B, L, ...) where block j predicts o_j (and r_{j−1},
        d_{j−1}) from the history up to (o_{j−1}, a_{j−1}); block 0 from the zero state."""
        x = self.embed_blocks(tokens, actions, codebook)  # (B, L·T, d)
        B, L, T = x.shape[0], x.shape[1] // self.T, self.T
        chunk = self.cfg.retnet.blocks_per_chunk
        states: list[Tensor] | None = None
        features = []
        for first in range(0, L, chunk):
            n = min(chunk, L - first)
            real = self.retnet(x[:, first * T : (first + n) * T], first * T, states=states, block_size=T)
            incoming = states if states is not None else [torch.zeros_like(s[:, 0]) for s in real.block_states]
            shifted = [  # block j of the chunk reads the state after block j − 1: (B·n, H, d_h, d_h)
                torch.cat([s0.unsqueeze(1), s[:, :-1]], dim=1).flatten(0, 1)
                for s0, s in zip(incoming, real.block_states)
            ]
            starts = ((first + torch.arange(n, device=x.device)) * T).repeat(B)  # (B·n,), batch-major
            features.append(self._prediction_features(shifted, starts).unflatten(0, (B, n)))  # (B, n, K, d)
            states = real.states
        return self.heads(torch.cat(features, dim=1))  # (B, L, K, d)

    def compute_loss(
        self,
        tokens: dict[str, Tensor],
        actions: Tensor,
        rewards: Tensor,
        ends: Tensor,
        mask_padding: Tensor,
        codebook: Tensor | None = None,
    ) -> WorldModelLoss:
        """WM loss (§5.4–§5.6) on a right-padded segment batch: tokens {name: (B, L, ...)}, actions
        (B, L[, A]), rewards / ends / mask_padding (B, L).

        Obs CE over valid blocks t ≥ c, per token; r_t and d_t from block t+1's last obs prediction
        token for every t with t and t+1 valid (§11 D1).
        """
        pred = self(tokens, actions, codebook)
        B, L = mask_padding.shape
        valid = mask_padding.bool()
        obs_mask = valid & (torch.arange(L, device=valid.device) >= self.cfg.context_length)  # (B, L)
        obs_ce = torch.where(obs_mask.unsqueeze(-1), self.obs_heads.cross_entropy(pred.obs, tokens), 0.0)  # (B, L, K)
        obs_count = obs_mask.sum(1) * self.K  # (B,)
        step_mask = valid[:, :-1] & valid[:, 1:]  # (B, L−1): t and t+1 valid
        reward_ce = torch.where(step_mask, self.reward_head.loss(pred.reward[:, 1:], rewards[:, :-1]), 0.0)
        end_targets = torch.where(step_mask, ends[:, :-1].long(), 0)
        end_ce = F.cross_entropy(pred.done[:, 1:].transpose(1, 2), end_targets, reduction="none")  # (B, L−1)
        end_ce = torch.where(step_mask, end_ce, 0.0)
        steps = step_mask.sum().clamp_min(1)
        loss_obs = obs_ce.sum() / obs_count.sum().clamp_min(1)
        loss_rewards, loss_ends = reward_ce.sum() / steps, end_ce.sum() / steps
        curiosity = loss_obs.new_zeros(())
        if self.ensemble is not None:
            curiosity = self.ensemble.loss(pred.features, tokens, obs_mask)
        loss = loss_obs + loss_rewards + loss_ends + curiosity
        priority = obs_ce.sum((1, 2)) / obs_count.clamp_min(1) + reward_ce.sum(1) / step_mask.sum(1).clamp_min(1)
        metrics = dict(
            total_loss=loss, loss_obs=loss_obs, loss_rewards=loss_rewards, loss_ends=loss_ends, curiosity_loss=curiosity
        )
        return WorldModelLoss(loss, priority.detach(), {k: v.detach() for k, v in metrics.items()})

    @torch.no_grad()
    def imagine_reset(
        self, context_tokens: dict[str, Tensor], context_actions: Tensor, codebook: Tensor | None = None
    ) -> ImaginationState:
        """Queue c context observations {name: (B, c, ...)} and the c − 1 actions between them (B, c−1[, A])
        (§6.2); nothing runs until the first `imagine_step`. Positions restart at 0 at the first block."""
        obs = self.embedder.obs(context_tokens, codebook)  # (B, c, K, d)
        acts = self.embedder.actions(context_actions)  # (B, c−1, A, d)
        blocks = torch.cat([obs[:, :-1], acts], dim=2).flatten(1, 2)  # (B, (c−1)·T, d)
        return ImaginationState(None, 0, torch.cat([blocks, obs[:, -1]], dim=1))

    @torch.no_grad()
    def imagine_predict(self, state: ImaginationState, actions: Tensor) -> tuple[ImaginationState, Predictions]:
        """Consume the pending tokens plus `actions` (B,) or (B, A) chunkwise from the incoming state, then
        run the prediction tokens against the new state: predictions (B, ...) for the next block."""
        x = torch.cat([state.pending, self.embedder.actions(actions)], dim=1)  # (B, P + A, d)
        states = self.retnet(x, state.position, states=state.states).states
        position = state.position + x.shape[1]
        pred = self.heads(self._prediction_features(states, position))
        return ImaginationState(states, position, x[:, :0]), pred

    @torch.no_grad()
    def imagine_observe(
        self, state: ImaginationState, tokens: dict[str, Tensor], codebook: Tensor | None = None
    ) -> ImaginationState:
        """Queue next-obs tokens {name: (B, ...)} (sampled, or the true ones when replaying) as the next prefix."""
        return ImaginationState(state.states, state.position, self.embedder.obs(tokens, codebook))

    @torch.no_grad()
    def imagine_step(self, state: ImaginationState, actions: Tensor, codebook: Tensor | None = None) -> ImaginationStep:
        """One imagined env step (§5.3): sample the next obs tokens (temperature 1, token_2d columns
        independently), reward = symexp(HL-Gauss expectation), sampled done, ensemble JSD intrinsic reward."""
        state, pred = self.imagine_predict(state, actions)
        tokens = self.obs_heads.sample(pred.obs)
        reward = self.reward_head.predict(pred.reward)
        done = torch.distributions.Categorical(logits=pred.done, validate_args=False).sample().bool()  # no sync
        intrinsic = reward.new_zeros(reward.shape)
        if self.ensemble is not None:
            intrinsic = self.ensemble.intrinsic_reward(pred.features)
        return ImaginationStep(self.imagine_observe(state, tokens, codebook), tokens, reward, done, intrinsic)
