"""Stop requests (design §7.3): SIGTERM or SIGINT (SLURM's signal before a time limit, `scancel`, Ctrl-C) only set
a flag; the trainer honours it at its next safe point with a checkpoint, then raises `StopRequested`."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator


class StopRequested(Exception):
    """SIGTERM or SIGINT stopped the run after a checkpoint at a safe point; rerunning resumes it."""

    def __init__(self, signum: int, epoch: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name} in epoch {epoch}; a checkpoint was written, "
                         "rerun the same command to resume")
        self.signum, self.epoch = signum, epoch


class StopFlag:
    """`signum` is the last SIGTERM/SIGINT received while `catching()` is active, else None."""

    def __init__(self) -> None:
        self.signum: int | None = None

    @property
    def raised(self) -> bool:
        return self.signum is not None

    @contextmanager
    def catching(self) -> Iterator[None]:
        """SIGTERM and SIGINT set the flag instead of killing (main thread only; elsewhere a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self._set) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    def _set(self, signum: int, frame: Any) -> None:
        self.signum = signum


__all__ = ["StopFlag", "StopRequested"]
