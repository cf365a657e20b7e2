"""The latent-space actor-critic ("LS" controller in the paper, design §6.1, §6.3, §11 D3, D7).

The actor-critic reads the tokenizer's codes (`MultiModalTokenizer.codes`), never raw observations, so real
and imagined inputs go through the same path. Per trunk: code-space encoders → LN-SiLU MLP fuser → an LSTM
cell that alternates an observation step (policy and value read there) and an action step (the embedded
action as input). With `separate_networks` the critic has its own trunk; otherwise the critic's gradients
train the shared trunk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from m3.envs.spec import EnvSpec
from m3.models.mlp import mlp
from m3.models.distributions import support_bias_init, symexp, symlog, value_hl_gauss, value_support


@dataclass
class ActorCriticConfig:
    """Actor-critic architecture (design §3.3)."""

    obs_mlp_layer_sizes: list[int] = field(default_factory=lambda: [512])  # last entry = LSTM size
    image_conv_layers: int = 2
    separate_networks: bool = False
    include_action_inputs: bool = True
    num_value_bins: int = 128  # the critic has num_value_bins + 1 categories
    tokens_embed_dim: int = 64
    n_action_quant_levels: int = 51


LSTMState = tuple[Tensor, Tensor]  # (h, c), each (B, hidden)


class ActorCriticState(NamedTuple):
    """The recurrent state: the actor (or shared) trunk's (h, c) and the critic trunk's, if separate."""

    actor: LSTMState
    critic: LSTMState | None


def _where(mask: Tensor, new: LSTMState, old: LSTMState) -> LSTMState:
    m = mask.view(-1, 1)  # (B, 1)
    return torch.where(m, new[0], old[0]), torch.where(m, new[1], old[1])


@dataclass
class ActorOutput:
    """The policy at one obs step (design §6.1).

    logits: discrete (B, A); continuous (B, A, n_levels), one categorical per action dimension over the
    uniform levels `levels` (n_levels,) on [-1, 1]. For continuous actions the log-prob and the entropy
    are means over dimensions.
    """

    logits: Tensor
    levels: Tensor | None = None

    def sample(self, temperature: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
        """Actions (B,) int64 or (B, A) float on the level grid, sampled from softmax(logits / temperature);
        with a `generator`, the draw runs on its device (a CPU generator works for a CUDA model)."""
        probs = F.softmax(self.logits / temperature, dim=-1).reshape(-1, self.logits.shape[-1])
        draw_device = probs.device if generator is None else generator.device
        idx = torch.multinomial(probs.to(draw_device), 1, generator=generator).to(probs.device)
        idx = idx.view(self.logits.shape[:-1])  # (B,) or (B, A)
        return idx if self.levels is None else self.levels[idx]

    def _indices(self, actions: Tensor) -> Tensor:
        if self.levels is None:
            return actions.long()
        return (actions.unsqueeze(-1) - self.levels).abs().argmin(-1)  # (B, A): nearest level

    def log_prob(self, actions: Tensor) -> Tensor:
        """log π(a) (B,); continuous: mean over dimensions of the chosen levels' log-probs."""
        logp = F.log_softmax(self.logits, dim=-1).gather(-1, self._indices(actions).unsqueeze(-1)).squeeze(-1)
        return logp if self.levels is None else logp.mean(-1)

    def entropy(self) -> Tensor:
        """H(π) (B,); continuous: mean over dimensions."""
        logp = F.log_softmax(self.logits, dim=-1)
        ent = -(logp.exp() * logp).sum(-1)
        return ent if self.levels is None else ent.mean(-1)


class ObsEncoder(nn.Module):
    """Code-space encoders, concatenated in modality order (design §6.1): {name: (N, ...)} → (N, out_dim).

    image z_q (N, C, g, g): `num_conv` conv3×3 stride-1 layers halving the channels, each + SiLU, flatten;
    vector (N, n): identity on the dequantized symlog levels; token (N, n): an embedding per token,
    flatten; token_2d (N, cells, F): per-column embeddings, a cell = their mean, flatten.
    """

    def __init__(self, spec: EnvSpec, image_embed_dim: int, image_grid: int, token_vocabs: dict[str, tuple[int, ...]],
                 embed_dim: int, num_conv: int) -> None:
        super().__init__()
        obs = spec.observations
        self.image: nn.Sequential | None = None
        self.token: nn.Embedding | None = None
        self.token_2d: nn.Embedding | None = None
        self.out_dim = 0
        if "image" in obs:
            layers: list[nn.Module] = []
            ch = image_embed_dim
            for _ in range(num_conv):
                layers += [nn.Conv2d(ch, ch // 2, 3, padding=1), nn.SiLU()]
                ch //= 2
            self.image = nn.Sequential(*layers, nn.Flatten())
            self.out_dim += ch * image_grid * image_grid
        self.use_vector = "vector" in obs
        if self.use_vector:
            self.out_dim += obs["vector"].shape[0]
        if "token" in obs:
            self.token = nn.Embedding(token_vocabs["token"][0], embed_dim)
            self.out_dim += obs["token"].shape[0] * embed_dim
        if "token_2d" in obs:
            vocabs = token_vocabs["token_2d"]
            self.token_2d = nn.Embedding(sum(vocabs), embed_dim)
            offsets = torch.tensor([0, *vocabs[:-1]]).cumsum(0)  # (F,) first row of each column's table
            self.register_buffer("token_2d_offsets", offsets, persistent=False)
            self.out_dim += obs["token_2d"].shape[0] * embed_dim

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        parts = []
        if self.image is not None:
            parts.append(self.image(inputs["image"]))  # (N, C' g g)
        if self.use_vector:
            parts.append(inputs["vector"].float())  # (N, n)
        if self.token is not None:
            parts.append(self.token(inputs["token"]).flatten(1))  # (N, n D)
        if self.token_2d is not None:
            cells = self.token_2d(inputs["token_2d"] + self.token_2d_offsets).mean(-2)  # (N, cells, D)
            parts.append(cells.flatten(1))
        return torch.cat(parts, dim=-1)


class Trunk(nn.Module):
    """Encoders → fuser (every layer Linear-LN-SiLU, the last included, §11 D7) → LSTM cell, plus the
    action embedding that feeds the LSTM's action steps (design §6.1)."""

    def __init__(self, cfg: ActorCriticConfig, spec: EnvSpec, image_embed_dim: int, image_grid: int,
                 token_vocabs: dict[str, tuple[int, ...]]) -> None:
        super().__init__()
        hidden = cfg.obs_mlp_layer_sizes[-1]
        self.encoder = ObsEncoder(spec, image_embed_dim, image_grid, token_vocabs, cfg.tokens_embed_dim,
                                  cfg.image_conv_layers)
        self.fuser = mlp([self.encoder.out_dim, *cfg.obs_mlp_layer_sizes], last_norm_act=True)
        self.lstm = nn.LSTMCell(hidden, hidden)
        self.discrete = spec.action.kind == "discrete"
        self.action_embed: nn.Module | None = None
        if cfg.include_action_inputs and self.discrete:
            self.action_embed = nn.Embedding(spec.action.n, hidden)  # (A, hidden)
        elif cfg.include_action_inputs:
            self.action_embed = nn.Linear(spec.action.n, hidden)  # action_dim → hidden

    def embed_obs(self, inputs: dict[str, Tensor]) -> Tensor:
        features = self.encoder(inputs)  # (N, out_dim), float32 when the vector codes are
        return self.fuser(features.to(self.fuser[0].weight.dtype))  # (N, hidden)

    def embed_action(self, actions: Tensor) -> Tensor:
        if self.discrete:
            return self.action_embed(actions.long())  # (N, hidden)
        return self.action_embed(actions.to(self.action_embed.weight.dtype))  # raw action values, not levels


class ActorCritic(nn.Module):
    """The actor-critic of design §6.1 over `MultiModalTokenizer.codes` dicts.

    token_vocabs: vocabularies of the token modalities (token (V,), token_2d per column); defaults to the
    `EnvSpec` vocabularies.
    """

    def __init__(self, cfg: ActorCriticConfig, spec: EnvSpec, image_embed_dim: int = 256, image_grid: int = 8,
                 token_vocabs: dict[str, tuple[int, ...]] | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.action_spec = spec.action
        self.hidden_size = cfg.obs_mlp_layer_sizes[-1]
        vocabs = {name: m.vocab for name, m in spec.observations.items()} | dict(token_vocabs or {})
        trunk_args = (cfg, spec, image_embed_dim, image_grid, vocabs)
        self.trunk = Trunk(*trunk_args)
        self.critic_trunk = Trunk(*trunk_args) if cfg.separate_networks else None
        if spec.action.kind == "discrete":
            self.levels = None
            self.actor_head = nn.Linear(self.hidden_size, spec.action.n)
        else:
            self.register_buffer("levels", torch.linspace(-1.0, 1.0, cfg.n_action_quant_levels), persistent=False)
            self.actor_head = nn.Linear(self.hidden_size, spec.action.n * cfg.n_action_quant_levels)
        self.hl_gauss = value_hl_gauss(cfg.num_value_bins + 1)
        self.critic_head = nn.Linear(self.hidden_size, cfg.num_value_bins + 1)
        with torch.no_grad():
            self.critic_head.bias.copy_(support_bias_init(value_support(cfg.num_value_bins + 1)))

    def _trunks(self) -> list[Trunk]:
        return [self.trunk] if self.critic_trunk is None else [self.trunk, self.critic_trunk]

    def initial_state(self, batch_size: int, device: torch.device | str | None = None) -> ActorCriticState:
        weight = self.critic_head.weight
        device = weight.device if device is None else device
        hcs = [(torch.zeros(batch_size, self.hidden_size, device=device, dtype=weight.dtype),
                torch.zeros(batch_size, self.hidden_size, device=device, dtype=weight.dtype)) for _ in self._trunks()]
        return ActorCriticState(hcs[0], hcs[1] if len(hcs) > 1 else None)

    def obs_logits(self, inputs: dict[str, Tensor],
                   state: ActorCriticState) -> tuple[ActorOutput, Tensor, ActorCriticState]:
        """Obs step: inputs {name: (B, ...)} → (policy, value logits (B, bins + 1), new state)."""
        actor = self.trunk.lstm(self.trunk.embed_obs(inputs), state.actor)
        critic = None
        if self.critic_trunk is not None:
            critic = self.critic_trunk.lstm(self.critic_trunk.embed_obs(inputs), state.critic)
        logits = self.actor_head(actor[0])  # (B, A) or (B, A * levels)
        if self.levels is not None:
            logits = logits.view(-1, self.action_spec.n, self.levels.numel())  # (B, A, levels)
        value_logits = self.critic_head(actor[0] if critic is None else critic[0])  # (B, bins + 1)
        return ActorOutput(logits, self.levels), value_logits, ActorCriticState(actor, critic)

    def action_step(self, actions: Tensor, state: ActorCriticState) -> ActorCriticState:
        """The LSTM step on the embedded actions (B,) or (B, A); the identity without action inputs."""
        if not self.cfg.include_action_inputs:
            return state
        hcs = [t.lstm(t.embed_action(actions), hc) for t, hc in zip(self._trunks(), state)]
        return ActorCriticState(hcs[0], hcs[1] if len(hcs) > 1 else None)

    def value(self, value_logits: Tensor) -> Tensor:
        """symexp of the expected bin centre: (...,)."""
        return symexp(self.hl_gauss.expectation(value_logits))

    def value_loss(self, value_logits: Tensor, returns: Tensor) -> Tensor:
        """HL-Gauss cross-entropy against symlog(returns) (...,)."""
        return self.hl_gauss.loss(value_logits, symlog(returns))

    def burn_in(self, inputs: dict[str, Tensor], actions: Tensor, mask_padding: Tensor) -> ActorCriticState:
        """Obs step then action step for every step whose mask_padding (B, L) is True, from the initial
        state (§11 D3): a padded step leaves its row unchanged. inputs {name: (B, L, ...)}, actions (B, L[, A])."""
        b, steps = mask_padding.shape
        flat_inputs = {k: v.flatten(0, 1) for k, v in inputs.items()}
        hcs = []
        for trunk, hc in zip(self._trunks(), self.initial_state(b, mask_padding.device)):
            x_obs = trunk.embed_obs(flat_inputs).unflatten(0, (b, steps))  # (B, L, hidden)
            x_act = None
            if self.cfg.include_action_inputs:
                x_act = trunk.embed_action(actions.flatten(0, 1)).unflatten(0, (b, steps))  # (B, L, hidden)
            for t in range(steps):
                hc = _where(mask_padding[:, t], trunk.lstm(x_obs[:, t], hc), hc)
                if x_act is not None:
                    hc = _where(mask_padding[:, t], trunk.lstm(x_act[:, t], hc), hc)
            hcs.append(hc)
        return ActorCriticState(hcs[0], hcs[1] if len(hcs) > 1 else None)

    def random_actions(self, batch_size: int, generator: torch.Generator | None = None) -> Tensor:
        """Uniform random actions: discrete (B,); continuous (B, A), each dimension a uniform grid level."""
        device = self.critic_head.weight.device
        draw_device = device if generator is None else generator.device
        if self.levels is None:
            return torch.randint(self.action_spec.n, (batch_size,), generator=generator, device=draw_device).to(device)
        shape = (batch_size, self.action_spec.n)
        idx = torch.randint(self.levels.numel(), shape, generator=generator, device=draw_device)  # (B, A)
        return self.levels[idx.to(device)]

    @torch.no_grad()
    def act(self, inputs: dict[str, Tensor], state: ActorCriticState, temperature: float = 1.0, epsilon: float = 0.0,
            generator: torch.Generator | None = None) -> tuple[Tensor, ActorCriticState]:
        """Acting (design §6.3, §7.1): obs step, sample at `temperature`; with probability ε ONE draw replaces the
        whole action batch by random actions; then the action step. Random draws use `generator` (any device)."""
        policy, _, state = self.obs_logits(inputs, state)
        actions = policy.sample(temperature, generator)
        draw_device = actions.device if generator is None else generator.device
        if epsilon > 0 and torch.rand((), generator=generator, device=draw_device).item() < epsilon:
            actions = self.random_actions(actions.shape[0], generator)
        return actions, self.action_step(actions, state)
