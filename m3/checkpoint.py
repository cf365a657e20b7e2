"""The run folder and its checkpoints: layout, atomic save, crash recovery, resume, `done` (design §7.3).

```
<run_dir>/
  config/config.yaml          resolved config of the run (written once, checked on resume)
  checkpoints/last.pt         agent state dict (prefixes tokenizer., world_model., actor_critic.)
  checkpoints/best.pt         same, for the epoch with the best evaluation return
  checkpoints/optimizer.pt    {optimizer_tokenizer, optimizer_world_model, optimizer_actor_critic}
  checkpoints/trainer.pt      replay priorities, return scaler, RNG states, collector state, replay manifest
  checkpoints/run_metadata.pt {epoch, best_eval_score, epoch_of_best_score}: the commit record, written last
  checkpoints/dataset/        one <episode_id>.pt per train episode (written by the replay store)
  media/                      reconstructions, episodes, recordings
  metrics.jsonl  meta.json  done
  .lock                       held (flock) by the one process training in this folder
```
Every file is written atomically (m3.atomic). A checkpoint first copies the previous small files to
`checkpoints_tmp/`; if a run dies while writing, the next start restores that copy, so `last.pt` and its
companions always belong to one and the same epoch.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import IO, Any

import torch

from m3.atomic import atomic_torch_save, atomic_write_text

STATE_FILES = ("last.pt", "optimizer.pt", "trainer.pt", "run_metadata.pt")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message names the file."""


class RunInUseError(RuntimeError):
    """Another live process trains in this run folder."""


class RunDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.checkpoints = self.root / "checkpoints"
        self.backup = self.root / "checkpoints_tmp"
        self.dataset = self.checkpoints / "dataset"
        self.config = self.root / "config" / "config.yaml"
        self.media = self.root / "media"
        self.done = self.root / "done"
        self.meta = self.root / "meta.json"
        self.lock_file = self.root / ".lock"
        self._lock: IO[str] | None = None

    def lock(self) -> None:
        """Take the folder's exclusive lock for the life of this RunDir (the kernel also drops it when the process
        dies, even by SIGKILL, so a killed run can be resumed at once). Raises RunInUseError naming the holder's
        pid when another process has it."""
        self.root.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_file, "a+")  # noqa: SIM115 (held open on purpose)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise RunInUseError(f"{self.root} is in use by another m3.train (pid {holder}); wait for it to end, "
                                "stop it, or use another run_dir") from None
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._lock = handle

    @property
    def is_done(self) -> bool:
        return self.done.exists()

    def mark_done(self, text: str = "") -> None:
        atomic_write_text(text, self.done)

    def has_checkpoint(self) -> bool:
        self.recover()
        return (self.checkpoints / "run_metadata.pt").exists()

    def recover(self) -> None:
        """Finish or undo a checkpoint write that a crash interrupted."""
        partial = self.backup.with_name(self.backup.name + ".partial")
        if partial.exists():
            shutil.rmtree(partial)
        if self.backup.exists():
            for f in self.backup.iterdir():
                shutil.copy2(f, self.checkpoints / (f.name + ".restore"))
                (self.checkpoints / (f.name + ".restore")).replace(self.checkpoints / f.name)
            shutil.rmtree(self.backup)

    def save(self, agent: dict[str, Any], optimizers: dict[str, Any], trainer: dict[str, Any],
             metadata: dict[str, Any], best: bool = False) -> None:
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        existing = [self.checkpoints / f for f in STATE_FILES if (self.checkpoints / f).exists()]
        if existing:
            partial = self.backup.with_name(self.backup.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            for f in existing:
                shutil.copy2(f, partial / f.name)
            partial.replace(self.backup)
        atomic_torch_save(agent, self.checkpoints / "last.pt")
        if best:
            atomic_torch_save(agent, self.checkpoints / "best.pt")
        atomic_torch_save(optimizers, self.checkpoints / "optimizer.pt")
        atomic_torch_save(trainer, self.checkpoints / "trainer.pt")
        atomic_torch_save(metadata, self.checkpoints / "run_metadata.pt")
        shutil.rmtree(self.backup, ignore_errors=True)

    def load(self, map_location: str | torch.device = "cpu",
             parts: tuple[str, ...] = ("agent", "optimizers", "trainer", "metadata")) -> dict[str, Any]:
        """`parts` of the last complete checkpoint, from {agent, optimizers, trainer, metadata}."""
        self.recover()
        names = dict(agent="last.pt", optimizers="optimizer.pt", trainer="trainer.pt", metadata="run_metadata.pt")
        return {key: load_file(self.checkpoints / names[key], map_location) for key in parts}


def load_file(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load with one clear error for a missing or corrupt file."""
    if not path.exists():
        raise CheckpointError(f"checkpoint file {path} does not exist")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint file {path} is corrupt or not a torch file: {e}") from e
