"""The agent: tokenizers + world model + actor-critic, and acting from raw observations (design §4–§6).

The state dict keeps the official prefixes `tokenizer.`, `world_model.` and `actor_critic.` (§7.3).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from m3.config import M3Config
from m3.envs.spec import EnvSpec
from m3.models.actor_critic import ActorCritic
from m3.models.tokenizers import MultiModalTokenizer
from m3.models.world_model import WorldModel, WorldModelLoss


class Agent(nn.Module):
    def __init__(self, cfg: M3Config, spec: EnvSpec) -> None:
        super().__init__()
        self.spec = spec
        has_image = "image" in spec.observations
        self.tokenizer = MultiModalTokenizer(spec, cfg.tokenizer if has_image else None)
        self.world_model = WorldModel(cfg.world_model, spec, image_vocab=cfg.tokenizer.vocab_size,
                                      image_embed_dim=cfg.tokenizer.embed_dim)
        token_vocabs = {m: self.tokenizer.vocab(m) for m in ("token", "token_2d") if m in spec.observations}
        grid = cfg.tokenizer.resolution // 2 ** cfg.tokenizer.num_downsample_steps
        self.actor_critic = ActorCritic(cfg.actor_critic, spec, image_embed_dim=cfg.tokenizer.embed_dim,
                                       image_grid=grid, token_vocabs=token_vocabs)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def codebook(self) -> torch.Tensor | None:
        """The image codebook (512, 256) the world model embeds image tokens with, detached (§4.1)."""
        return None if self.tokenizer.image is None else self.tokenizer.image.codebook.weight.detach()

    def world_model_loss(self, batch: dict[str, Any], tokens: dict[str, torch.Tensor] | None = None) -> WorldModelLoss:
        """The world-model loss (§5.4–§5.6) on a right-padded segment batch of raw observations on the agent's
        device (layout: docs/interfaces.md, "Batches"); the tokenizer encodes without gradient, unless the
        batch's `tokens` are given (m3/token_cache.py)."""
        tokens = self.tokenizer.tokenize(batch["obs"]) if tokens is None else tokens
        return self.world_model.compute_loss(tokens, batch["actions"], batch["rewards"], batch["ends"],
                                             batch["mask_padding"], self.codebook)

    def obs_to_tensors(self, obs: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Batched env observations {name: (N, ...)} → tensors on the agent's device."""
        return {k: torch.as_tensor(np.asarray(v)).to(self.device) for k, v in obs.items()}

    @torch.no_grad()
    def act(self, obs: dict[str, np.ndarray], state: Any, temperature: float, epsilon: float = 0.0,
            generator: torch.Generator | None = None) -> tuple[np.ndarray, Any]:
        """One acting step for N envs: tokenize, then `act_tokens`."""
        return self.act_tokens(self.tokenizer.tokenize(self.obs_to_tensors(obs)), state, temperature, epsilon,
                               generator)

    @torch.no_grad()
    def act_tokens(self, tokens: dict[str, torch.Tensor], state: Any, temperature: float, epsilon: float = 0.0,
                   generator: torch.Generator | None = None) -> tuple[np.ndarray, Any]:
        """One acting step from observation tokens {name: (N, ...)} (real or imagined): actor-critic obs step,
        sample, actor-critic action step."""
        actions, state = self.actor_critic.act(self.tokenizer.codes(tokens), state, temperature=temperature,
                                               epsilon=epsilon, generator=generator)
        return actions.cpu().numpy(), state
