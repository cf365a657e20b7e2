"""The one logger: every record goes to `<run_dir>/metrics.jsonl` and, when enabled, to wandb (design §7.4).

A record is a flat dict of numbers with its `epoch`; keys follow the wandb names of §7.4
(`world_model/train/loss_obs`, `test_dataset/return`, ...). The file is appended across resumes; a resume
first cuts it back to its checkpoint (`cut_metrics`), so each epoch appears once and a resumed run's history
continues where its checkpoint stopped (design §7.3).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from m3.atomic import atomic_write_text


class MetricsLogger:
    def __init__(self, run_dir: Path, wandb_mode: str = "disabled", project: str = "m3", run_name: str = "",
                 config: dict[str, Any] | None = None) -> None:
        self.path = Path(run_dir) / "metrics.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._wandb = None
        if wandb_mode != "disabled":
            import wandb

            self._wandb = wandb.init(project=project, mode=wandb_mode, name=run_name, id=run_name or None,
                                     dir=str(run_dir), config=config, resume="allow", reinit=True)

    def log(self, record: dict[str, Any], epoch: int) -> None:
        clean = {k: _number(v) for k, v in record.items()}
        clean["epoch"] = epoch
        with self.path.open("a") as f:
            f.write(json.dumps(clean) + "\n")
        if self._wandb is not None:
            self._wandb.log(clean)

    def close(self) -> None:
        if self._wandb is not None:
            self._wandb.finish()


def _number(value: Any) -> float | int | None:
    value = float(value) if not isinstance(value, int) else value
    return None if isinstance(value, float) and not math.isfinite(value) else value


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """All records of a run, in order."""
    path = Path(run_dir) / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def cut_metrics(run_dir: Path, epoch: int) -> None:
    """Keep only the records of epochs <= `epoch` (the checkpoint a run resumes from), atomically; the final
    record goes too (a run that resumes has not finished)."""
    records = read_metrics(run_dir)
    kept = [r for r in records if r["epoch"] <= epoch and not any(k.startswith("final/") for k in r)]
    if len(kept) != len(records):
        atomic_write_text("".join(json.dumps(r) + "\n" for r in kept), Path(run_dir) / "metrics.jsonl")


def learning_curve(run_dir: Path | None) -> dict[str, list]:
    """The periodic evaluations of a run: epoch, agent env steps so far, training wall time so far (the summed
    epoch `duration`s, resumes excluded) and `test_dataset/return`."""
    curve: dict[str, list] = {"epochs": [], "env_steps": [], "wall_s": [], "returns": []}
    steps, wall = 0, 0.0
    for record in read_metrics(run_dir) if run_dir is not None else []:
        steps = record.get("train_dataset/#steps", steps)
        wall += record.get("duration", 0.0)
        if record.get("test_dataset/return") is not None:
            curve["epochs"].append(record["epoch"])
            curve["env_steps"].append(steps)
            curve["wall_s"].append(round(wall, 1))
            curve["returns"].append(record["test_dataset/return"])
    return curve
