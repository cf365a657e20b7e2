"""The train rule (workflow/rules/train.smk) and the workflow's command line: lists from `--config`, every
attempt's log kept across retries, and the way out of a lock left by a killed `snakemake`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from workflow_testing import HERE, REPO, SNAKEMAKE, snakemake

sys.path.insert(0, str(REPO / "workflow" / "lib"))
from config_check import typed_overrides  # noqa: E402

TARGET = "results/smoke/runs/cartpole/CartPole-v1/seed0/done"
LOGS = "results/smoke/logs/train/cartpole/CartPole-v1"


def test_config_lists_are_typed_again():
    overrides = {"seeds": ["0", "1"], "smoke": {"seeds": ["2"], "games": {"dmc": ["walker-run"]}}, "scale": "smoke"}
    assert typed_overrides(overrides) == {"seeds": [0, 1], "smoke": {"seeds": [2], "games": {"dmc": ["walker-run"]}}}


def test_seeds_given_on_the_command_line_are_accepted(workflow_dir):
    done = snakemake(workflow_dir, "-n", "--config", "seeds=[3,5]", "--", "all_dmc", timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "runs/dmc/walker-run/seed5/done" in done.stdout and "seed0/done" not in done.stdout


def cartpole_workflow(workflow_dir, *overrides: str):
    shutil.copy2(HERE / "cartpole.yaml", workflow_dir / "cartpole.yaml")
    (workflow_dir / "extra.yaml").write_text(f"benchmarks:\n  cartpole:\n    overrides: [{', '.join(overrides)}]\n")
    return ["--profile", "profiles/local", "--configfile", "cartpole.yaml", "extra.yaml"]


@pytest.mark.slow
def test_a_retried_job_keeps_every_attempts_log(workflow_dir):
    args = cartpole_workflow(workflow_dir, "epochs=0")  # m3.train refuses it at once, on every attempt
    done = snakemake(workflow_dir, *args, "--retries", "1", "--", TARGET, timeout=300)
    assert done.returncode != 0
    error = "m3.train: error: epochs=0 is not allowed; it must lie in [1, inf)"
    attempts = (workflow_dir / LOGS / "seed0.log.attempts").read_text().splitlines()
    assert [line.split(" (")[0] for line in attempts[::2]] == ["== m3.train attempt 1", "== m3.train attempt 2"]
    assert attempts[1::2] == [error, error]
    assert (workflow_dir / LOGS / "seed0.log").read_text().splitlines() == attempts[2:]  # the latest attempt


@pytest.mark.slow
def test_a_killed_snakemake_leaves_a_lock_the_rerun_names_with_unlock(workflow_dir):
    args = cartpole_workflow(workflow_dir, "epochs=24")
    killed = subprocess.Popen([SNAKEMAKE, *args, "--", TARGET], cwd=workflow_dir, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    locks = workflow_dir / ".snakemake" / "locks"
    deadline = time.time() + 120
    while not (locks.is_dir() and any(locks.iterdir())) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(killed.pid, signal.SIGKILL)  # snakemake and its job, as a node failure would
    killed.wait()
    rerun = snakemake(workflow_dir, *args, "--", TARGET, timeout=300)  # not -n: a dry run takes no lock
    assert rerun.returncode != 0 and "--unlock" in rerun.stdout + rerun.stderr
    assert snakemake(workflow_dir, *args, "--unlock", "--", TARGET, timeout=300).returncode == 0
    again = snakemake(workflow_dir, *args, "-n", "--", TARGET, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
