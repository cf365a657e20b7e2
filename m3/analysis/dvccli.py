"""Running the `dvc` CLI one process at a time (docs/workflow.md W3).

DVC holds one lock per repository and gives up after about 3 s, so two `dvc` commands started together
fail. Every `dvc` call of `m3.analysis` takes the file lock `.dvc/tmp/m3-dvc.lock` first and waits for
it; a workflow rule that runs `dvc` itself can take the same lock: `flock .dvc/tmp/m3-dvc.lock dvc repro ...`.
Never run an `m3.analysis` command *inside* such a `flock`: it would wait for the lock its parent holds.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

from m3.analysis.params import AnalysisError

LOCK = Path(".dvc/tmp/m3-dvc.lock")


def run_dvc(args: list[str], root: Path) -> str:
    """Run `dvc <args>` in the repository `root` under the lock; its output, or an error with DVC's message."""
    if not (root / ".dvc").is_dir():
        raise AnalysisError(f"{root.resolve()} is not a DVC repository (no .dvc folder); run it from the repo root")
    lock = root / LOCK
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        done = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        message = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise AnalysisError(f"`dvc {' '.join(args)}` failed: {message[-1] if message else done.returncode}")
    return done.stdout
