"""GPU slots on a workstation (workflow/scripts/gpu_slot.py) with fake GPU ids on the CPU: concurrent jobs never
share a slot, a failed or killed job frees its slot, and the local profile runs one training job per slot."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from workflow_testing import HERE, REPO, snakemake

SLOT = [sys.executable, str(REPO / "workflow" / "scripts" / "gpu_slot.py")]
# A job that records which GPU it got and when it started and ended: "<gpu> <start> <end>".
RECORD = ("import os, sys, time; t0 = time.time(); time.sleep(float(sys.argv[2])); "
          "open(sys.argv[1], 'a').write(f\"{os.environ['CUDA_VISIBLE_DEVICES']} {t0} {time.time()}\\n\")")


def slot_env(ids: str, lock_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID")}
    return dict(env, M3_GPU_IDS=ids, M3_GPU_LOCK_DIR=str(lock_dir))


def start(env: dict, *command: str, gpus: int = 1) -> subprocess.Popen:
    return subprocess.Popen([*SLOT, "--gpus", str(gpus), "--", *command], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def overlaps(intervals: list[tuple[float, float]]) -> bool:
    ordered = sorted(intervals)
    return any(later[0] < earlier[1] for earlier, later in zip(ordered, ordered[1:]))


def most_at_once(intervals: list[tuple[float, float]]) -> int:
    events = sorted([(t0, 1) for t0, _ in intervals] + [(t1, -1) for _, t1 in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_concurrent_jobs_never_share_a_slot(tmp_path):
    env, record = slot_env("0,1,2", tmp_path / "locks"), tmp_path / "record.txt"
    jobs = [start(env, sys.executable, "-c", RECORD, str(record), "0.6") for _ in range(7)]
    assert [job.wait(timeout=60) for job in jobs] == [0] * 7
    rows = [line.split() for line in record.read_text().splitlines()]
    assert len(rows) == 7
    by_gpu: dict[str, list[tuple[float, float]]] = {}
    for gpu, t0, t1 in rows:
        by_gpu.setdefault(gpu, []).append((float(t0), float(t1)))
    assert set(by_gpu) == {"0", "1", "2"}, "every slot is used, and only those"
    for gpu, intervals in by_gpu.items():
        assert not overlaps(intervals), f"two jobs ran on GPU {gpu} at once: {intervals}"
    assert 2 <= most_at_once([i for intervals in by_gpu.values() for i in intervals]) <= 3, "parallel, 3 at most"


def test_a_failed_job_releases_its_slot(tmp_path):
    env = slot_env("7", tmp_path / "locks")
    failed = start(env, sys.executable, "-c", "import sys; sys.exit(3)")
    assert failed.wait(timeout=30) == 3, "the job's exit code is passed on"
    assert "released GPU 7" in failed.stderr.read()
    t0 = time.monotonic()
    after = start(env, sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])")
    assert after.wait(timeout=30) == 0
    assert after.stdout.read().strip() == "7"
    assert time.monotonic() - t0 < 10, "the only slot was free again at once"


def test_a_killed_job_releases_its_slot(tmp_path):
    env = slot_env("0", tmp_path / "locks")
    holder = start(env, sys.executable, "-c", "import time; time.sleep(60)")
    time.sleep(1.0)
    waiting = start(env, sys.executable, "-c", "print('ran')")
    time.sleep(1.5)
    assert waiting.poll() is None, "the second job waits while the slot is held"
    os.killpg(holder.pid, signal.SIGKILL)  # what happens to a job's process group when it is killed
    assert waiting.wait(timeout=30) == 0
    assert waiting.stdout.read().strip() == "ran"
    assert "busy; waiting" in waiting.stderr.read()


def test_multi_gpu_job_gets_distinct_gpus_and_too_many_is_refused(tmp_path):
    env = slot_env("a,b,c", tmp_path / "locks")
    two = start(env, sys.executable, "-c", "import os; print(os.environ['CUDA_VISIBLE_DEVICES'])", gpus=2)
    assert two.wait(timeout=30) == 0
    assert sorted(two.stdout.read().strip().split(",")) == ["a", "b"]
    four = start(env, "true", gpus=4)
    assert four.wait(timeout=30) == 2
    assert "needs 4 GPU(s) but 3 are visible (a,b,c)" in four.stderr.read()
    count = subprocess.run([*SLOT, "--count"], env=env, capture_output=True, text=True, check=True)
    assert count.stdout.strip() == "3"


def test_no_gpu_job_runs_without_a_slot(tmp_path):
    env = slot_env("", tmp_path / "locks")
    job = start(env, sys.executable, "-c", "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES', 'unset'))",
                gpus=0)
    assert job.wait(timeout=30) == 0
    assert job.stdout.read().strip() == "unset"
    assert not (tmp_path / "locks").exists()


@pytest.mark.slow
def test_local_profile_pins_each_training_job_to_its_own_slot(workflow_dir):
    """Four GPU training jobs on two fake GPUs: at most two at once, never two on one GPU."""
    (workflow_dir / "cartpole.yaml").write_text((HERE / "cartpole.yaml").read_text())
    (workflow_dir / "gpus.yaml").write_text(
        "smoke:\n  seeds: [0, 1, 2, 3]\n  resources:\n    train: {gpu: 1, cpus: 1, mem_mb: 1000, runtime: 10}\n"
        "benchmarks:\n  cartpole:\n    overrides: [epochs=2]\n")
    done = snakemake(workflow_dir, "--profile", "profiles/local", "--cores", "4", "train_cartpole_seed0",
                     "train_cartpole_seed1", "train_cartpole_seed2", "train_cartpole_seed3",
                     "--configfile", "cartpole.yaml", "gpus.yaml", env={"M3_GPU_IDS": "0,1"}, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    held: dict[str, list[tuple[float, float]]] = {}
    for seed in range(4):
        log = (workflow_dir / f"results/smoke/logs/train/cartpole/CartPole-v1/seed{seed}.log").read_text()
        took = re.search(r"took GPU (\d) at ([\d.]+)", log)
        released = re.search(r"released GPU (\d) at ([\d.]+) \(exit code 0\)", log)
        assert took and released and took.group(1) == released.group(1), log[-2000:]
        held.setdefault(took.group(1), []).append((float(took.group(2)), float(released.group(2))))
    assert set(held) <= {"0", "1"}
    for gpu, intervals in held.items():
        assert not overlaps(intervals), f"two training jobs held GPU {gpu} at once: {intervals}"
