"""Updates per second of the tokenizer, world model and actor-critic, and imagined steps per second, at a
benchmark's config (design §10), printed as JSON.

Each update is the trainer's own step (m3.updates: the same optimisers, clipping and metrics), with the trainer's
token cache on image benchmarks, warm (every replay row already encoded). The replay is filled with random
episodes of the benchmark's observation layout, so no environment is needed. Usage (repository root):
    python -m benchmarks.throughput --benchmark atari|dmc|craftax|cartpole [--scale paper|smoke]
        [--device cpu|cuda] [--bf16] [--compile] [--steps 5]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from benchmarks.step_timer import random_episode
from m3.agent import Agent
from m3.config import compose_config
from m3.data import PrioritizedSampler, ReplayStore, batch_to
from m3.envs.cartpole import CARTPOLE_SPEC
from m3.envs.craftax_mapping import CRAFTAX_SPEC
from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec
from m3.rl.returns import ReturnScaler
from m3.speed import compile_agent
from m3.token_cache import TokenCache
from m3.updates import actor_critic_step, build_optimizers, tokenizer_step, world_model_step

SPECS = {
    "atari": EnvSpec({"image": ModalitySpec((3, 64, 64))}, ActionSpec("discrete", 18)),
    "dmc": EnvSpec({"vector": ModalitySpec((24,))}, ActionSpec("continuous", 6)),  # walker
    "craftax": CRAFTAX_SPEC,
    "cartpole": CARTPOLE_SPEC,
}


@contextmanager
def train_mode(module: torch.nn.Module) -> Iterator[None]:
    """`module` in train mode for the block, the rest of the agent in eval mode, as in the trainer's phases."""
    module.train()
    try:
        yield
    finally:
        module.eval()


def rate(fn, steps: int, device: torch.device) -> float:
    fn()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", choices=sorted(SPECS), required=True)
    p.add_argument("--scale", choices=["paper", "smoke"], default="smoke")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--bf16", action="store_true", help="the steps' forward passes under bfloat16 autocast")
    p.add_argument("--compile", action="store_true", help="torch.compile as speed.compile does (m3/speed.py)")
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args()
    cfg = compose_config([f"benchmark={args.benchmark}", f"scale={args.scale}", "run_dir=/tmp/unused",
                          "tokenizer.perceptual_loss=false"])
    device = torch.device(args.device)
    torch.set_float32_matmul_precision(cfg.float32_matmul_precision)
    spec = SPECS[args.benchmark]
    agent = Agent(cfg, spec).to(device)
    g = torch.Generator().manual_seed(0)
    store = ReplayStore(None)
    for i in range(8):
        store.add(random_episode(spec, i, 200, g))
    t, c = cfg.training, cfg.world_model.context_length
    sampler = PrioritizedSampler(t.world_model.uniform_fraction)
    sampler.sync(store, ctx=c)
    cache = TokenCache(agent.tokenizer, store) if agent.tokenizer.trainable else None
    optimizers = build_optimizers(agent, t)
    scaler = ReturnScaler(cfg.imagination.return_buffer_size)
    if args.compile:
        compile_agent(agent)

    def tokenizer_update():
        tokenizer_step(agent, store, optimizers["tokenizer"], t.tokenizer, g, bf16=args.bf16)

    def world_model_update():
        world_model_step(agent, store, sampler, optimizers["world_model"], t.world_model,
                         cfg.world_model.retnet.max_blocks, g, cache, args.bf16)

    def actor_critic_update():
        actor_critic_step(agent, store, optimizers["actor_critic"], t.actor_critic, cfg.imagination, c, scaler,
                          True, g, cache, args.bf16)

    horizon = cfg.imagination.imagine_horizon - c + 1
    result = {"benchmark": args.benchmark, "scale": args.scale, "device": args.device,
              "device_name": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
              "threads": torch.get_num_threads(), "bf16": args.bf16, "compile": args.compile,
              "torch": torch.__version__}
    agent.eval()
    if agent.tokenizer.trainable:
        with train_mode(agent.tokenizer):
            result["tokenizer_updates_per_s"] = rate(tokenizer_update, args.steps, device)
        for episode_id in store.episode_ids:  # the warm cache: every row encoded by the trained tokenizer
            cache.tokens(batch_to(store.collate([(episode_id, 0)], len(store[episode_id]), "right"), device))
    with train_mode(agent.world_model):
        result["world_model_updates_per_s"] = rate(world_model_update, args.steps, device)
    with train_mode(agent.actor_critic):
        ac_rate = rate(actor_critic_update, args.steps, device)
    result["actor_critic_updates_per_s"] = ac_rate
    result["imagined_steps_per_s"] = ac_rate * t.actor_critic.batch_size * horizon
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
