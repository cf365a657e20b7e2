"""benchmarks/components.py end to end on a real DMC env at a tiny budget: the report, its figures, and a world
model that has learned something from the random-play episodes."""

import json
import subprocess
import sys


def test_dmc_report_and_figures(tmp_path):
    report_path = tmp_path / "report.json"
    figures = tmp_path / "figures"
    subprocess.run(
        [sys.executable, "-m", "benchmarks.components", "--benchmark", "dmc", "--game", "cartpole-balance",
         "--train-steps", "1000", "--test-steps", "500", "--wm-updates", "30", "--evals", "2",
         "--figures", str(figures), "--report", str(report_path), "scale=smoke"],
        check=True, capture_output=True, text=True)
    report = json.loads(report_path.read_text())
    assert report["data"]["train"] == {"episodes": 2, "env_steps": 1000}
    assert report["data"]["held_out"] == {"episodes": 1, "env_steps": 500}
    assert "tokenizer" not in report  # no image to reconstruct
    curve = report["world_model"]["curve"]
    assert [p["updates"] for p in curve] == [0, 30]
    first, last = curve[0]["obs_ce"], curve[-1]["obs_ce"]
    assert last["world_model"] < first["world_model"]
    assert last["marginal"] == first["marginal"] and last["copy_last"] == first["copy_last"]
    assert report["world_model"]["below_baselines"]["end_ce"] is None  # DMC episodes never terminate
    assert {p.name for p in figures.iterdir()} == {"cartpole-balance_curves.png", "cartpole-balance_rollout.png"}
