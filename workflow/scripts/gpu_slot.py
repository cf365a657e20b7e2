"""Pin a local job to its own GPU(s): take free lock-file slots, set CUDA_VISIBLE_DEVICES, run the command.

Snakemake caps how many GPU jobs run at once (`--resources gpu=N`, profiles/local) but does not say which
GPU each job gets (snakemake/snakemake#281). Each GPU id therefore has a lock file; a job holds an
exclusive `flock` on the files of the GPUs it uses for as long as its command runs. The lock belongs to
the open file, which the command inherits, so the kernel frees the slot when the job ends in any way:
success, failure or a kill. A job that finds no free slot waits for one.

GPU ids, first match: `M3_GPU_IDS` (comma list; also fake ids for tests on a CPU), `CUDA_VISIBLE_DEVICES`,
the GPUs `nvidia-smi -L` lists. Under SLURM (`SLURM_JOB_ID` set), or with `--gpus 0`, the command runs
as it is: SLURM already gives each job its own GPUs.

    python workflow/scripts/gpu_slot.py [--gpus K] [--lock-dir DIR] -- COMMAND [ARG ...]
    python workflow/scripts/gpu_slot.py --count        # how many GPU ids there are (profiles/local)
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_LOCK_DIR = ".snakemake/gpu-slots"
POLL_SECONDS = 0.5


def gpu_ids() -> list[str]:
    """The GPU ids jobs may be pinned to, in order (see the module docstring)."""
    for var in ("M3_GPU_IDS", "CUDA_VISIBLE_DEVICES"):
        if var in os.environ:
            return [i.strip() for i in os.environ[var].split(",") if i.strip()]
    if shutil.which("nvidia-smi") is None:
        return []
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True).stdout
    return [str(i) for i, line in enumerate(line for line in listing.splitlines() if line.startswith("GPU "))]


def try_take(ids: list[str], count: int, lock_dir: Path) -> dict[str, int]:
    """Lock `count` free slots without waiting: {gpu id: open lock fd}, or {} if fewer are free."""
    taken: dict[str, int] = {}
    for gpu in ids:
        fd = os.open(lock_dir / f"gpu{gpu}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        taken[gpu] = fd
        if len(taken) == count:
            return taken
    for fd in taken.values():
        os.close(fd)
    return {}


def take(ids: list[str], count: int, lock_dir: Path) -> dict[str, int]:
    """Lock `count` slots, waiting until that many are free at once."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    waited = False
    while not (taken := try_take(ids, count, lock_dir)):
        if not waited:
            print(f"gpu_slot: all of GPUs {','.join(ids)} are busy; waiting for {count} to free up",
                  file=sys.stderr, flush=True)
            waited = True
        time.sleep(POLL_SECONDS)
    return taken


def run_pinned(command: list[str], taken: dict[str, int]) -> int:
    """Run `command` with CUDA_VISIBLE_DEVICES set to the taken GPUs; it inherits the locks."""
    visible = ",".join(taken)
    print(f"gpu_slot: pid {os.getpid()} took GPU {visible} at {time.time():.3f}", file=sys.stderr, flush=True)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=visible)
    child = subprocess.Popen(command, env=env, pass_fds=tuple(taken.values()))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
    code = child.wait()
    print(f"gpu_slot: pid {os.getpid()} released GPU {visible} at {time.time():.3f} (exit code {code})",
          file=sys.stderr, flush=True)
    return code if code >= 0 else 128 - code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpus", type=int, default=1, help="GPUs the command needs (default 1)")
    parser.add_argument("--lock-dir", type=Path, default=Path(os.environ.get("M3_GPU_LOCK_DIR", DEFAULT_LOCK_DIR)))
    parser.add_argument("--count", action="store_true", help="print the number of GPU ids and exit")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARG ...]")
    args = parser.parse_args(argv)
    ids = gpu_ids()
    if args.count:
        print(len(ids))
        return 0
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given after --")
    if args.gpus < 0:
        parser.error(f"--gpus must be >= 0, got {args.gpus}")
    if args.gpus == 0 or "SLURM_JOB_ID" in os.environ:
        os.execvp(command[0], command)
    if args.gpus > len(ids):
        visible = ",".join(ids) or "none"
        print(f"gpu_slot: error: the job needs {args.gpus} GPU(s) but {len(ids)} are visible ({visible}); "
              "set M3_GPU_IDS or CUDA_VISIBLE_DEVICES, or run at scale=smoke on the CPU", file=sys.stderr)
        return 2
    return run_pinned(command, take(ids, args.gpus, args.lock_dir))


if __name__ == "__main__":
    sys.exit(main())
