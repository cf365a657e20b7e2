"""Reading an official M3 checkpoint file into its three component state dicts (docs/weights.md).

Accepted layouts:
- an official `Agent.state_dict()`: the training checkpoint `checkpoints/last.pt` (or `best.pt`) and the
  published single-file agent weights, keys prefixed `tokenizer.`, `world_model.`, `actor_critic.`;
- the project's reference weights files (`{tokenizer, world_model, actor_critic}` dicts without prefixes,
  as in tests/convert/data).
"""

from __future__ import annotations

from pathlib import Path

from torch import Tensor

from m3.checkpoint import CheckpointError, load_file
from m3.convert.rules import ConversionError

COMPONENTS = ("tokenizer", "world_model", "actor_critic")


def split_components(blob: object, origin: str | Path) -> dict[str, dict[str, Tensor]]:
    """{component: state dict without its prefix}; `ConversionError` if `blob` is no official checkpoint."""
    if isinstance(blob, dict) and all(isinstance(blob.get(c), dict) for c in COMPONENTS):
        parts = {c: dict(blob[c]) for c in COMPONENTS}
    elif isinstance(blob, dict) and blob and all(isinstance(k, str) for k in blob):
        parts = {c: {} for c in COMPONENTS}
        for key, value in blob.items():
            component, _, rest = key.partition(".")
            if component not in parts or not rest:
                raise ConversionError(f"{origin} is not an official M3 checkpoint: key {key!r} does not start "
                                      f"with one of {', '.join(c + '.' for c in COMPONENTS)}")
            parts[component][rest] = value
    else:
        raise ConversionError(f"{origin} is not an official M3 checkpoint: expected an agent state dict "
                              f"(keys tokenizer.*, world_model.*, actor_critic.*), got {type(blob).__name__}")
    for component, state in parts.items():
        for key, value in state.items():
            if not isinstance(value, Tensor):
                raise ConversionError(f"{origin} is not an official M3 checkpoint: {component}.{key} is a "
                                      f"{type(value).__name__}, not a tensor")
    if not parts["world_model"] or not parts["actor_critic"]:
        raise ConversionError(f"{origin} is not an official M3 checkpoint: it has no world_model.* or no "
                              "actor_critic.* tensors")
    return parts


def read_official(path: str | Path) -> dict[str, dict[str, Tensor]]:
    """Load `path` on the CPU and split it; one clear error for a missing, corrupt or foreign file."""
    try:
        blob = load_file(Path(path))
    except CheckpointError as e:
        raise ConversionError(str(e)) from e
    if isinstance(blob, dict) and str(blob.get("format", "")).startswith("m3-weights"):
        raise ConversionError(f"{path} is already an m3 weights file; use it directly (weights={path})")
    return split_components(blob, path)
