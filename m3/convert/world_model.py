"""Official world model (`POPWorldModel`) → m3's `WorldModel` (design §5; docs/weights.md).

Dropped official tensors: the curiosity `meta_model` copies (meta-device, no data), the unused DMC
`action_encoder.action_projection` (actions are tokenized) and the rotation `thetas` buffers (m3
computes the same float32 frequencies, which `check_thetas` verifies). The unused DMC `obs_emb_map`
maps onto m3's equally unused `embedder.image_proj`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from m3.convert.rules import ConversionError, Rule
from m3.models.retnet.xpos import rotation_frequencies

RULES = [
    Rule(r"_model\.layers\.(\d+)\.norm1\.(\w+)", r"retnet.layers.\1.retention_norm.\2"),
    Rule(r"_model\.layers\.(\d+)\.norm2\.(\w+)", r"retnet.layers.\1.ffn_norm.\2"),
    Rule(r"_model\.layers\.(\d+)\.retention\.thetas", None),
    Rule(r"_model\.layers\.(\d+)\.retention\.([qkvg]|out)_proj\.(\w+)", r"retnet.layers.\1.retention.\2_proj.\3"),
    Rule(r"_model\.layers\.(\d+)\.linear1\.(\w+)", r"retnet.layers.\1.ffn.fc1.\2"),
    Rule(r"_model\.layers\.(\d+)\.linear2\.(\w+)", r"retnet.layers.\1.ffn.fc2.\2"),
    Rule(r"placeholder_embeddings\.weight", "prediction_embedding.weight"),
    Rule(r"obs_embeddings\.(image|vector|token)\.weight", r"embedder.embeddings.\1.weight"),
    Rule(r"obs_embeddings\.token_2d\.embeddings\.embeddings\.(\d+)\.weight", r"embedder.embeddings.token_2d.\1.weight"),
    Rule(r"obs_emb_map\.(\w+)", r"embedder.image_proj.\1"),
    Rule(r"action_encoder\.embedding\.weight", "embedder.action_embedding.weight"),
    Rule(r"action_encoder\.action_projection\.(\w+)", None),
    Rule(r"head_observations\.(\w+)\.(\d+)\.(\w+)", r"obs_heads.heads.\1.\2.\3"),
    Rule(r"curiosity_head\.(\w+)\.ensemble\.(\d+)\.(\d+)\.(\w+)", r"ensemble.members.\2.heads.\1.\3.\4"),
    Rule(r"curiosity_head\.(\w+)\.meta_model\.(\d+)\.(\w+)", None),
    Rule(r"head_rewards\.model\.0\.(\w+)", r"reward_head.net.0.\1"),
    Rule(r"head_rewards\.head\.linear\.(\w+)", r"reward_head.net.2.\1"),
    Rule(r"head_ends\.(\d+)\.(\w+)", r"termination_head.\1.\2"),
]


def check_thetas(state: dict[str, Tensor], head_dim: int) -> None:
    """Every official `thetas` buffer equals m3's rotation frequencies (§5.2) to float32 precision."""
    ours = rotation_frequencies(head_dim)
    for key, theirs in state.items():
        if key.endswith("retention.thetas"):
            if theirs.shape != ours.shape or not torch.allclose(theirs.double(), ours, rtol=1e-6, atol=0):
                raise ConversionError(f"official key world_model.{key} {tuple(theirs.shape)} holds rotation "
                                      f"frequencies that differ from m3's for head dim {head_dim}")
