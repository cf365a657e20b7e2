"""Run-folder checkpoints: round trip, forward-only commit, crash recovery, SIGKILL during a write (design §7.3)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from m3.atomic import atomic_write_text
from m3.checkpoint import CheckpointError, RunDir


def states(value: float):
    agent = {"w": torch.full((4,), value)}
    return dict(agent=agent, optimizers={"optimizer_world_model": {"v": value}}, trainer={"t": value},
                metadata={"epoch": int(value), "best_eval_score": 0.0, "epoch_of_best_score": 0})


def test_round_trip_and_best(tmp_path):
    run = RunDir(tmp_path)
    assert not run.has_checkpoint()
    run.save(**states(1), best=True)
    run.save(**states(2))
    loaded = run.load(parts=("agent", "best", "metadata"))
    assert loaded["metadata"]["epoch"] == 2 and torch.equal(loaded["agent"]["w"], torch.full((4,), 2.0))
    assert torch.equal(loaded["best"]["w"], torch.full((4,), 1.0))  # carried over into the new set
    assert torch.equal(torch.load(run.checkpoints / "best.pt")["w"], torch.full((4,), 1.0))
    assert torch.equal(torch.load(run.checkpoints / "last.pt")["w"], torch.full((4,), 2.0))
    assert sorted(p.name for p in run.checkpoints.iterdir()) == ["best.pt", "last.pt", "run_metadata.pt", "set-1"]


def test_a_pending_set_is_dropped_and_a_complete_one_rolled_forward(tmp_path):
    """A crash before the set is complete keeps the commit; one after it commits the newer set, never older."""
    run = RunDir(tmp_path)
    run.save(**states(1))
    committed = run.checkpoints / "set-0"
    (run.checkpoints / "set-1.pending").mkdir()
    torch.save({"w": torch.full((4,), 9.0)}, run.checkpoints / "set-1.pending" / "last.pt")
    assert run.load()["metadata"]["epoch"] == 1 and not (run.checkpoints / "set-1.pending").exists()
    newer = RunDir(tmp_path / "other")
    newer.save(**states(2))
    newer.save(**states(3))  # now copy set-1 (epoch 3) with its record back in as an uncommitted set
    (run.checkpoints / "set-1").mkdir()
    for f in ("last.pt", "optimizer.pt", "trainer.pt"):
        (run.checkpoints / "set-1" / f).write_bytes((newer.checkpoints / "set-1" / f).read_bytes())
    torch.save(torch.load(newer.record, weights_only=False), run.checkpoints / "set-1" / "run_metadata.pt")
    loaded = run.load()
    assert loaded["metadata"]["epoch"] == 3 and torch.equal(loaded["agent"]["w"], torch.full((4,), 3.0))
    assert not committed.exists()


def test_start_removes_temp_files_and_writes_respect_the_umask(tmp_path):
    run = RunDir(tmp_path)
    run.save(**states(1))
    litter = [run.checkpoints / ".last.pt.abc123.tmp", run.dataset / ".7.pt.x.tmp", tmp_path / ".done.y.tmp"]
    for f in litter:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"half")
    assert run.has_checkpoint()
    assert not any(f.exists() for f in litter)
    old = os.umask(0o022)
    try:
        atomic_write_text("x", tmp_path / "f.txt")
    finally:
        os.umask(old)
    assert (tmp_path / "f.txt").stat().st_mode & 0o777 == 0o644


def test_a_missing_commit_record_is_an_error_not_a_fresh_start(tmp_path):
    run = RunDir(tmp_path)
    run.save(**states(1))
    run.record.unlink()
    with pytest.raises(CheckpointError, match="run_metadata.pt is missing"):
        run.has_checkpoint()


def test_corrupt_file_names_the_file(tmp_path):
    run = RunDir(tmp_path)
    run.save(**states(1))
    (run.checkpoints / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="last.pt"):
        run.load()


def test_done_marker(tmp_path):
    run = RunDir(tmp_path)
    assert not run.is_done
    run.mark_done("x")
    assert run.is_done


WRITER = textwrap.dedent("""
    import sys, torch
    from m3.checkpoint import RunDir
    run = RunDir(sys.argv[1])
    i = 0
    while True:
        i += 1
        big = {"w": torch.full((2_000_000,), float(i))}
        run.save(agent=big, optimizers={"o": i}, trainer={"t": i},
                 metadata={"epoch": i, "best_eval_score": 0.0, "epoch_of_best_score": 0})
        print(i, flush=True)
""")


def test_sigkill_during_writes_leaves_a_loadable_checkpoint(tmp_path):
    """SIGKILL at several points while 8 MB checkpoints are being written: last.pt always loads, and
    it belongs to the same epoch as the metadata."""
    for delay in (0.3, 0.55, 0.8, 1.1):
        run_dir = tmp_path / f"run{delay}"
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "1"  # one complete checkpoint exists
        time.sleep(delay)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        loaded = RunDir(run_dir).load()
        epoch = loaded["metadata"]["epoch"]
        assert torch.equal(loaded["agent"]["w"], torch.full((2_000_000,), float(epoch)))
        assert loaded["trainer"]["t"] == epoch and loaded["optimizers"]["o"] == epoch


@pytest.mark.parametrize("fault", ["commit:files#5", "commit:set#2", "commit:record#2", "commit:cleanup#2"])
def test_kill_at_each_commit_step_keeps_one_consistent_checkpoint(tmp_path, fault):
    """SIGKILL (M3_FAULT) at each step of the second commit: the next start has epoch 1 or, once the set is
    complete, epoch 2, with every file of that same epoch."""
    proc = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], capture_output=True, text=True,
                          env={**os.environ, "M3_FAULT": fault}, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    loaded = RunDir(tmp_path).load()
    epoch = loaded["metadata"]["epoch"]
    assert epoch == (1 if fault.startswith("commit:files") else 2)
    assert torch.equal(loaded["agent"]["w"], torch.full((2_000_000,), float(epoch)))
    assert loaded["trainer"]["t"] == epoch and loaded["optimizers"]["o"] == epoch
    assert [p.name for p in RunDir(tmp_path).checkpoints.glob("set-*")] == [f"set-{epoch - 1}"]
