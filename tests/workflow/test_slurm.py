"""The slurm profile on a real single-node SLURM cluster: a smoke target runs through `snakemake --profile slurm`
(profiles installed by `make install-profiles`). Its training job is preempted once (`scontrol requeue`: SLURM sends
SIGTERM, then requeues the same job), which m3.train answers with a checkpoint and exit status 75, and cancelled
once (`scancel`), after which Snakemake resubmits it. Each time the run resumes from its checkpoint instead of
starting over, and it ends with a metrics log holding every epoch once and scores the analysis accepts."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from workflow_testing import HERE, SNAKEMAKE, VENV_BIN, install_profiles

from m3.analysis.scores import load_run

pytestmark = pytest.mark.slow(minutes=2)

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


def restarts(job: str) -> int:
    details = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
    return int(details.split("Restarts=")[1].split()[0])


def test_smoke_target_on_slurm_survives_preemption_and_cancellation(slurm_cluster, workflow_dir, tmp_path):
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
        # Preempt the training job once a checkpoint is committed and training has gone on past it.
        wait_for("a checkpoint and a later epoch",
                 lambda: (run / "checkpoints" / "run_metadata.pt").exists() and max(epochs(run), default=0) >= 3,
                 300, proc, log)
        running = [job for job, state in train_jobs(slurm_cluster) if state == "RUNNING"]
        assert len(running) == 1 and not (run / "done").exists(), "preempted while training"
        job = running[0]
        details = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True).stdout
        assert "Requeue=1" in details, "submitted with --requeue, so SLURM requeues it if preempted"
        subprocess.run(["scontrol", "requeue", job], check=True)
        preempted_at = max(epochs(run))
        # SLURM runs the same job again; cancel it once it has trained two epochs past the preemption.
        wait_for("the requeued job training again",
                 lambda: restarts(job) == 1 and dict(train_jobs(slurm_cluster)).get(job) == "RUNNING"
                 and max(epochs(run), default=0) >= preempted_at + 2, 300, proc, log)
        cancelled_at = max(epochs(run))
        subprocess.run(["scancel", job], check=True)
        assert proc.wait(timeout=600) == 0, log.read_text()[-4000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    jobs = train_jobs(slurm_cluster)
    assert jobs[0] == (job, "CANCELLED") and jobs[-1][1] == "COMPLETED" and len(jobs) == 2, jobs
    assert epochs(run) == list(range(1, EPOCHS + 1)), "every epoch logged once, across all three attempts"
    assert (run / "done").exists()
    logs = workflow_dir / "results/smoke/logs/train/cartpole/CartPole-v1"
    attempts = (logs / "seed0.log.attempts").read_text().split("== m3.train attempt ")[1:]
    assert len(attempts) == 3, "first run, after the requeue, after the resubmission"
    jobs_of = [a.split("(SLURM job ")[1].split(")")[0] for a in attempts]
    assert jobs_of[:2] == [job, job] and jobs_of[2] == jobs[-1][0], "requeued as the same job, then resubmitted"
    # scancel sends SIGTERM first: m3.train checkpoints at its next safe point and says so. (The requeued attempt's
    # log can end before that line: SLURM kills the batch script's processes too, so only the resume below shows it.)
    assert "stopped by SIGTERM" in attempts[1] and "a checkpoint was written" in attempts[1], attempts[1][-2000:]
    resumed = [int(a.split("resuming at epoch ")[1].split(")")[0]) for a in attempts[1:]]
    assert preempted_at <= resumed[0] <= preempted_at + 1, "the preemption checkpoint lost no completed epoch"
    assert 3 <= resumed[1] <= cancelled_at + 1, f"resumed from the checkpoint before epoch {cancelled_at}"
    scores_path = workflow_dir / "results/smoke/scores/cartpole/CartPole-v1/seed0.json"
    scores = load_run(scores_path, "cartpole", ("CartPole-v1",))  # the analysis' own reader accepts the run
    assert scores.curve.epochs == tuple(range(2, EPOCHS + 1, 2)) and len(scores.record["returns"]) >= 2
