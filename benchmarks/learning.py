"""Learning curves: evaluation return against env steps and wall time, per seed, printed as JSON.

Each seed is a real `python -m m3.train` run (resumable: rerunning continues unfinished runs and returns at once
for finished ones) of benchmark --env on its game --game (default: the benchmark's). The target of issue 2 is a
mean evaluation return ≥ 300 on CartPole within 50K env steps; issue 15's targets are in docs/learning.md.
Beside the curves the report gives the uniform random policy's mean return on the episodes each seed's final
evaluation plays (`benchmarks.envs.random_returns`, the benchmark's final episode count), kept beside the seed's
run dir in <run_dir>.random.json and reused while the benchmark, env config, seed and episode count are the same.
With --jobs N > 1 the seeds train N at a time, each with cores/N torch threads (unless OMP_NUM_THREADS is set),
and each run's console output goes to <run_dir>.log instead of stderr.
The report gives the first evaluation at which the mean over seeds reaches --target; --plot writes a figure of
every seed's curve and their mean against env steps.
With --minutes M the call stops every run still training after M minutes of wall time (SIGTERM: each run
checkpoints and exits 75, `m3.train`) and starts no further seed; the report then gives each seed's curve so far
(`stopped_by_budget`), and rerunning the command continues the runs. Give --jobs as many as --seeds so that
every seed gets its share of the budget.
Usage (repository root): python -m benchmarks.learning --env cartpole --seeds 0 1 2 --steps 50000
    [--game G] [--jobs 3] [--minutes 170] [--target 300] [--plot docs/figures/cartpole_learning.png]
    [--run-root runs/learning] [--device cpu] [-- extra Hydra overrides]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from benchmarks.envs import random_returns
from m3.atomic import atomic_write_text
from m3.config import compose_config
from m3.envs import EnvConfig
from m3.metrics import learning_curve, read_metrics
from m3.train import EX_TEMPFAIL


def train_command(args: argparse.Namespace, seed: int, epochs: int, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "m3.train", f"benchmark={args.env}", *game_override(args), f"seed={seed}",
            f"run_dir={run_dir}", f"epochs={epochs}", f"collection.train.stop_after_epochs={epochs}",
            f"device={args.device}", *args.overrides]


def game_override(args: argparse.Namespace) -> list[str]:
    return [f"env.game={args.game}"] if args.game else []


def seed_dir(args: argparse.Namespace, seed: int) -> Path:
    return args.run_root / args.env / (args.game or "") / f"seed{seed}"


def random_baseline(args: argparse.Namespace, env_cfg: EnvConfig, episodes: int, seed: int) -> list[float]:
    """The random policy's returns on seed `seed`'s final-evaluation episodes, from <run_dir>.random.json when
    that file was written for the same benchmark, env config, seed and episode count, else played and saved."""
    path = seed_dir(args, seed).with_suffix(".random.json")
    key = {"benchmark": args.env, "env": asdict(env_cfg), "seed": seed, "episodes": episodes}
    if path.exists():
        saved = json.loads(path.read_text())
        if saved["key"] == key:
            return saved["returns"]
    returns = random_returns(args.env, env_cfg, episodes, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(json.dumps({"key": key, "returns": returns}), path)
    return returns


def run_seeds(args: argparse.Namespace, epochs: int) -> tuple[dict[int, float], set[int]]:
    """Train every seed, `args.jobs` at a time, until done or `args.minutes` have passed; returns the wall seconds
    of each seed's call and the seeds the budget stopped or never started."""
    env = dict(os.environ)
    if args.jobs > 1:
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // args.jobs)))
    deadline = time.time() + args.minutes * 60 if args.minutes is not None else float("inf")
    pending, running, walls, stopped = list(args.seeds), {}, {}, set()
    while pending or running:
        if time.time() > deadline and not stopped:
            stopped = set(pending) | set(running)
            pending = []
            print(f"learning: --minutes {args.minutes:g} spent, stopping seeds {sorted(running)}", file=sys.stderr,
                  flush=True)
            for proc, *_ in running.values():
                proc.terminate()
        while pending and len(running) < args.jobs:
            seed = pending.pop(0)
            run_dir = seed_dir(args, seed)
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            out = sys.stderr if args.jobs == 1 else open(run_dir.with_suffix(".log"), "a")  # noqa: SIM115
            if args.jobs > 1:
                print(f"learning: seed {seed} training, console output in {out.name}", file=sys.stderr, flush=True)
            proc = subprocess.Popen(train_command(args, seed, epochs, run_dir), stdout=out, stderr=out, env=env)
            running[seed] = (proc, out, time.time())
        time.sleep(1.0)
        for seed, (proc, out, start) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[seed]
            walls[seed] = round(time.time() - start, 1)
            if out is not sys.stderr:
                out.close()
            if proc.returncode != 0 and not (seed in stopped and proc.returncode in (EX_TEMPFAIL, -signal.SIGTERM)):
                for other, *_ in running.values():
                    other.terminate()
                sys.exit(f"learning: seed {seed} failed with exit code {proc.returncode}")
    return walls, stopped


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--env", default="cartpole", help="benchmark name (config/m3/benchmark/<env>.yaml)")
    p.add_argument("--game", help="the benchmark's game (env.game); default: the benchmark config's")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=50_000, help="env steps to collect per seed")
    p.add_argument("--jobs", type=int, default=1, help="seeds trained at once")
    p.add_argument("--minutes", type=float, help="wall-time budget of this call; stopped runs resume on a rerun")
    p.add_argument("--run-root", type=Path, default=Path("runs/learning"))
    p.add_argument("--device", default="cpu")
    p.add_argument("--target", type=float, help="mean eval return to reach (issue 2: CartPole 300); none if not given")
    p.add_argument("--plot", type=Path, help="write the learning curves to this image file")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = p.parse_args()
    if args.jobs < 1:
        p.error(f"--jobs must be at least 1, got {args.jobs}")
    base = compose_config([f"benchmark={args.env}", *game_override(args), "run_dir=/tmp/unused", *args.overrides])
    epochs = -(-args.steps // base.collection.train.num_steps)
    walls, stopped = run_seeds(args, epochs)
    report = {"env": args.env, "game": base.env.game, "steps": args.steps, "epochs": epochs, "jobs": args.jobs,
              "minutes": args.minutes, "overrides": args.overrides, "seeds": {}}
    episodes = base.collection.test.num_episodes_end
    for seed in args.seeds:
        run_dir = seed_dir(args, seed)
        random_scores = random_baseline(args, base.env, episodes, seed)
        curve = learning_curve(run_dir)
        final = [r["final/return"] for r in read_metrics(run_dir) if "final/return" in r]
        report["seeds"][seed] = {"curve": curve, "final_return": final[-1] if final else None,
                                 "best_eval_return": max(curve["returns"], default=None),
                                 "random_return": sum(random_scores) / len(random_scores),
                                 "random_episodes": len(random_scores),
                                 "stopped_by_budget": seed in stopped and not final,
                                 "wall_s_this_call": walls.get(seed, 0.0)}
    finals = [s["final_return"] for s in report["seeds"].values() if s["final_return"] is not None]
    report["mean_final_return"] = sum(finals) / len(finals) if finals else None
    randoms = [s["random_return"] for s in report["seeds"].values()]
    report["mean_random_return"] = sum(randoms) / len(randoms)
    curves = [s["curve"] for s in report["seeds"].values()]
    mean = mean_by_epoch(curves)
    steps_at = dict(zip(curves[0]["epochs"], curves[0]["env_steps"]))
    report["mean_eval_return_by_epoch"] = mean
    reached = [e for e, r in mean.items() if r >= args.target] if args.target is not None else []
    report["target"] = args.target
    report["target_reached_at"] = {"epoch": reached[0], "env_steps": steps_at[reached[0]]} if reached else None
    if args.plot:
        plot(report, args.plot, steps_at)
    print(json.dumps(report, indent=2))


def mean_by_epoch(curves: list[dict[str, list]]) -> dict[int, float]:
    """The mean over seeds of the evaluation return at each epoch that every seed evaluated."""
    common = set.intersection(*(set(c["epochs"]) for c in curves)) if curves else set()
    return {e: sum(c["returns"][c["epochs"].index(e)] for c in curves) / len(curves) for e in sorted(common)}


def plot(report: dict, path: Path, steps_at: dict[int, int]) -> None:
    """Each seed's evaluation return and the mean over seeds against env steps, with the target if one was given,
    on an axis to --steps so that a run stopped by the budget shows how much of its schedule it covered."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.0), layout="constrained")
    for seed, result in report["seeds"].items():
        ax.plot(result["curve"]["env_steps"], result["curve"]["returns"], lw=1, marker="o", ms=3, alpha=0.6,
                label=f"seed {seed}")
    mean = report["mean_eval_return_by_epoch"]
    ax.plot([steps_at[e] for e in mean], list(mean.values()), color="black", lw=2, marker="o", ms=4,
            label="mean over seeds")
    if report["target"] is not None:
        ax.axhline(report["target"], color="grey", ls="--", lw=1, label=f"target {report['target']:g}")
    ax.axhline(report["mean_random_return"], color="tab:red", ls=":", lw=1.5, label="uniform random policy")
    ax.set(xlabel="env steps", ylabel="evaluation return (temperature 0.5)", xlim=(0, report["steps"]),
           title=f"{report['env']} {report['game']}: learning curves")
    ax.legend(loc="best")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
