"""The run folder and its checkpoints: layout, forward-only commit, crash recovery, resume, `done` (design §7.3).

```
<run_dir>/
  config/config.yaml          resolved config of the run (written once, checked on resume)
  checkpoints/run_metadata.pt the commit record: {epoch, best_eval_score, epoch_of_best_score, [progress],
                              set, files: {part: (name, bytes)}}
  checkpoints/set-<k>/        one checkpoint: last.pt (agent state dict, prefixes tokenizer., world_model.,
                              actor_critic.), best.pt (the same for the best evaluation), optimizer.pt
                              {optimizer_tokenizer, optimizer_world_model, optimizer_actor_critic}, trainer.pt
                              (priorities, return scaler, RNG states, collector state, replay manifest)
  checkpoints/last.pt best.pt hard links to the committed set's files, for people and tools
  checkpoints/dataset/        one <episode_id>.pt per train episode (written by the replay store)
  media/                      reconstructions, episodes, recordings
  metrics.jsonl  meta.json  done
  .lock                       held (flock) by the one process training in this folder
```
Forward-only commit: a checkpoint's files are written and fsync'ed in `set-<k>.pending/`, the folder is renamed
to `set-<k>/`, and ONE atomic rename moves its `run_metadata.pt` over `checkpoints/run_metadata.pt`: that is
the commit. Only then are the links remade and older sets removed. A crash at any step leaves either the old
commit with its set intact or a complete newer set, which the next start commits (rolls forward); an older
checkpoint is never restored over a newer one, and files of two checkpoints are never mixed.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path
from typing import IO, Any

import torch

from m3.atomic import atomic_torch_save, atomic_write_text, fsync_dir, remove_temp_files
from m3.faults import reached

PART_FILES = {"agent": "last.pt", "best": "best.pt", "optimizers": "optimizer.pt", "trainer": "trainer.pt"}
RECORD = "run_metadata.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message names the file and what to do."""


class RunInUseError(RuntimeError):
    """Another live process trains in this run folder."""


class RunDir:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.checkpoints = self.root / "checkpoints"
        self.record = self.checkpoints / RECORD
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
        if self.record.exists():
            return True
        if (self.checkpoints / "last.pt").exists():
            raise CheckpointError(f"{self.record} is missing although {self.checkpoints / 'last.pt'} exists, so the "
                                  "checkpoint cannot be trusted; restore the file, or delete "
                                  f"{self.checkpoints} to start this run afresh")
        return False

    def _sets(self) -> dict[int, Path]:
        return {int(p.name[4:]): p for p in self.checkpoints.glob("set-*")
                if p.is_dir() and p.name[4:].isdigit()}

    def _committed(self) -> dict[str, Any] | None:
        return load_file(self.record) if self.record.exists() else None

    def recover(self) -> None:
        """Finish a commit that a crash interrupted (roll forward to the newest complete set, or keep the
        committed one), then remove what the crash left: pending sets, older sets, temp files."""
        if not self.checkpoints.exists():
            return
        for folder in (self.root, self.root / "config", self.checkpoints, self.dataset):
            if folder.exists():
                remove_temp_files(folder)
        for pending in self.checkpoints.glob("set-*.pending"):
            shutil.rmtree(pending)
        committed = self._committed()
        current = committed["set"] if committed is not None else -1
        sets = self._sets()
        newer = [k for k in sets if k > current and (sets[k] / RECORD).exists()]
        if newer:
            os.replace(sets[max(newer)] / RECORD, self.record)
            fsync_dir(self.checkpoints)
            committed = self._committed()
        if committed is not None:
            self._publish(committed)

    def _publish(self, record: dict[str, Any]) -> None:
        """After a commit: link last.pt/best.pt to the committed set and remove every other set."""
        folder = self.checkpoints / f"set-{record['set']}"
        for part in ("agent", "best"):
            if part in record["files"]:
                _link(folder / PART_FILES[part], self.checkpoints / PART_FILES[part])
        fsync_dir(self.checkpoints)
        reached("commit:cleanup")
        for k, other in self._sets().items():
            if k != record["set"]:
                shutil.rmtree(other)

    def save(self, agent: dict[str, Any], optimizers: dict[str, Any], trainer: dict[str, Any],
             metadata: dict[str, Any], best: bool = False) -> None:
        """Write and commit one checkpoint (see the module docstring). `best`: `agent` is also the new best.pt;
        otherwise the committed best.pt (if any) is carried over into the new set."""
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        committed = self._committed()
        number = committed["set"] + 1 if committed is not None else 0
        pending = self.checkpoints / f"set-{number}.pending"
        shutil.rmtree(pending, ignore_errors=True)
        pending.mkdir()
        parts = {"agent": agent, "optimizers": optimizers, "trainer": trainer}
        for part, state in parts.items():
            atomic_torch_save(state, pending / PART_FILES[part])
            reached("commit:files")
        if best:
            os.link(pending / PART_FILES["agent"], pending / PART_FILES["best"])
        elif committed is not None and "best" in committed["files"]:
            os.link(self.checkpoints / f"set-{committed['set']}" / PART_FILES["best"], pending / PART_FILES["best"])
        files = {part: (PART_FILES[part], (pending / PART_FILES[part]).stat().st_size)
                 for part in PART_FILES if (pending / PART_FILES[part]).exists()}
        record = {**metadata, "set": number, "files": files}
        atomic_torch_save(record, pending / RECORD)
        folder = pending.with_name(f"set-{number}")
        os.replace(pending, folder)
        fsync_dir(self.checkpoints)
        reached("commit:set")
        os.replace(folder / RECORD, self.record)  # the commit
        fsync_dir(self.checkpoints)
        reached("commit:record")
        self._publish(record)

    def load(self, map_location: str | torch.device = "cpu",
             parts: tuple[str, ...] = ("agent", "optimizers", "trainer", "metadata")) -> dict[str, Any]:
        """`parts` of the committed checkpoint, from {agent, best, optimizers, trainer, metadata}."""
        self.recover()
        if not self.record.exists():
            raise CheckpointError(f"{self.record} does not exist: {self.root} has no committed checkpoint")
        record = load_file(self.record)
        if not isinstance(record, dict) or "set" not in record or "files" not in record:
            raise CheckpointError(f"{self.record} is not an m3 commit record; delete {self.checkpoints} to start "
                                  "this run afresh")
        folder = self.checkpoints / f"set-{record['set']}"
        out: dict[str, Any] = {}
        for part in parts:
            if part == "metadata":
                out[part] = {k: v for k, v in record.items() if k not in ("set", "files")}
                continue
            name, size = record["files"][part]
            path = folder / name
            if path.exists() and path.stat().st_size != size:
                raise CheckpointError(f"checkpoint file {path} has {path.stat().st_size} bytes but its commit "
                                      f"record says {size}; it was damaged after the commit. Restore it, or delete "
                                      f"{self.checkpoints} to start this run afresh")
            out[part] = load_file(path, map_location)
        return out


def _link(source: Path, target: Path) -> None:
    """Make `target` a hard link to `source`, atomically (link to a temp name, rename over; rename does nothing
    when both are already links to one file, so that case returns first)."""
    if target.exists() and os.path.samefile(source, target):
        return
    tmp = target.with_name(f".{target.name}.link.tmp")
    tmp.unlink(missing_ok=True)
    os.link(source, tmp)
    os.replace(tmp, target)


def load_file(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """torch.load with one clear error for a missing or corrupt file."""
    if not path.exists():
        raise CheckpointError(f"checkpoint file {path} does not exist; restore it, or delete {path.parent} "
                              "to start afresh")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"checkpoint file {path} is corrupt or not a torch file ({e}); restore it, or "
                              f"delete {path.parent} to start afresh") from e
