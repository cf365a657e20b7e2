"""Updates per second of the tokenizer, world model and controller, and imagined steps per second, at a
benchmark's config (design §10), printed as JSON.

The replay is filled with random episodes of the benchmark's observation layout, so no environment is
needed. Usage (repository root):
    python -m benchmarks.throughput --benchmark atari|dmc|craftax|cartpole [--scale paper|smoke]
        [--device cpu|cuda] [--bf16] [--steps 5]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from m3.agent import Agent
from m3.config import compose_config
from m3.data import Episode, PrioritizedSampler, ReplayStore, batch_to
from m3.envs.cartpole import CARTPOLE_SPEC
from m3.envs.craftax_mapping import CRAFTAX_SPEC
from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec
from m3.rl.imagination import actor_critic_loss, imagine
from m3.rl.returns import ReturnScaler

SPECS = {
    "atari": EnvSpec({"image": ModalitySpec((3, 64, 64))}, ActionSpec("discrete", 18)),
    "dmc": EnvSpec({"vector": ModalitySpec((24,))}, ActionSpec("continuous", 6)),  # walker
    "craftax": CRAFTAX_SPEC,
    "cartpole": CARTPOLE_SPEC,
}


def random_episode(spec: EnvSpec, episode_id: int, rows: int, g: torch.Generator) -> Episode:
    obs = {}
    for name, m in spec.observations.items():
        if name == "image":
            obs[name] = torch.randint(0, 256, (rows, *m.shape), generator=g, dtype=torch.uint8)
        elif name == "vector":
            obs[name] = torch.randn(rows, *m.shape, generator=g)
        elif name == "token":
            obs[name] = torch.randint(0, m.vocab[0], (rows, *m.shape), generator=g)
        else:
            obs[name] = torch.stack([torch.randint(0, v, (rows, m.shape[0]), generator=g) for v in m.vocab], -1)
    if spec.action.kind == "discrete":
        actions = torch.randint(0, spec.action.n, (rows,), generator=g)
    else:
        actions = torch.rand(rows, spec.action.n, generator=g) * 2 - 1
    return Episode(episode_id, obs, actions, torch.randn(rows, generator=g), torch.zeros(rows, dtype=torch.int64),
                   torch.ones(rows, dtype=torch.bool))


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
    p.add_argument("--bf16", action="store_true", help="autocast the updates to bfloat16")
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
    opt = torch.optim.AdamW(agent.parameters(), lr=1e-4)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16)

    def step(loss):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def tokenizer_update():
        with autocast:
            loss, _ = agent.tokenizer.image.compute_loss(store.sample_frames(t.tokenizer.batch_size, g).to(device))
        step(loss)

    def world_model_update():
        keys = sampler.sample(t.world_model.batch_size, g)
        b = batch_to(store.collate(keys, cfg.world_model.retnet.max_blocks, "right"), device)
        with autocast:
            out = agent.world_model.compute_loss(agent.tokenizer.tokenize(b["obs"]), b["actions"], b["rewards"],
                                                 b["ends"], b["mask_padding"], agent.codebook)
        step(out.loss)

    scaler = ReturnScaler()
    length = cfg.imagination.burn_in + c
    horizon = cfg.imagination.imagine_horizon - c + 1

    def controller_update():
        keys = store.sample_uniform(t.actor_critic.batch_size, ctx=c + 1, length=length, generator=g)
        with autocast:
            batch = batch_to(store.collate(keys, length, "left"), device)
            traj = imagine(agent.tokenizer, agent.world_model, agent.actor_critic, batch, cfg.imagination, c)
            loss, _ = actor_critic_loss(traj, agent.actor_critic, cfg.imagination, scaler, True)
        step(loss)

    agent.train()
    result = {"benchmark": args.benchmark, "scale": args.scale, "device": args.device,
              "device_name": torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
              "threads": torch.get_num_threads(), "bf16": args.bf16, "torch": torch.__version__}
    if agent.tokenizer.trainable:
        result["tokenizer_updates_per_s"] = rate(tokenizer_update, args.steps, device)
    result["world_model_updates_per_s"] = rate(world_model_update, args.steps, device)
    ac_rate = rate(controller_update, args.steps, device)
    result["controller_updates_per_s"] = ac_rate
    result["imagined_steps_per_s"] = ac_rate * t.actor_critic.batch_size * horizon
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
