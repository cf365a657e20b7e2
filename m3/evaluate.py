"""Entry point: `python -m m3.evaluate run_dir=<dir> [episodes=N] [envs=N] [weights=<file>] [out=<file>]
[seed=k] [device=cpu|cuda]`: the final evaluation of a trained agent (design §8.4, §8.5).

Loads the agent from `weights` (a weights file, e.g. one fetched with `dvc pull`) or else from the run
folder (its `weights.pt`, or its last checkpoint), plays the final-evaluation protocol on the run's game
(test envs in worker processes, temperature from the run's config, 0.5 in every benchmark; ε = 0;
episodes cut at their first end, so the count rounds up to a multiple of `envs`) and writes the scores
JSON atomically to `out` (default `<run_dir>/scores.json`). Defaults follow the published protocol:
Atari 100 episodes on 20 envs, DMC 500 on 20, Craftax 100 on 8 (104 episodes, as a training run's final
evaluation); other benchmarks use the config's final-evaluation settings. Episode j starts from the
reset seed `derive_seed(run seed, "evaluate", seed, j)` (`m3.envs.seeding`), shared with no training-time
evaluation and no other run; actions are sampled with a generator seeded with `seed`.

Arguments are Hydra overrides of the schema `EvaluateArgs`, parsed by the same path as m3.train's
(`m3.config.compose_schema`; a key given twice takes its last value). Bad input gets one line on stderr naming
the value and exit status 2, before any env starts: that includes an `out` that cannot take a file (probed with
m3.writable: a file in the way, read-only, a full disk) and a run whose metrics.jsonl cannot be read.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Optional

import torch
from hydra.core.config_store import ConfigStore

from m3.agent import Agent
from m3.atomic import atomic_write_text
from m3.checkpoint import CheckpointError
from m3.config import ConfigError, Interval, check_ranges, compose_schema
from m3.envs.parallel import ParallelEnvs
from m3.envs.seeding import SEED_LIMIT, derive_seed
from m3.evaluation import play_episodes
from m3.metrics import learning_curve
from m3.schedule import eval_env_seeds
from m3.version import code_version
from m3.weights import LoadedWeights, load_agent
from m3.writable import unwritable_reason

USAGE = __doc__
DEVICES = ("cpu", "cuda")
PROTOCOL = {"atari": (100, 20), "dmc": (500, 20), "craftax": (100, 8)}  # (episodes, envs) by benchmark, §8.4–§8.5


class UsageError(ValueError):
    """Bad command-line input; the message names the value."""


@dataclass
class EvaluateArgs:
    """The command line's schema (ConfigStore node `m3_evaluate`)."""

    run_dir: Optional[Path] = None  # a run folder (its weights.pt, else its last checkpoint)
    episodes: Optional[int] = None  # default: the benchmark's protocol (PROTOCOL)
    envs: Optional[int] = None  # parallel test envs; default: the protocol's
    weights: Optional[Path] = None  # a weights file, instead of the run folder's
    out: Optional[Path] = None  # default: <run_dir>/scores.json
    seed: int = 0  # of the evaluation's reset seeds and action sampling
    device: str = "cpu"


ConfigStore.instance().store(name="m3_evaluate", node=EvaluateArgs)
RANGES = tuple((key, Interval.parse(text)) for key, text in
               {"episodes": "[1, inf)", "envs": "[1, inf)", "seed": f"[0, {SEED_LIMIT})"}.items())
KEYS_HINT = "allowed keys: " + ", ".join(f.name for f in fields(EvaluateArgs))


def parse_args(argv: list[str]) -> EvaluateArgs:
    """Hydra overrides → EvaluateArgs; every check that needs no model or env."""
    try:
        args: EvaluateArgs = compose_schema(EvaluateArgs, argv, config_name="m3_evaluate", keys_hint=KEYS_HINT)
        check_ranges(args, RANGES)
    except ConfigError as e:
        raise UsageError(str(e)) from e
    if args.device not in DEVICES:
        raise UsageError(f"device={args.device!r} is not allowed; choose one of {list(DEVICES)}")
    if args.run_dir is None and args.weights is None:
        raise UsageError("run_dir=<dir> is required (or weights=<file> together with out=<file>)")
    if args.run_dir is not None and not args.run_dir.is_dir():
        raise UsageError(f"run_dir={str(args.run_dir)!r} is not a folder")
    if args.weights is not None and not args.weights.is_file():
        raise UsageError(f"weights={str(args.weights)!r} is not a file")
    if args.out is None:
        if args.run_dir is None:
            raise UsageError("out=<file> is required when no run_dir is given")
        args.out = args.run_dir / "scores.json"
    if args.out.is_dir():
        raise UsageError(f"out={str(args.out)!r} is a folder; give a file path")
    if (reason := unwritable_reason(args.out.parent)) is not None:
        raise UsageError(f"out={str(args.out)!r} cannot be written: {reason}; nothing was played, the run "
                         "is untouched")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UsageError("device=cuda but no CUDA device is available; use device=cpu")
    return args


def sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def run_curve(run_dir: Path | None) -> dict[str, list]:
    """The run's learning curve, read before any episode is played; a damaged metrics.jsonl is a UsageError."""
    try:
        return learning_curve(run_dir)
    except (ValueError, OSError) as e:  # json.JSONDecodeError is a ValueError
        raise UsageError(f"{run_dir}/metrics.jsonl cannot be read ({e}); resume the run with m3.train (same "
                         "command) to rewrite it, or remove its damaged last line") from e


def play(args: EvaluateArgs, agent: Agent, loaded: LoadedWeights, curve: dict[str, list],
         start: float) -> dict[str, Any]:
    """Play the protocol with a loaded agent and return the scores record."""
    cfg = loaded.cfg
    default_episodes, default_envs = PROTOCOL.get(
        cfg.benchmark, (cfg.collection.test.num_episodes_end, cfg.collection.test.num_envs))
    episodes = args.episodes or default_episodes
    num_envs = min(args.envs or default_envs, episodes)
    temperature = cfg.collection.test.temperature
    generator = torch.Generator(args.device).manual_seed(args.seed)
    print(f"m3.evaluate: {cfg.benchmark}/{cfg.env.game} seed {cfg.seed} from {loaded.path}: {episodes} episodes "
          f"on {num_envs} envs, temperature {temperature}", file=sys.stderr, flush=True)
    with ParallelEnvs(cfg.benchmark, cfg.env, eval_env_seeds(cfg.seed, num_envs)) as envs:
        results = play_episodes(agent, envs, episodes, temperature,
                                functools.partial(derive_seed, cfg.seed, "evaluate", args.seed), generator=generator,
                                progress=True)
    returns = [r.ret for r in results]
    return {"benchmark": cfg.benchmark, "game": cfg.env.game, "seed": cfg.seed, "returns": returns,
            "lengths": [r.length for r in results], "mean_return": sum(returns) / len(returns),
            "num_episodes": len(results), "temperature": temperature, "checkpoint": str(loaded.path),
            "checkpoint_sha256": sha256(loaded.path), "epoch": loaded.epoch, "code_version": code_version(),
            "seconds": time.time() - start, "curve": curve}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return 0
    start = time.time()
    try:
        args = parse_args(argv)
        curve = run_curve(args.run_dir)
        agent, loaded = load_agent(args.weights or args.run_dir, args.device)
    except (UsageError, CheckpointError, ConfigError) as e:
        print(f"m3.evaluate: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    scores = play(args, agent, loaded, curve, start)
    try:
        atomic_write_text(json.dumps(scores, indent=1) + "\n", args.out)
    except OSError as e:
        print(f"m3.evaluate: error: writing {e.filename or args.out} failed: {e.strerror}; nothing was written "
              "and the run's checkpoints and weights are intact (this command only reads them): free the space "
              "or fix the path, then rerun", file=sys.stderr)
        return 1
    print(f"m3.evaluate: mean return {scores['mean_return']:.2f} over {scores['num_episodes']} episodes "
          f"({scores['seconds']:.0f} s); wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
