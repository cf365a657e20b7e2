"""benchmarks/gpu_check.sh in its CI mode (--device cpu --quick): every section runs and the JSON has its fields."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_quick_cpu_check_runs_every_section():
    out = subprocess.run(["bash", "benchmarks/gpu_check.sh", "--device", "cpu", "--quick"], cwd=ROOT,
                         capture_output=True, text=True, timeout=2400, env={**os.environ, "PYTHON": sys.executable})
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["quick"] and report["device"] == "cpu"
    for name in ("equivalence", "steps", "train"):
        assert "error" not in report[name], report[name]
    assert all(v < 1e-6 for v in report["equivalence"].values())  # the CPU against itself
    assert {f"{p}/{c}" for p in ("fp32", "bf16") for c in ("tokenizer", "world_model", "actor_critic")} \
        == set(report["steps"])
    assert all(row["step_s"] > 0 for row in report["steps"].values())
    assert len(report["train"]["epoch_s"]) == 2
