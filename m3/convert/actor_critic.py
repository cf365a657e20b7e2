"""Official actor-critic (`DiscreteActorCriticLS` / `DContinuousActorCriticLS`) → m3's `ActorCritic` (design §6.1).

The official critic of a separate-network actor-critic (DMC) has its own `critic_*` fuser, LSTM and
action projection; they map onto m3's `critic_trunk`. The official token_2d encoder keeps one table
per column; m3 keeps them stacked in one table (rows offset per column), so the columns are joined.
"""

from __future__ import annotations

import torch

from m3.convert.rules import Merge, Rule

RULES = [
    Rule(r"obs_encoders\.image\.model\.0\.0\.(\w+)", r"trunk.encoder.image.0.\1"),
    Rule(r"obs_encoders\.image\.model\.1\.0\.(\w+)", r"trunk.encoder.image.2.\1"),
    Rule(r"obs_encoders\.token\.embeddings\.weight", "trunk.encoder.token.weight"),
    Merge(r"obs_encoders\.token_2d\.embeddings\.embeddings\.embeddings\.(\d+)\.weight", "trunk.encoder.token_2d.weight",
          torch.cat),
    Rule(r"obs_latent_fuser\.(\d+)\.(\w+)", r"trunk.fuser.\1.\2"),
    Rule(r"actor\.lstm\.(weight|bias)_(ih|hh)_l0", r"trunk.lstm.\1_\2"),
    Rule(r"actor_actions_embeddings\.weight", "trunk.action_embed.weight"),
    Rule(r"actor_action_projection\.(\w+)", r"trunk.action_embed.\1"),
    Rule(r"critic_latent_fuser\.(\d+)\.(\w+)", r"critic_trunk.fuser.\1.\2"),
    Rule(r"critic\.lstm\.(weight|bias)_(ih|hh)_l0", r"critic_trunk.lstm.\1_\2"),
    Rule(r"critic_action_projection\.(\w+)", r"critic_trunk.action_embed.\1"),
    Rule(r"critic_v_head\.linear\.(\w+)", r"critic_head.\1"),
    Rule(r"actor_linear(?:\.0)?\.(\w+)", r"actor_head.\1"),
]
