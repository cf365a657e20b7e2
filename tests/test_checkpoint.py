"""Run-folder checkpoints: round trip, crash recovery, SIGKILL during a write (design §7.3)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch

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
    loaded = run.load()
    assert loaded["metadata"]["epoch"] == 2 and torch.equal(loaded["agent"]["w"], torch.full((4,), 2.0))
    assert torch.equal(torch.load(run.checkpoints / "best.pt")["w"], torch.full((4,), 1.0))
    assert not run.backup.exists()


def test_interrupted_save_is_rolled_back(tmp_path):
    """A crash after the backup copy and some new files: the next start restores one consistent epoch."""
    run = RunDir(tmp_path)
    run.save(**states(1))
    run.backup.mkdir()
    for f in ("last.pt", "optimizer.pt", "trainer.pt", "run_metadata.pt"):
        (run.backup / f).write_bytes((run.checkpoints / f).read_bytes())
    torch.save({"w": torch.full((4,), 9.0)}, run.checkpoints / "last.pt")  # the half-written new checkpoint
    loaded = run.load()
    assert loaded["metadata"]["epoch"] == 1 and torch.equal(loaded["agent"]["w"], torch.full((4,), 1.0))
    assert not run.backup.exists()


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
