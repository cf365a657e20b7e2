"""The training entry point end to end on CartPole: smoke run, idempotence, exact resume, kill and resume,
non-finite losses (design §7.1, §7.3)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from m3.checkpoint import RunDir
from m3.config import load_config
from m3.metrics import read_metrics
from m3.trainer import Trainer

SMOKE = ["benchmark=cartpole", "scale=smoke", "seed=0"]


def train(run_dir, *overrides, timeout=300):
    return subprocess.run([sys.executable, "-m", "m3.train", f"run_dir={run_dir}", *SMOKE, *overrides],
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_smoke_run_then_rerun_is_a_no_op(tmp_path):
    run_dir = tmp_path / "run"
    first = train(run_dir)
    assert first.returncode == 0, first.stderr[-3000:]
    run = RunDir(run_dir)
    assert run.is_done and run.config.exists() and (run.checkpoints / "last.pt").exists()
    assert (run_dir / "weights.pt").exists()
    for split in ("train", "test"):
        assert list((run_dir / "media" / "episodes" / split).glob("episode_*_epoch_*.pt")), split
    assert json.loads(run.meta.read_text())["torch"] == torch.__version__
    epochs = [r["epoch"] for r in read_metrics(run_dir) if "duration" in r]
    assert epochs == [1, 2, 3, 4]
    assert any("final/return" in r for r in read_metrics(run_dir))
    assert any(k.startswith("world_model/train/") for r in read_metrics(run_dir) for k in r)
    assert any(k.startswith("actor_critic/train/") for r in read_metrics(run_dir) for k in r)
    records = read_metrics(run_dir)
    evaluated = [r for r in records if "test_dataset/return" in r]
    assert [r["epoch"] for r in evaluated] == [2, 4]  # evaluation.every = 2 in the smoke preset
    assert all(r["world_model/eval/total_loss"] > 0 for r in evaluated)  # losses on the test episodes (§7.1)
    collected = [r for r in records if "duration" in r]
    assert all(r["train_dataset/rewards_per_step"] == 1.0 for r in collected)  # CartPole pays 1 per step
    for r in collected:  # each action's share of the epoch's steps
        assert sum(r[f"train_dataset/action_dist/{a}"] for a in (0, 1)) == pytest.approx(1.0)
    trained = [r for r in records if "world_model/train/mean_grad_norm" in r]
    assert trained and all(r["world_model/train/min_grad_norm"] <= r["world_model/train/mean_grad_norm"]
                           <= r["world_model/train/max_grad_norm"] for r in trained)
    second = train(run_dir)
    assert second.returncode == 0 and "nothing to do" in second.stdout


def test_bad_override_stops_before_any_work(tmp_path):
    result = train(tmp_path / "run", "training.world_model.batch_size=banana")
    assert result.returncode == 2 and "banana" in result.stderr
    assert not (tmp_path / "run").exists()


def test_a_second_trainer_on_a_busy_run_folder_stops_at_once(tmp_path):
    holder = RunDir(tmp_path / "run")
    holder.lock()  # this test process trains there, as far as m3.train can tell
    result = train(tmp_path / "run", timeout=60)
    assert result.returncode == 2
    assert f"{tmp_path / 'run'} is in use by another m3.train (pid {os.getpid()})" in result.stderr
    assert not (tmp_path / "run" / "config").exists()  # stopped before writing anything


def test_changed_config_on_resume_is_refused(tmp_path):
    run_dir = tmp_path / "run"
    cfg = load_config([f"run_dir={run_dir}", *SMOKE])
    Trainer(cfg, RunDir(run_dir)).run_epochs(stop_after=2)
    from m3.train import prepare_run
    prepare_run(cfg, RunDir(run_dir))
    result = train(run_dir, "training.world_model.learning_rate=0.5")
    assert result.returncode == 2 and "learning_rate: 0.0002 in the run, 0.5 now" in result.stderr


def snapshot(trainer: Trainer) -> dict:
    return {"agent": trainer.agent.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in trainer.optimizers.items()},
            "dataset": {i: trainer.store[i].to_dict() for i in trainer.store.episode_ids},
            "priorities": trainer.sampler.state_dict(), "scaler": trainer.scaler.state_dict()}


def assert_same(a, b, path="") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_same(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{path}[{i}]")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), path
    else:
        assert a == b, path


@pytest.mark.slow
def test_resume_equals_an_uninterrupted_run(tmp_path):
    """N epochs in one go equal N/2 epochs, a fresh process-like restart from the checkpoint, and N/2 more."""
    overrides = [*SMOKE, "epochs=4", "evaluation.every=2"]
    full = Trainer(load_config([f"run_dir={tmp_path / 'full'}", *overrides]), RunDir(tmp_path / "full"))
    full.run_epochs()
    first = Trainer(load_config([f"run_dir={tmp_path / 'split'}", *overrides]), RunDir(tmp_path / "split"))
    first.run_epochs(stop_after=2)
    del first
    resumed = Trainer(load_config([f"run_dir={tmp_path / 'split'}", *overrides]), RunDir(tmp_path / "split"))
    assert resumed.start_epoch == 3
    resumed.run_epochs()
    assert_same(snapshot(full), snapshot(resumed))


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    cmd = [sys.executable, "-m", "m3.train", f"run_dir={run_dir}", *SMOKE, "epochs=8", "evaluation.every=2",
           "collection.train.stop_after_epochs=8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metadata = run_dir / "checkpoints" / "run_metadata.pt"
    deadline = time.time() + 240
    while not metadata.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert metadata.exists(), "no checkpoint was written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    checkpoint_epoch = RunDir(run_dir).load()["metadata"]["epoch"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"resuming at epoch {checkpoint_epoch + 1}" in result.stdout
    epochs = [r["epoch"] for r in read_metrics(run_dir) if "duration" in r]
    assert epochs == list(range(1, 9))  # the records logged after the checkpoint were cut back, then redone


@pytest.mark.slow
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    result = train(run_dir, "epochs=6", "evaluation.every=2", "training.world_model.start_after_epochs=2",
                   "training.world_model.learning_rate=1e30")
    assert result.returncode == 1 and "loss is" in result.stderr, result.stderr[-2000:]
    run = RunDir(run_dir)
    assert not run.is_done
    checkpoint = run.load()
    assert checkpoint["metadata"]["epoch"] == 2
    assert all(torch.isfinite(v).all() for v in checkpoint["agent"].values() if v.is_floating_point())
