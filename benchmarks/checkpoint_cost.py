"""What one checkpoint costs at a benchmark's scale (design §7.3, docs/workflow.md "Faults and preemption"),
printed as JSON: bytes and seconds of the replay's first (full) save, of an incremental save of the episodes
one checkpoint interval adds, and of the committed state (agent, best, optimisers, trainer state).

The agent and its AdamW optimisers are built at the config's scale with their moment buffers allocated; the
replay holds random episodes of the benchmark's observation layout (no environment needed), as many rows as
the paper's run collects by its end. Usage (repository root):
    python -m benchmarks.checkpoint_cost --benchmark atari|dmc|craftax|cartpole [--scale paper|smoke]
        [--episodes 100] [--rows 1000] [--new-episodes 5] [--dir /tmp/m3-checkpoint-cost]
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from benchmarks.step_timer import random_episode
from benchmarks.throughput import SPECS
from m3.agent import Agent
from m3.checkpoint import RunDir
from m3.config import compose_config
from m3.data import PrioritizedSampler, ReplayStore
from m3.rl.returns import ReturnScaler
from m3.rng import rng_state
from m3.updates import build_optimizers


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", choices=sorted(SPECS), required=True)
    p.add_argument("--scale", choices=["paper", "smoke"], default="paper")
    p.add_argument("--episodes", type=int, default=100, help="episodes in the replay")
    p.add_argument("--rows", type=int, default=1000, help="rows per episode")
    p.add_argument("--new-episodes", type=int, default=5, help="episodes added between two checkpoints")
    p.add_argument("--dir", type=Path, default=Path("/tmp/m3-checkpoint-cost"), help="scratch run folder")
    args = p.parse_args()
    for name in ("episodes", "rows", "new_episodes"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')}={getattr(args, name)} must be at least 1")
    cfg = compose_config([f"benchmark={args.benchmark}", f"scale={args.scale}", f"run_dir={args.dir}",
                          "tokenizer.perceptual_loss=false"])
    spec = SPECS[args.benchmark]
    agent = Agent(cfg, spec)
    optimizers = build_optimizers(agent, cfg.training)
    for opt in optimizers.values():  # allocate AdamW's moment buffers, as after the first update
        for group in opt.param_groups:
            for param in group["params"]:
                param.grad = torch.zeros_like(param)
        opt.step()
    shutil.rmtree(args.dir, ignore_errors=True)
    run = RunDir(args.dir)
    store = ReplayStore(run.dataset)
    g = torch.Generator().manual_seed(0)
    for i in range(args.episodes):
        store.add(random_episode(spec, i, args.rows, g))
    sampler = PrioritizedSampler(cfg.training.world_model.uniform_fraction)
    sampler.sync(store, ctx=cfg.world_model.context_length)
    scaler = ReturnScaler(cfg.imagination.return_buffer_size)

    def commit() -> None:
        trainer = {"replay_manifest": store.manifest(), "sampler": sampler.state_dict(),
                   "return_scaler": scaler.state_dict(), "generator": g.get_state(), "rng": rng_state()}
        run.save(agent=agent.state_dict(), optimizers={f"optimizer_{k}": o.state_dict() for k, o in optimizers.items()},
                 trainer=trainer, metadata={"epoch": 1, "best_eval_score": 0.0, "epoch_of_best_score": 1}, best=True)

    full_replay_s = timed(lambda: store.save(keep_evicted=True))
    replay_bytes = folder_bytes(run.dataset)
    commit_s = timed(commit)
    state_bytes = folder_bytes(run.checkpoints) - replay_bytes
    for i in range(args.episodes, args.episodes + args.new_episodes):
        store.add(random_episode(spec, i, args.rows, g))
    sampler.sync(store, ctx=cfg.world_model.context_length)
    incremental_s = timed(lambda: (store.save(keep_evicted=True), commit()))
    print(json.dumps({"benchmark": args.benchmark, "scale": args.scale, "episodes": args.episodes,
                      "rows_per_episode": args.rows, "new_episodes": args.new_episodes,
                      "parameters": sum(p.numel() for p in agent.parameters()),
                      "replay_bytes": replay_bytes, "replay_full_save_s": round(full_replay_s, 2),
                      "state_bytes": state_bytes, "state_commit_s": round(commit_s, 2),
                      "checkpoint_s": round(incremental_s, 2),
                      "torch": torch.__version__}, indent=2))
    shutil.rmtree(args.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
