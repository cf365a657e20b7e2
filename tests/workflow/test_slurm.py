"""The slurm profile on a real single-node SLURM cluster: a smoke target runs through `snakemake --profile slurm`
(profiles installed by `make install-profiles`), and a training job cancelled mid-run with `scancel` is resubmitted
and resumes from its checkpoint instead of restarting at epoch 1."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from workflow_testing import HERE, SNAKEMAKE, VENV_BIN, install_profiles

pytestmark = pytest.mark.slow

RUN = Path("results/smoke/runs/cartpole/CartPole-v1/seed0")
EPOCHS = 24  # tests/workflow/cartpole.yaml
# The local test cluster has no accounting database (so `squeue` answers status queries) and no Apptainer.
TEST_CLUSTER_ARGS = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2")


def epochs(run: Path) -> list[int]:
    """The epoch of every per-epoch record of metrics.jsonl, in file order (the file is appended across resumes)."""
    path = run / "metrics.jsonl"
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return [record["epoch"] for record in map(json.loads, lines) if "duration" in record]


def train_jobs(cluster) -> list[tuple[str, str]]:
    """(SLURM job id, state) of the train jobs, oldest first; the plugin puts the rule name in the job comment."""
    return sorted(((job, state) for job, state, comment in cluster.squeue() if "rule_train" in comment),
                  key=lambda js: int(js[0]))


def wait_for(what: str, check, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"snakemake ended (rc {proc.returncode}) before {what}:\n{log.read_text()[-4000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)


def test_smoke_target_on_slurm_resumes_a_cancelled_job(slurm_cluster, workflow_dir, tmp_path):
    xdg = tmp_path / "xdg"
    install_profiles(xdg)
    assert (xdg / "snakemake" / "slurm" / "profile.yaml").is_file()
    (workflow_dir / "cartpole.yaml").write_text((HERE / "cartpole.yaml").read_text())
    env = dict(os.environ, XDG_CONFIG_HOME=str(xdg), M3_APPTAINER="0",
               PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    log = tmp_path / "snakemake.log"
    with log.open("w") as out:
        proc = subprocess.Popen([SNAKEMAKE, "--profile", "slurm", "all_cartpole", *TEST_CLUSTER_ARGS,
                                 "--configfile", "cartpole.yaml"], cwd=workflow_dir, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    run = workflow_dir / RUN
    try:
        # Cancel the training job once a checkpoint is committed and training has gone on past it.
        wait_for("a checkpoint and a later epoch",
                 lambda: (run / "checkpoints" / "run_metadata.pt").exists() and max(epochs(run), default=0) >= 3,
                 300, proc, log)
        running = [job for job, state in train_jobs(slurm_cluster) if state == "RUNNING"]
        assert len(running) == 1 and not (run / "done").exists(), "cancelled while training"
        details = subprocess.run(["scontrol", "show", "job", running[0]], capture_output=True, text=True).stdout
        assert "Requeue=1" in details, "submitted with --requeue, so SLURM requeues it if preempted"
        cancelled_at = max(epochs(run))
        subprocess.run(["scancel", running[0]], check=True)
        assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    jobs = train_jobs(slurm_cluster)
    assert jobs[0] == (running[0], "CANCELLED") and jobs[-1][1] == "COMPLETED" and len(jobs) == 2, jobs
    history = epochs(run)
    restart = next(i for i in range(1, len(history)) if history[i] <= history[i - 1])
    assert 3 <= history[restart] <= cancelled_at + 1, f"resumed from the checkpoint before epoch {cancelled_at}"
    assert history.count(1) == 1, "training did not start over at epoch 1"
    assert history[restart:] == list(range(history[restart], EPOCHS + 1)), "the resumed run went on to the end"
    assert (run / "done").exists()
    train_log = (workflow_dir / "results/smoke/logs/train/cartpole/CartPole-v1/seed0.log").read_text()
    assert f"resuming at epoch {history[restart]}" in train_log
    scores = json.loads((workflow_dir / "results/smoke/scores/cartpole/CartPole-v1/seed0.json").read_text())
    assert scores["benchmark"] == "cartpole" and scores["epoch"] == EPOCHS and len(scores["returns"]) >= 2
