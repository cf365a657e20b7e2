"""Entry point: `python -m m3.train benchmark=<name> seed=<k> run_dir=<dir> [scale=smoke] [device=cpu|cuda]
[wandb.mode=disabled|offline|online] [any.other=override]`.

Idempotent: a run folder with `done` and the same config exits at once; one with a checkpoint resumes from it;
otherwise a new run starts. Nothing is written to the run folder until the config is valid, matches the run's
(if any), the checkpoint loads and the trainer is built; a failed start leaves the folder as it was, with one
message naming the value (design §7.3).
"""

from __future__ import annotations

import json
import platform
import shutil
import socket
import sys
import time
from pathlib import Path

import torch

from m3.atomic import atomic_write_text
from m3.checkpoint import CheckpointError, RunDir, RunInUseError
from m3.config import ConfigError, M3Config, from_yaml, load_config, to_dict, to_yaml
from m3.models.tokenizers.lpips import WeightsFileError
from m3.stopping import StopRequested
from m3.trainer import NonFiniteLossError, Trainer
from m3.version import code_version
from m3.writable import unwritable_reason

USAGE = __doc__
START_ERRORS = (ConfigError, RunInUseError, CheckpointError, WeightsFileError, OSError)
EX_TEMPFAIL = 75  # stopped by SIGTERM/SIGINT after a checkpoint: rerun to resume (SLURM requeues on it)


def _identity(cfg: M3Config) -> dict:
    """The config without the settings that may change between resumes (device, wandb, checkpoint cadence, the
    folder's own path)."""
    d = to_dict(cfg)
    d.pop("device"), d.pop("wandb"), d.pop("run_dir"), d.pop("checkpoint")
    return d


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in tree.items():
        out |= _flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value}
    return out


def config_differences(old: M3Config, new: M3Config) -> list[str]:
    """`key: <old> in the run, <new> now` for each key whose value differs (device, wandb, checkpoint and
    run_dir aside)."""
    a, b = _flat(_identity(old)), _flat(_identity(new))
    keys = sorted(a.keys() | b.keys())
    return [f"{k}: {a.get(k)!r} in the run, {b.get(k)!r} now" for k in keys if a.get(k) != b.get(k)]


def check_same_config(cfg: M3Config, run: RunDir) -> None:
    """An existing run (finished or not) continues only under its own config; the message names every
    differing key with both values and how to start fresh."""
    if not run.config.exists():
        return
    try:
        old = from_yaml(run.config.read_text())
    except Exception as e:  # OmegaConf raises several types for a damaged or foreign file
        raise ConfigError(f"{run.config} cannot be read as this project's config ({type(e).__name__}: {e}); "
                          "restore it or start fresh with another run_dir") from e
    diffs = config_differences(old, cfg)
    if diffs:
        raise ConfigError(f"{run.root} holds a run with another config ({'; '.join(diffs)}); rerun with the run's "
                          f"values (they are in {run.config}) or start fresh with another run_dir")


def prepare_run(cfg: M3Config, run: RunDir) -> None:
    """The resolved config and meta.json of a new run (written once the trainer is built)."""
    if run.config.exists():
        return
    atomic_write_text(to_yaml(cfg), run.config)
    meta = {"code_version": code_version(), "host": socket.gethostname(), "python": platform.python_version(),
            "torch": torch.__version__, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "argv": sys.argv[1:],
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    atomic_write_text(json.dumps(meta, indent=2) + "\n", run.meta)


def start(cfg: M3Config, run: RunDir) -> Trainer:
    """Lock the folder, build the trainer (which loads the checkpoint, if any) and only then write the run's files.
    On any failure, what this start created is removed again: a folder it made, or new empty folders and the
    lock file in an existing one; files are never removed."""
    top = run.root
    while not top.parent.exists():
        top = top.parent
    created = None if run.root.exists() else top
    before = set() if created else set(run.root.rglob("*"))
    try:
        run.lock()  # held until the process ends
        trainer = Trainer(cfg, run)
        prepare_run(cfg, run)
        return trainer
    except BaseException:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        else:
            for path in sorted(set(run.root.rglob("*")) - before, key=lambda p: len(p.parts), reverse=True):
                if path == run.lock_file or (path.is_dir() and not any(path.iterdir())):
                    path.unlink() if path.is_file() else path.rmdir()
        raise


def error_line(e: BaseException, root: Path | None = None) -> str:
    """One line for a start or I/O error, naming the file where the error has one (else the run folder `root`:
    a failed write() of a full disk names no file)."""
    if isinstance(e, OSError) and e.filename is not None:
        return f"{e.filename}: {e.strerror}"
    if isinstance(e, OSError) and e.strerror and root is not None:
        return f"{e.strerror} while writing in {root}"
    return str(e).replace("\n", " ")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    try:
        cfg = load_config(argv)
        if cfg.device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device=cuda but no CUDA device is available; use device=cpu")
        run = RunDir(cfg.run_dir)
        if (reason := unwritable_reason(run.root)) is not None:
            raise ConfigError(f"run_dir={run.root} cannot hold a run: {reason}")
        check_same_config(cfg, run)
        if run.is_done:
            print(f"{run.root} is finished ({run.done} exists); nothing to do.")
            return 0
        trainer = start(cfg, run)
    except START_ERRORS as e:
        print(f"m3.train: error: {error_line(e)}", file=sys.stderr)
        return 2
    resumed = trainer.start_epoch > 1
    print(f"m3.train: {cfg.benchmark}/{cfg.env.game} seed {cfg.seed} in {run.root} "
          f"({'resuming at epoch ' + str(trainer.start_epoch) if resumed else 'new run'})", flush=True)
    try:
        trainer.run_epochs()
        final = trainer.finish()
    except NonFiniteLossError as e:
        print(f"m3.train: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"m3.train: error: {error_line(e, run.root)}; the last committed checkpoint is intact: free the space "
              "or fix the permissions, then rerun the same command to resume", file=sys.stderr)
        return 1
    except StopRequested as e:
        print(f"m3.train: {e}", file=sys.stderr)
        return EX_TEMPFAIL
    print(f"m3.train: done. final return {final['final/return']:.2f} over {final['final/#episodes']} episodes; "
          f"run folder: {run.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
