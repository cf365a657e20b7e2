"""Entry point: `python -m m3.train benchmark=<name> seed=<k> run_dir=<dir> [scale=smoke] [device=cpu|cuda]
[wandb.mode=disabled|offline|online] [any.other=override]`.

Idempotent: a run folder with `done` exits at once; one with a checkpoint resumes from it; otherwise a new
run starts. Bad overrides fail before anything is built, with one message naming the value.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
import time

import torch

from m3.checkpoint import RunDir, RunInUseError
from m3.config import ConfigError, M3Config, from_yaml, load_config, to_dict, to_yaml
from m3.atomic import atomic_write_text
from m3.trainer import NonFiniteLossError, Trainer
from m3.version import code_version

USAGE = __doc__


def _identity(cfg: M3Config) -> dict:
    """The config without the settings that may change between resumes (device, wandb)."""
    d = to_dict(cfg)
    d.pop("device"), d.pop("wandb")
    return d


def prepare_run(cfg: M3Config, run: RunDir) -> None:
    """Write the resolved config of a new run, or check that a resumed run's config is the same."""
    text = to_yaml(cfg)
    if run.config.exists():
        if _identity(from_yaml(run.config.read_text())) != _identity(cfg):
            raise ConfigError(f"{run.root} holds a run with a different config ({run.config}); "
                              "use another run_dir or the same overrides")
        return
    atomic_write_text(text, run.config)
    meta = {"code_version": code_version(), "host": socket.gethostname(), "python": platform.python_version(),
            "torch": torch.__version__, "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "argv": sys.argv[1:],
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}
    atomic_write_text(json.dumps(meta, indent=2) + "\n", run.meta)


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
        if run.is_done:
            print(f"{run.root} is finished ({run.done} exists); nothing to do.")
            return 0
        run.lock()  # held until main returns
        prepare_run(cfg, run)
    except (ConfigError, RunInUseError) as e:
        print(f"m3.train: error: {e}", file=sys.stderr)
        return 2
    trainer = Trainer(cfg, run)
    resumed = trainer.start_epoch > 1
    print(f"m3.train: {cfg.benchmark}/{cfg.env.game} seed {cfg.seed} in {run.root} "
          f"({'resuming at epoch ' + str(trainer.start_epoch) if resumed else 'new run'})", flush=True)
    try:
        trainer.run_epochs()
    except NonFiniteLossError as e:
        print(f"m3.train: error: {e}", file=sys.stderr)
        return 1
    final = trainer.finish()
    print(f"m3.train: done. final return {final['final/return']:.2f} over {final['final/#episodes']} episodes; "
          f"run folder: {run.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
