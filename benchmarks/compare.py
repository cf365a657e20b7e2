"""Seconds per training step at a reference commit against this working tree, interleaved (design §10).

    python -m benchmarks.compare --ref 6319916 [--config atari:world_model:4 ...] [--repeats 3] [--steps 3]

The reference commit is checked out in a temporary git worktree. For each configuration
`benchmark:component:batch` the two trees are timed alternately — ref, head, ref, head, … — one process at a
time with the same torch thread count, each process running benchmarks/step_timer.py (this tree's copy) against
its own tree's `m3`; "head" is this working tree as it is on disk, uncommitted edits included. Prints one JSON
line per configuration: {"config", "ref_s", "head_s", "ratio", "ref_rss_gb", "head_rss_gb"} with the median
seconds per step over the repeats, ratio = ref_s / head_s (above 1: head is faster) and each side's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from benchmarks.step_timer import COMPONENTS

ROOT = Path(__file__).resolve().parents[1]
TIMER = ROOT / "benchmarks" / "step_timer.py"
BENCHMARKS = ("atari", "dmc", "craftax", "cartpole")
DEFAULT_CONFIGS = ["atari:tokenizer:8", "atari:world_model:4", "atari:actor_critic:2", "atari:actor_critic:16",
                   "dmc:world_model:4", "dmc:actor_critic:16", "craftax:world_model:4", "craftax:actor_critic:2"]


def parse_config(text: str) -> tuple[str, str, int]:
    """'atari:world_model:4' → ('atari', 'world_model', 4); a bad one raises ValueError naming what is allowed."""
    parts = text.split(":")
    if len(parts) != 3 or parts[0] not in BENCHMARKS or parts[1] not in COMPONENTS or not parts[2].isdigit() \
            or int(parts[2]) < 1:
        raise ValueError(f"--config {text!r}: expected benchmark:component:batch with benchmark in {BENCHMARKS}, "
                         f"component in {COMPONENTS} and batch a positive integer")
    return parts[0], parts[1], int(parts[2])


def resolve(ref: str) -> str:
    out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise ValueError(f"--ref {ref!r} is not a commit of {ROOT}")
    return out.stdout.strip()


def run_timer(tree: Path, config: tuple[str, str, int], args: argparse.Namespace) -> dict:
    benchmark, component, batch = config
    cmd = [sys.executable, str(TIMER), "--benchmark", benchmark, "--component", component, "--batch", str(batch),
           "--scale", args.scale, "--device", args.device, "--steps", str(args.steps), "--threads", str(args.threads),
           "--episodes", str(args.episodes), "--rows", str(args.rows), "--cache", args.cache]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"step timer failed in {tree} for {':'.join(map(str, config))}:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(ref_tree: Path, config: tuple[str, str, int], args: argparse.Namespace) -> dict:
    runs: dict[str, list[dict]] = {"ref": [], "head": []}
    for _ in range(args.repeats):
        runs["ref"].append(run_timer(ref_tree, config, args))
        runs["head"].append(run_timer(ROOT, config, args))
    ref_s = statistics.median(r["step_s"] for r in runs["ref"])
    head_s = statistics.median(r["step_s"] for r in runs["head"])
    return {"config": ":".join(map(str, config)), "ref_s": ref_s, "head_s": head_s, "ratio": ref_s / head_s,
            "ref_rss_gb": max(r["rss_gb"] for r in runs["ref"]), "head_rss_gb": max(r["rss_gb"] for r in runs["head"])}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ref", required=True, help="the reference commit")
    p.add_argument("--config", action="append", help="benchmark:component:batch (repeatable; default: the paper set)")
    p.add_argument("--scale", default="paper")
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3, help="ref/head process pairs per configuration")
    p.add_argument("--steps", type=int, default=3, help="timed steps per process, after one warm-up step")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads in both trees")
    p.add_argument("--episodes", type=int, default=8, help="random episodes in the replay")
    p.add_argument("--rows", type=int, default=200, help="rows per random episode")
    p.add_argument("--cache", choices=["warm", "cold"], default="warm", help="token cache state, where there is one")
    args = p.parse_args(argv)
    try:
        configs = [parse_config(c) for c in args.config or DEFAULT_CONFIGS]
        commit = resolve(args.ref)
        if min(args.repeats, args.steps, args.threads, args.episodes, args.rows) < 1:
            raise ValueError("--repeats, --steps, --threads, --episodes and --rows must be positive")
    except ValueError as e:
        p.error(str(e))
    with tempfile.TemporaryDirectory(prefix="m3-compare-") as tmp:
        ref_tree = Path(tmp) / "ref"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(ref_tree), commit],
                       check=True)
        try:
            for config in configs:
                print(json.dumps(compare(ref_tree, config, args)), flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref_tree)], check=True)


if __name__ == "__main__":
    main()
