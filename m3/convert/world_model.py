"""Official world model (`POPWorldModel`) → m3's `WorldModel` (design §5; docs/weights.md): the check the key
table cannot make. keymaps.toml drops the official rotation `thetas` buffers because m3 computes the same float32
frequencies; `check_thetas` verifies that they are the same.
"""

from __future__ import annotations

import torch
from torch import Tensor

from m3.convert.rules import ConversionError
from m3.models.retnet.xpos import rotation_frequencies

def check_thetas(state: dict[str, Tensor], head_dim: int) -> None:
    """Every official `thetas` buffer equals m3's rotation frequencies (§5.2) to float32 precision."""
    ours = rotation_frequencies(head_dim)
    for key, theirs in state.items():
        if key.endswith("retention.thetas"):
            if theirs.shape != ours.shape or not torch.allclose(theirs.double(), ours, rtol=1e-6, atol=0):
                raise ConversionError(f"official key world_model.{key} {tuple(theirs.shape)} holds rotation "
                                      f"frequencies that differ from m3's for head dim {head_dim}")
