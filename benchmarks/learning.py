"""Learning curves: evaluation return against env steps and wall time, per seed, printed as JSON.

Each seed is a real `python -m m3.train` run (resumable: rerunning continues unfinished runs). The target of
issue 2 is a mean evaluation return ≥ 300 on CartPole within 50K env steps.
Usage (repository root): python benchmarks/learning.py --env cartpole --seeds 0 1 2 --steps 50000
    [--run-root runs/learning] [--device cpu] [-- extra Hydra overrides]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from m3.config import compose_config
from m3.metrics import read_metrics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="cartpole", help="benchmark name (config/m3/benchmark/<env>.yaml)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=50_000, help="env steps to collect per seed")
    p.add_argument("--run-root", type=Path, default=Path("runs/learning"))
    p.add_argument("--device", default="cpu")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = p.parse_args()
    base = compose_config([f"benchmark={args.env}", "run_dir=/tmp/unused", *args.overrides])
    epochs = -(-args.steps // base.collection.train.num_steps)
    report = {"env": args.env, "steps": args.steps, "epochs": epochs, "seeds": {}}
    for seed in args.seeds:
        run_dir = args.run_root / args.env / f"seed{seed}"
        start = time.time()
        subprocess.run([sys.executable, "-m", "m3.train", f"benchmark={args.env}", f"seed={seed}", f"run_dir={run_dir}",
                        f"epochs={epochs}", f"collection.train.stop_after_epochs={epochs}", f"device={args.device}",
                        *args.overrides], check=True, stdout=sys.stderr)  # stdout carries only the JSON
        records = read_metrics(run_dir)
        curve, wall, steps = [], 0.0, 0
        for r in records:
            wall += r.get("duration", 0.0)
            steps = r.get("train_dataset/#steps", steps)
            if "test_dataset/return" in r:
                curve.append({"epoch": r["epoch"], "env_steps": steps, "wall_s": round(wall, 1),
                              "return": r["test_dataset/return"]})
        final = [r["final/return"] for r in records if "final/return" in r]
        report["seeds"][seed] = {"curve": curve, "final_return": final[-1] if final else None,
                                 "best_eval_return": max((c["return"] for c in curve), default=None),
                                 "wall_s_this_call": round(time.time() - start, 1)}
    finals = [s["final_return"] for s in report["seeds"].values() if s["final_return"] is not None]
    report["mean_final_return"] = sum(finals) / len(finals) if finals else None
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
