"""Milliseconds per batch of the replay's selectors and of collating their segments, at a benchmark's batch shapes
(design §10 "Data"), printed as JSON.

What DataLoader workers could take off the training process at most is this draw-and-collate time: the trainer
draws and collates every batch in-process (m3.data.selectors, m3.data.ReplayStore.collate), then moves it to the
device (`batch_to`, timed with the collate). The replay holds `--episodes` random episodes of `--rows` rows in the
benchmark's observation layout. Compare the figures with a step's time from benchmarks/throughput.py on the same
machine. Usage (repository root):
    python -m benchmarks.replay --benchmark atari|dmc|craftax|cartpole [--scale paper|smoke] [--device cpu|cuda]
        [--episodes 100] [--rows 1000] [--repeats 20]
"""
from __future__ import annotations

import argparse
import json
import platform
from typing import Callable

import torch

from benchmarks.step_timer import random_episode
from benchmarks.throughput import SPECS, rate
from m3.config import compose_config
from m3.data import PrioritizedSampler, ReplayStore, batch_to, sample_frames, sample_uniform


def milliseconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Mean ms of fn() over `repeats` calls after one warm-up call (benchmarks/throughput.py's timer)."""
    return 1e3 / rate(fn, repeats, device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", choices=sorted(SPECS), required=True)
    p.add_argument("--scale", choices=["paper", "smoke"], default="paper")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    if min(args.episodes, args.rows, args.repeats) < 1:
        p.error(f"--episodes, --rows and --repeats must be at least 1, got {args.episodes}, {args.rows}, "
                f"{args.repeats}")
    cfg = compose_config([f"benchmark={args.benchmark}", f"scale={args.scale}", "run_dir=/tmp/unused"])
    device, spec, g = torch.device(args.device), SPECS[args.benchmark], torch.Generator().manual_seed(0)
    store = ReplayStore(None)
    for i in range(args.episodes):
        store.add(random_episode(spec, i, args.rows, g))
    t, ctx = cfg.training, cfg.world_model.context_length
    wm_length, ac_length = cfg.world_model.retnet.max_blocks, cfg.imagination.burn_in + ctx
    sampler = PrioritizedSampler(t.world_model.uniform_fraction)
    sampler.sync(store, ctx=ctx)
    wm_keys = sampler.sample(t.world_model.batch_size, g)
    ac_keys = sample_uniform(store, t.actor_critic.batch_size, ctx + 1, ac_length, g)
    report: dict[str, object] = {
        "benchmark": args.benchmark, "scale": args.scale, "device": args.device, "host": platform.node(),
        "threads": torch.get_num_threads(), "replay_rows": store.num_steps, "replay_gib": store.num_bytes / 2**30,
        "world_model": {
            "batch": [t.world_model.batch_size, wm_length],
            "draw_ms": milliseconds(lambda: sampler.sample(t.world_model.batch_size, g), args.repeats, device),
            "collate_to_device_ms": milliseconds(
                lambda: batch_to(store.collate(wm_keys, wm_length, "right"), device), args.repeats, device),
        },
        "actor_critic": {
            "batch": [t.actor_critic.batch_size, ac_length],
            "draw_ms": milliseconds(
                lambda: sample_uniform(store, t.actor_critic.batch_size, ctx + 1, ac_length, g), args.repeats, device),
            "collate_to_device_ms": milliseconds(
                lambda: batch_to(store.collate(ac_keys, ac_length, "left"), device), args.repeats, device),
        },
    }
    if "image" in spec.observations:
        report["tokenizer"] = {
            "batch": [t.tokenizer.batch_size],
            "draw_and_gather_to_device_ms": milliseconds(
                lambda: sample_frames(store, t.tokenizer.batch_size, g).to(device), args.repeats, device),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
