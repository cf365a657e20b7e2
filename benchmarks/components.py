"""Component learning on real data (issue 15 item 3): the image tokenizer and the world model trained on
random-play episodes of a real env, measured on held-out episodes, printed as JSON, with figures.

Train and held-out episodes come from the benchmark's train env (the data the world model learns from) with
different seeds, actions drawn uniformly. The models are the `scale=small` preset of the benchmark
(config/m3/scale/small.yaml) and train with the project's own steps (`m3.updates`): first the tokenizer (image
envs) on uniformly drawn frames, then the world model on prioritized segments with the tokenizer frozen.
At evenly spaced points the held-out losses are measured: the tokenizer's pixel reconstruction MSE (the target
is --recon-target times the MSE of predicting every frame by the training mean frame) and the world model's
next-token, reward and end cross-entropies beside the marginal and copy-last baselines of
`benchmarks/heldout.py`. Torch runs one thread.

Figures (under --figures, named <game>_*.png): the held-out curves with the baselines; for image envs the
reconstructions under their originals; an imagined rollout (the world model fed the real actions from c real
observations of a held-out episode, `m3.play.dream.Dream`) beside the real continuation.
Usage (repository root):
    python -m benchmarks.components --benchmark atari --game Breakout [--train-steps 10000] [--test-steps 2000]
        [--tokenizer-updates 3000] [--wm-updates 2000] [--evals 6] [--seed 0] [--figures docs/figures/components]
        [--report docs/figures/components/Breakout.json] [-- extra Hydra overrides]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm, trange

from benchmarks.component_figures import curves_figure, reconstruction_figure, rollout_figure
from benchmarks.envs import random_actions
from benchmarks.heldout import Baselines, heldout_losses
from m3.agent import Agent
from m3.atomic import atomic_write_text
from m3.config import M3Config, load_config
from m3.data import Episode, EpisodeBuilder, PrioritizedSampler, ReplayStore
from m3.envs import registry
from m3.evaluation import tokenizer_losses
from m3.models.optim import adamw
from m3.updates import tokenizer_step, world_model_step


def random_episodes(cfg: M3Config, steps: int, seed: int, first_id: int = 0) -> list[Episode]:
    """Episodes of the train env under uniform random actions, `steps` env steps in all (the last one
    unfinished unless it ended exactly there)."""
    env = registry.make_env(cfg.benchmark, cfg.env, "train", seed)
    spec = registry.env_spec(cfg.benchmark, cfg.env)
    rng = np.random.default_rng(seed)
    episodes: list[Episode] = []
    builder = None
    actions = random_actions(spec.action, steps, rng)
    for action in tqdm(actions, desc="random play", unit="step", leave=False, dynamic_ncols=True):
        if builder is None:
            obs, _ = env.reset()
            builder = EpisodeBuilder(first_id + len(episodes), spec.action)
            builder.start(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        builder.step(action, float(reward), bool(terminated), obs)
        if terminated or truncated:
            episodes.append(builder.episode())
            builder = None
    if builder is not None and len(builder) > 1:
        episodes.append(builder.episode())
    env.close()
    return episodes


def eval_points(updates: int, evals: int) -> list[int]:
    return sorted({round(updates * i / (evals - 1)) for i in range(evals)}) if evals > 1 else [updates]


def train_tokenizer(agent: Agent, cfg: M3Config, store: ReplayStore, test: list[Episode], args, generator) -> list:
    c = cfg.training.tokenizer
    optimizer = torch.optim.AdamW(agent.tokenizer.parameters(), lr=c.learning_rate, weight_decay=c.weight_decay)
    curve, done, start = [], 0, time.time()
    for point in eval_points(args.tokenizer_updates, args.evals):
        agent.eval()
        agent.tokenizer.train()
        for _ in trange(point - done, desc=f"tokenizer updates to {point}", leave=False, dynamic_ncols=True):
            tokenizer_step(agent, store, optimizer, c, generator)
        done = point
        agent.eval()
        losses = tokenizer_losses(agent, test, batch_size=64)
        curve.append({"updates": point, "wall_s": round(time.time() - start, 1),
                      **{k.split("/")[-1]: v for k, v in losses.items()}})
        log(f"tokenizer {point}/{args.tokenizer_updates}: held-out reconstruction MSE "
            f"{curve[-1]['reconstruction_loss']:.5f}")
    return curve


def train_world_model(agent: Agent, cfg: M3Config, store: ReplayStore, baselines: Baselines, test: list[Episode],
                      args, generator) -> list:
    c = cfg.training.world_model
    optimizer = adamw(agent.world_model, c.learning_rate, c.weight_decay)
    sampler = PrioritizedSampler(uniform_fraction=c.uniform_fraction)
    sampler.sync(store, ctx=cfg.world_model.context_length)
    curve, done, start = [], 0, time.time()
    for point in eval_points(args.wm_updates, args.evals):
        agent.eval()
        agent.world_model.train()
        for _ in trange(point - done, desc=f"world-model updates to {point}", leave=False, dynamic_ncols=True):
            world_model_step(agent, store, sampler, optimizer, c, cfg.world_model.retnet.max_blocks, generator)
        done = point
        curve.append({"updates": point, "wall_s": round(time.time() - start, 1),
                      **heldout_losses(agent, baselines, test)})
        obs = curve[-1]["obs_ce"]
        log(f"world model {point}/{args.wm_updates}: held-out obs CE {obs['world_model']:.3f} "
            f"(marginal {obs['marginal']:.3f}, copy-last {obs['copy_last']:.3f})")
    return curve


def below_baselines(losses: dict[str, float]) -> bool:
    """Whether the world model's loss is below every baseline's (the entropy floor is no baseline)."""
    return all(losses["world_model"] < v for n, v in losses.items() if n in ("marginal", "copy_last"))


def mean_frame_mse(train: list[Episode], test: list[Episode]) -> float:
    """Pixel MSE on the [-1, 1] scale of predicting every held-out frame by the training mean frame."""
    mean = torch.cat([e.observations["image"] for e in train]).float().mean(0) / 127.5 - 1  # (3, 64, 64)
    frames = torch.cat([e.observations["image"] for e in test]).float() / 127.5 - 1
    return float(((frames - mean) ** 2).mean())


def log(message: str) -> None:
    print(f"components: {message}", flush=True, file=sys.stderr)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmark", required=True, choices=["atari", "dmc", "craftax"])
    p.add_argument("--game", required=True)
    p.add_argument("--train-steps", type=int, default=10_000, help="random-play env steps to train on")
    p.add_argument("--test-steps", type=int, default=2_000, help="random-play env steps held out")
    p.add_argument("--tokenizer-updates", type=int, default=3_000, help="image envs only")
    p.add_argument("--wm-updates", type=int, default=2_000)
    p.add_argument("--evals", type=int, default=6, help="held-out measurements per component, incl. before training")
    p.add_argument("--recon-target", type=float, default=0.5,
                   help="held-out reconstruction MSE to reach, as a fraction of the mean-frame MSE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figures", type=Path, default=Path("docs/figures/components"))
    p.add_argument("--report", type=Path, help="also write the JSON report here")
    p.add_argument("overrides", nargs="*", help="extra Hydra overrides (after the small preset)")
    args = p.parse_args()
    for name in ("train_steps", "test_steps", "wm_updates", "evals"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    cfg = load_config([f"benchmark={args.benchmark}", f"env.game={args.game}", "scale=small",
                       f"seed={args.seed}", "run_dir=/tmp/unused", *args.overrides])
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    start = time.time()
    train = random_episodes(cfg, args.train_steps, seed=args.seed)
    test = random_episodes(cfg, args.test_steps, seed=args.seed + 10_000, first_id=len(train))
    log(f"{len(train)} train and {len(test)} held-out episodes in {time.time() - start:.0f}s")
    store = ReplayStore(None)
    for episode in train:
        store.add(episode)
    agent = Agent(cfg, registry.env_spec(cfg.benchmark, cfg.env))
    report: dict = {"benchmark": args.benchmark, "game": args.game, "seed": args.seed, "scale": "small",
                    "overrides": args.overrides, "torch_threads": torch.get_num_threads(),
                    "data": {"policy": "uniform random", "env_mode": "train",
                             "train": {"episodes": len(train), "env_steps": args.train_steps},
                             "held_out": {"episodes": len(test), "env_steps": args.test_steps},
                             "collect_wall_s": round(time.time() - start, 1)}}
    args.figures.mkdir(parents=True, exist_ok=True)
    if agent.tokenizer.trainable:
        curve = train_tokenizer(agent, cfg, store, test, args, generator)
        final, baseline = curve[-1]["reconstruction_loss"], mean_frame_mse(train, test)
        report["tokenizer"] = {"curve": curve, "mean_frame_mse": baseline, "target_mse": args.recon_target * baseline,
                               "final_mse": final, "final_over_mean_frame": final / baseline,
                               "target_reached": final <= args.recon_target * baseline}
        reconstruction_figure(agent, test, args.figures / f"{args.game}_reconstructions.png")
    baselines = Baselines(agent, train)
    curve = train_world_model(agent, cfg, store, baselines, test, args, generator)
    final = curve[-1]
    report["world_model"] = {
        "curve": curve, "copy_epsilon": {"tokens": baselines.token_epsilon, "rewards": baselines.reward_epsilon},
        "final": {k: final[k] for k in ("obs_ce", "obs_ce_by_modality", "obs_accuracy", "reward_ce", "end_ce")},
        "below_baselines": {k: below_baselines(final[k]) for k in ("obs_ce", "reward_ce", "end_ce")}}
    if not any(e.ends.any() for e in train):
        report["world_model"]["below_baselines"]["end_ce"] = None  # no end to predict: every predictor scores ~0
    curves_figure(report, args.figures / f"{args.game}_curves.png")
    rollout_figure(agent, test, args.figures / f"{args.game}_rollout.png", seed=args.seed)
    report["wall_s"] = round(time.time() - start, 1)
    text = json.dumps(report, indent=2)
    if args.report:
        atomic_write_text(text + "\n", args.report)
    print(text)


if __name__ == "__main__":
    main()
