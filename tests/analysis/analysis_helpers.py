"""Helpers of the analysis tests: real scores files in the `m3.evaluate` format, and a fast params file."""

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PUBLISHED = ROOT / "results" / "published"  # the published baselines the repository ships
ATARI_GAMES = list(json.loads((PUBLISHED / "atari" / "M3.json").read_text()))


def scores_record(benchmark, game, seed, returns, curve_epochs=(), steps_per_epoch=100, epoch=600):
    """One per-run scores file's content, as `m3.evaluate` writes it; the curve rises towards the final mean."""
    mean = sum(returns) / len(returns)
    epochs = list(curve_epochs)
    return {
        "benchmark": benchmark, "game": game, "seed": seed, "returns": list(returns),
        "lengths": [100] * len(returns), "mean_return": mean, "num_episodes": len(returns), "temperature": 0.5,
        "checkpoint": f"results/runs/{benchmark}/{game}/seed{seed}/weights.pt",
        "checkpoint_sha256": f"{seed:064x}", "epoch": epoch, "code_version": "0123abc", "seconds": 1.5,
        "curve": {"epochs": epochs, "env_steps": [e * steps_per_epoch for e in epochs],
                  "returns": [mean * (i + 1) / len(epochs) for i in range(len(epochs))]},
    }


def write_scores(scores_dir, benchmark, game, seed, returns, **kwargs):
    path = Path(scores_dir) / game / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(scores_record(benchmark, game, seed, returns, **kwargs)))
    return path


def write_atari_runs(scores_dir, seeds=(0, 1), curve_epochs=(100, 200, 300)):
    """Runs near the published M3 scores on all 26 games, with periodic evaluations."""
    published = json.loads((PUBLISHED / "atari" / "M3.json").read_text())
    for game in ATARI_GAMES:
        for seed in seeds:
            base = published[game][seed]
            write_scores(scores_dir, "atari", game, seed, [base * 0.9, base * 1.1, base], curve_epochs=curve_epochs,
                         steps_per_epoch=200)


def fast_params_file(tmp_path, **statistics):
    """config/analysis.yaml with few bootstrap reps and a low dpi (the statistics code is the same)."""
    raw = yaml.safe_load((ROOT / "config" / "analysis.yaml").read_text())
    raw["statistics"].update(interval_reps=200, profile_reps=50, improvement_reps=50, curve_reps=50, **statistics)
    raw["figures"]["dpi"] = 40
    path = Path(tmp_path) / "analysis.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
