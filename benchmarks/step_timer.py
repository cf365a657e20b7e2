"""Seconds per trainer step of one component, in whichever m3 tree is on the path (the driver of
benchmarks/compare.py, design §10).

Run as a script with the tree under test first on PYTHONPATH; it imports nothing but `m3`, and only the API that
m3 has had since before m3.updates existed (commit 6319916): it builds that tree's own `Trainer` in a temporary
run folder, fills its replay with random episodes of the benchmark's observation layout, and times the trainer's
own step method for the component, so each tree runs exactly what its trainer runs. Where the tree's trainer keeps
a token cache (m3/token_cache.py) it is filled first with every replay row (`--cache warm`, the steady state of an
epoch once its rows have been seen) or left empty (`--cache cold`, every row encoded). Prints one JSON line:
{"step_s", "steps", "rss_gb", "threads"}.

    python benchmarks/step_timer.py --benchmark atari --component world_model --batch 4 [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

import torch

COMPONENTS = ("tokenizer", "world_model", "actor_critic")


def random_episode(spec, episode_id: int, rows: int, g: torch.Generator):
    """An unfinished episode of `rows` random rows in `spec`'s observation layout."""
    from m3.data import Episode

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


def make_trainer(benchmark: str, scale: str, component: str, batch: int, device: str, root: str,
                 overrides: list[str]):
    from m3.checkpoint import RunDir
    from m3.config import compose_config
    from m3.trainer import Trainer

    cfg = compose_config([f"benchmark={benchmark}", f"scale={scale}", f"run_dir={root}", f"device={device}",
                          "tokenizer.perceptual_loss=false", f"training.{component}.batch_size={batch}", *overrides])
    return Trainer(cfg, RunDir(root))


def fill_replay(trainer, episodes: int, rows: int, cache: str) -> None:
    g = torch.Generator().manual_seed(0)
    for i in range(episodes):
        trainer.store.add(random_episode(trainer.agent.spec, i, rows, g))
    trainer.sampler.sync(trainer.store, ctx=trainer.cfg.world_model.context_length)
    tokens = getattr(trainer, "tokens", None)  # trees with a token cache
    if tokens is not None and cache == "warm":
        for episode_id in trainer.store.episode_ids:
            batch = trainer.store.collate([(episode_id, 0)], len(trainer.store[episode_id]), "right")
            tokens.tokens({**batch, "mask_padding": batch["mask_padding"].to(trainer.device)})


def time_steps(trainer, component: str, steps: int, warmup: int) -> float:
    """Mean seconds of `steps` calls of the trainer's step method after `warmup` untimed ones."""
    step = getattr(trainer, f"_train_{component}")
    trainer.agent.eval()
    getattr(trainer.agent, component).train()
    epoch = trainer.cfg.epochs  # the actor trains
    for _ in range(warmup):
        step(epoch)
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step(epoch)
    sync()
    return (time.perf_counter() - start) / steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", required=True)
    p.add_argument("--component", choices=COMPONENTS, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--scale", default="paper")
    p.add_argument("--device", default="cpu")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--episodes", type=int, default=8)
    p.add_argument("--rows", type=int, default=200)
    p.add_argument("--cache", choices=["warm", "cold"], default="warm")
    p.add_argument("overrides", nargs="*", help="extra config overrides, key=value")
    args = p.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        trainer = make_trainer(args.benchmark, args.scale, args.component, args.batch, args.device, root,
                               args.overrides)
        fill_replay(trainer, args.episodes, args.rows, args.cache)
        seconds = time_steps(trainer, args.component, args.steps, args.warmup)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    print(json.dumps({"step_s": seconds, "steps": args.steps, "rss_gb": rss_gb, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
