"""Can the world model learn Craftax's direction rule beside C other tokens per step? Printed as JSON.

A diagnostic for docs/learning.md (Craftax components): there the `small` world model left the direction token
at its marginal. Here the same world model (design §5: Craftax's config at `scale=small` plus any Hydra
overrides given, curiosity off) trains with the world-model optimiser of that config (AdamW, clipping) on
synthetic segments whose every step holds one direction token (vocabulary 4) and C Craftax map cells (the
`token_2d` modality, Craftax's four column vocabularies), under uniform random Craftax actions (43). The rule is
Craftax's: after a move action (1-4: left, right, up, down) the direction is that move's (action − 1), after
any other action it stays. Each segment's cells are drawn uniformly once and then repeat every step, so they too
are predictable by copying. The report gives, at evenly spaced points, the direction token's and the cells'
next-token CE on a fixed held-out batch; the direction's marginal is ln 4 = 1.386 nats, a model that learned
the rule reaches 0. Batch size, segment length and context are the config's. Torch runs one thread; seeded.
Usage (repository root):
    python -m benchmarks.direction_probe --cells 99 [--updates 600] [--evals 6] [--seed 0]
        [-- extra Hydra overrides, e.g. world_model.retnet.embed_dim=128]
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
from tqdm import trange

from m3.config import compose_config
from m3.envs.craftax_mapping import CRAFTAX_VOCABS, NUM_ACTIONS, NUM_DIRECTIONS
from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec
from m3.models.optim import adamw
from m3.models.world_model import WorldModel
from m3.updates import optimizer_step

MOVES = (1, 4)  # Craftax actions left, right, up, down


def probe_spec(cells: int) -> EnvSpec:
    """One direction token, then `cells` map cells (none when 0), Craftax's 43 discrete actions."""
    obs = {"token": ModalitySpec((1,), (NUM_DIRECTIONS,))}
    if cells:
        obs["token_2d"] = ModalitySpec((cells, len(CRAFTAX_VOCABS)), CRAFTAX_VOCABS)
    return EnvSpec(obs, ActionSpec("discrete", NUM_ACTIONS))


def segments(cells: int, batch: int, length: int, generator: torch.Generator
             ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Synthetic segments: tokens {token: (B, L, 1), token_2d: (B, L, cells, 4)}, actions (B, L)."""
    actions = torch.randint(0, NUM_ACTIONS, (batch, length), generator=generator)
    direction = torch.empty(batch, length, dtype=torch.long)
    direction[:, 0] = torch.randint(0, NUM_DIRECTIONS, (batch,), generator=generator)
    for t in range(1, length):
        last = actions[:, t - 1]
        moved = (last >= MOVES[0]) & (last <= MOVES[1])
        direction[:, t] = torch.where(moved, last - 1, direction[:, t - 1])
    tokens = {"token": direction[..., None]}
    if cells:
        grid = torch.stack([torch.randint(0, v, (batch, 1, cells), generator=generator) for v in CRAFTAX_VOCABS], -1)
        tokens["token_2d"] = grid.expand(batch, length, cells, len(CRAFTAX_VOCABS)).clone()  # (B, L, cells, 4)
    return tokens, actions


@torch.no_grad()
def held_out_ce(model: WorldModel, batch: tuple[dict[str, torch.Tensor], torch.Tensor]) -> dict[str, float | None]:
    """Direction CE and mean per-cell CE (summed over its columns) over the predicted steps t ≥ c."""
    tokens, actions = batch
    model.eval()
    ce = model.obs_heads.cross_entropy(model(tokens, actions).obs, tokens)[:, model.cfg.context_length:]  # (B, L−c, K)
    model.train()
    cells = round(float(ce[..., 1:].mean()), 4) if ce.shape[-1] > 1 else None  # block order: direction, then cells
    return {"direction_ce": round(float(ce[..., 0].mean()), 4), "cell_ce": cells}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cells", type=int, required=True, help="map cells beside the direction token (Craftax: 99)")
    p.add_argument("--updates", type=int, default=600)
    p.add_argument("--evals", type=int, default=6, help="held-out measurements after the untrained one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("overrides", nargs="*", help="Hydra overrides after benchmark=craftax scale=small")
    args = p.parse_args()
    if args.cells < 0 or args.updates < 1 or args.evals < 1:
        p.error(f"--cells must be ≥ 0 and --updates, --evals ≥ 1; got {args.cells}, {args.updates}, {args.evals}")
    cfg = compose_config(["benchmark=craftax", "scale=small", "run_dir=/tmp/unused", *args.overrides])
    cfg.world_model.enable_curiosity = False
    opt, length = cfg.training.world_model, cfg.world_model.retnet.max_blocks
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    model = WorldModel(cfg.world_model, probe_spec(args.cells))
    optimizer = adamw(model, opt.learning_rate, opt.weight_decay)
    train = torch.Generator().manual_seed(2 * args.seed + 1)
    held_out = segments(args.cells, opt.batch_size, length, torch.Generator().manual_seed(2 * args.seed + 2))
    points = {round(i * args.updates / args.evals) for i in range(args.evals + 1)}
    zeros, ones = torch.zeros(opt.batch_size, length), torch.ones(opt.batch_size, length)
    curve, start = [], time.time()

    def measure(update: int) -> None:
        curve.append({"updates": update, **held_out_ce(model, held_out), "wall_s": round(time.time() - start, 1)})

    for update in trange(args.updates, desc="direction probe", unit="update"):
        if update in points:
            measure(update)
        tokens, actions = segments(args.cells, opt.batch_size, length, train)
        optimizer_step(optimizer, model, model.compute_loss(tokens, actions, zeros, zeros, ones).loss,
                       opt.max_grad_norm, "world_model")
    measure(args.updates)
    retnet = cfg.world_model.retnet
    print(json.dumps({"cells": args.cells, "overrides": args.overrides, "seed": args.seed,
                      "retnet": {"layers": retnet.num_layers, "heads": retnet.num_heads, "width": retnet.embed_dim},
                      "batch": opt.batch_size, "segment": length, "learning_rate": opt.learning_rate,
                      "direction_marginal": round(math.log(NUM_DIRECTIONS), 4), "curve": curve}, indent=2))


if __name__ == "__main__":
    main()
