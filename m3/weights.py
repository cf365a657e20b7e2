"""The final-weights file: one self-describing `.pt` that evaluation and the play tool load (design §7.3).

`<run_dir>/weights.pt` is written when a run finishes. It holds the resolved config (YAML text) and
the agent state dict, so it rebuilds the agent on any machine without the run folder, e.g. after
`dvc pull`. `load_agent` accepts that file or a run folder (its `weights.pt`, or else its config and
`checkpoints/last.pt` for a run that has not finished yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from m3.atomic import atomic_torch_save
from m3.checkpoint import CheckpointError, RunDir, load_file
from m3.config import ConfigError, M3Config, from_yaml, to_yaml

FORMAT = "m3-weights-v1"


@dataclass
class LoadedWeights:
    cfg: M3Config
    state: dict[str, torch.Tensor]
    path: Path
    epoch: int | None
    code_version: str
    origin: dict | None = None  # for converted official checkpoints: their path and sha256 (m3.convert)


def save_weights(path: str | Path, cfg: M3Config, agent_state: dict[str, torch.Tensor], epoch: int | None,
                 code_version: str, origin: dict | None = None) -> None:
    """Write the weights file atomically; `epoch` is None and `origin` set for converted official weights."""
    atomic_torch_save({"format": FORMAT, "config": to_yaml(cfg), "agent": agent_state, "epoch": epoch,
                       "code_version": code_version, "origin": origin}, path)


def read_weights(source: str | Path, map_location: str | torch.device = "cpu") -> LoadedWeights:
    """The config and agent state of a weights file or a run folder; `CheckpointError` names what is wrong."""
    source = Path(source)
    if source.is_dir():
        run = RunDir(source)
        if (source / "weights.pt").exists():
            return read_weights(source / "weights.pt", map_location)
        if not run.config.exists():
            raise CheckpointError(f"{source} is not an m3 run folder: it has neither weights.pt nor {run.config}")
        state = run.load(map_location, parts=("agent", "metadata"))  # optimizer and trainer state stay on disk
        return LoadedWeights(_parse_config(run.config.read_text(), run.config), state["agent"],
                             run.checkpoints / "last.pt", state["metadata"]["epoch"], "unknown")
    blob = load_file(source, map_location)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise CheckpointError(f"{source} is not an m3 weights file (expected format {FORMAT!r}); "
                              "pass a weights.pt written by m3.train or a run folder")
    return LoadedWeights(_parse_config(blob["config"], source), blob["agent"], source, blob.get("epoch"),
                         blob.get("code_version", "unknown"), blob.get("origin"))


def _parse_config(text: str, origin: Path) -> M3Config:
    try:
        return from_yaml(text)
    except Exception as e:  # OmegaConf raises several types for keys or values the schema rejects
        raise CheckpointError(f"the config stored in {origin} does not fit this version of m3: {e}") from e


def load_agent(source: str | Path, device: str | torch.device = "cpu"):
    """Rebuild the agent of a weights file or run folder, in eval mode on `device`. Returns (agent, LoadedWeights)."""
    from m3.agent import Agent
    from m3.envs import registry

    loaded = read_weights(source, device)
    try:
        spec = registry.env_spec(loaded.cfg.benchmark, loaded.cfg.env)
    except ValueError as e:
        raise ConfigError(f"{loaded.path}: {e}") from e
    agent = Agent(loaded.cfg, spec).to(device)
    try:
        agent.load_state_dict(loaded.state)
    except RuntimeError as e:
        raise CheckpointError(f"{loaded.path} does not match the model its config describes: {e}") from e
    return agent.eval(), loaded


__all__ = ["FORMAT", "LoadedWeights", "save_weights", "read_weights", "load_agent"]
