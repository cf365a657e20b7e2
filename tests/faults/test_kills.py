"""Kills and stop requests at every phase of an epoch, each followed by a resume (design §7.3): the run ends with
the weights and metrics of an uninterrupted run, bit for bit, and scores that m3.analysis.scores accepts.

The kills are real SIGKILLs at named points (`M3_FAULT`, m3/faults.py). One chain of processes walks through
all points: each is killed at the next point and the following one resumes, so every kill costs only the work
since the last checkpoint. The chain checkpoints at every epoch's end (`checkpoint.every_minutes=1e-9`), the
reference only at the periodic checkpoints: the cadence must not change the results either.
"""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from m3.analysis.scores import load_run
from m3.checkpoint import RunDir
from m3.metrics import read_metrics

pytestmark = pytest.mark.slow

SMOKE = ["benchmark=cartpole", "scale=smoke", "seed=0"]  # 4 epochs, evaluation and checkpoint every 2
GAME = "CartPole-v1"
# in the order a run reaches them; cartpole trains no tokenizer, the components start in epochs 2 and 3
CHAIN = ["collect", "metrics", "commit:files#2", "commit:set",  # epoch 1
         "world_model:step", "evaluate", "commit:record",  # epoch 2
         "actor_critic:step#2", "commit:cleanup",  # epoch 3
         "collect", "world_model:step#2"]  # epoch 4


def command(run_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "m3.train", f"run_dir={run_dir}", *SMOKE, *overrides]


def environment(fault: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "M3_FAULT"}
    return env | ({"M3_FAULT": fault} if fault else {})


def train(run_dir: Path, *overrides: str, fault: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command(run_dir, *overrides), capture_output=True, text=True, timeout=300,
                          env=environment(fault))


def scores(run_dir: Path, root: Path) -> Path:
    """m3.evaluate's scores of the run, at their place in a scores folder, checked by m3.analysis.scores."""
    out = root / "scores" / "cartpole" / GAME / "seed0.json"
    result = subprocess.run([sys.executable, "-m", "m3.evaluate", f"run_dir={run_dir}", "episodes=2", "envs=2",
                             f"out={out}"], capture_output=True, text=True, timeout=300, env=environment())
    assert result.returncode == 0, result.stderr[-2000:]
    load_run(out, "cartpole", (GAME,))
    return out


def without_durations(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "duration"} for r in records]


def assert_same_run(run_dir: Path, reference: Path) -> None:
    a = torch.load(run_dir / "weights.pt", weights_only=False)["agent"]
    b = torch.load(reference / "weights.pt", weights_only=False)["agent"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert without_durations(read_metrics(run_dir)) == without_durations(read_metrics(reference))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run, shared by the tests."""
    run_dir = tmp_path_factory.mktemp("reference") / "run"
    result = train(run_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def test_a_kill_at_every_phase_then_resume_ends_as_the_uninterrupted_run(tmp_path, reference):
    run_dir = tmp_path / "run"
    for fault in CHAIN:
        result = train(run_dir, "checkpoint.every_minutes=1e-9", fault=fault)
        assert result.returncode == -signal.SIGKILL, f"{fault}: {result.returncode} {result.stderr[-2000:]}"
    result = train(run_dir, "checkpoint.every_minutes=1e-9")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(run_dir.rglob(".*.tmp")) and not list(run_dir.rglob("*.pending"))
    assert_same_run(run_dir, reference)
    scores(run_dir, tmp_path)


def test_sigterm_at_random_moments_checkpoints_exits_75_and_loses_no_step(tmp_path, reference):
    """SIGTERM after a random delay, again and again: each time a checkpoint and status 75 within a bounded
    time; the resumed runs repeat no completed component step, so the end equals the uninterrupted run."""
    run_dir = tmp_path / "run"
    delays = random.Random(13).sample([0.2, 0.4, 0.7, 1.0, 1.5], 5)  # the smoke run trains for ~10 s
    stopped = 0
    for delay in delays:
        proc = subprocess.Popen(command(run_dir), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=environment())
        assert proc.stdout.readline().startswith("m3.train: ")  # the trainer is built: signals are handled
        time.sleep(delay)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:  # finished before the signal arrived
            break
        if proc.returncode == -signal.SIGTERM:  # the final evaluation, after the training loop, is not protected
            assert RunDir(run_dir).load(parts=("metadata",))["metadata"]["epoch"] == 4
            break
        assert proc.returncode == 75, err[-2000:]
        assert time.monotonic() - sent < 60
        assert "stopped by SIGTERM" in err.strip().splitlines()[-1]
        assert RunDir(run_dir).has_checkpoint()
        stopped += 1
    assert stopped >= 2
    if not RunDir(run_dir).is_done:
        result = train(run_dir)
        assert result.returncode == 0, result.stderr[-3000:]
    assert_same_run(run_dir, reference)
    scores(run_dir, tmp_path)
