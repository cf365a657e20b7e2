"""benchmarks/learning.py --minutes: the budget stops a run that would train far longer, the run keeps a
checkpoint to resume from, and the report gives its curve so far beside the random baseline."""

import json
import subprocess
import sys

import pytest

from m3.checkpoint import RunDir


@pytest.mark.slow(minutes=1)
def test_budget_stops_the_runs_and_reports_their_curves(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.learning", "--env", "cartpole", "--seeds", "0", "--steps", "100000",
         "--minutes", "0.4", "--run-root", str(tmp_path), "--plot", str(tmp_path / "curves.png"), "scale=smoke",
         "evaluation.every=1"],
        check=True, capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    seed = report["seeds"]["0"]
    assert report["minutes"] == 0.4 and report["epochs"] == 2000  # 100K steps of 50 per epoch
    assert seed["stopped_by_budget"] and seed["final_return"] is None
    assert seed["wall_s_this_call"] < 120  # stopped, not 2,000 epochs
    assert seed["curve"]["epochs"] and seed["curve"]["env_steps"][-1] < 100_000
    assert seed["random_episodes"] == 2 and seed["random_return"] > 0
    assert RunDir(tmp_path / "cartpole" / "seed0").record.exists()  # the checkpoint a rerun resumes from
    assert "--minutes 0.4 spent" in done.stderr
    assert report["target"] is None and report["target_reached_at"] is None  # no --target, none reached
    assert (tmp_path / "curves.png").stat().st_size > 0
