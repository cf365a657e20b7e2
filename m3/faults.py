"""Fault injection for the fault tests: `M3_FAULT=<point>[#n]` SIGKILLs the process the n-th time (default the
first) the code reaches `<point>` (design §7.3). Real kills, so the tests see what a crash leaves on disk.

Points: `collect`, `<component>:step` (tokenizer, world_model, actor_critic), `evaluate`, `metrics`, and the
commit steps of `m3.checkpoint` (`commit:files`, `commit:set`, `commit:record`, `commit:cleanup`).
"""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def reached(point: str) -> None:
    """Kill this process with SIGKILL when `M3_FAULT` names `point` and this is its n-th arrival."""
    fault = os.environ.get("M3_FAULT")
    if not fault:
        return
    name, _, nth = fault.partition("#")
    if name != point:
        return
    _counts[point] = _counts.get(point, 0) + 1
    if _counts[point] == int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)
