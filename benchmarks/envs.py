"""Env steps per second of one in-process env and of N parallel worker envs, random actions (design §10),
printed as JSON.

The single env is built with `registry.make_env` and stepped in this process; the parallel ones are
`m3.envs.parallel.ParallelEnvs` (auto-reset, all envs stepped every call; the rate counts every env
step). Start-up (build + reset + first step, where JAX compiles or loads its cache) is timed apart.
Usage (repository root):
    python -m benchmarks.envs --benchmark atari|dmc|craftax|cartpole [--game G] [--envs 8] [--steps 500]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from m3.config import compose_config
from m3.envs import EnvConfig, env_spec, make_env
from m3.envs.parallel import ParallelEnvs
from m3.envs.seeding import derive_seed
from m3.envs.spec import ActionSpec


def random_actions(action: ActionSpec, n: int, rng: np.random.Generator) -> np.ndarray:
    if action.kind == "discrete":
        return rng.integers(action.n, size=n)
    return rng.uniform(-1, 1, size=(n, action.n)).astype(np.float32)


def random_returns(benchmark: str, cfg: EnvConfig, episodes: int, seed: int) -> list[float]:
    """Returns of `episodes` test-env episodes under uniform random actions. Episode j starts from the seed the
    final evaluation of run seed `seed` gives its episode j (`m3.envs.seeding`, purpose "final"), so the random
    policy plays the episodes the trained agent is scored on; actions come from `default_rng(seed)`."""
    action = env_spec(benchmark, cfg).action
    env = make_env(benchmark, cfg, "test", seed=derive_seed(seed, "test_env", 0))
    rng = np.random.default_rng(seed)
    returns = []
    for j in range(episodes):
        env.reset(seed=derive_seed(seed, "final", j))
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(random_actions(action, 1, rng)[0])
            total, done = total + float(reward), terminated or truncated
        returns.append(total)
    env.close()
    return returns


def single_env(benchmark: str, cfg: EnvConfig, steps: int, rng: np.random.Generator) -> dict[str, float]:
    action = env_spec(benchmark, cfg).action
    start = time.perf_counter()
    env = make_env(benchmark, cfg, "test", seed=0)
    env.reset()
    env.step(random_actions(action, 1, rng)[0])
    started = time.perf_counter()
    for a in random_actions(action, steps, rng):
        _, _, terminated, truncated, _ = env.step(a)
        if terminated or truncated:
            env.reset()
    end = time.perf_counter()
    env.close()
    return {"start_s": started - start, "steps_per_s": steps / (end - started)}


def parallel_envs(benchmark: str, cfg: EnvConfig, num_envs: int, steps: int,
                  rng: np.random.Generator) -> dict[str, float]:
    action = env_spec(benchmark, cfg).action
    start = time.perf_counter()
    with ParallelEnvs(benchmark, cfg, list(range(num_envs))) as envs:
        envs.reset()
        envs.step(random_actions(action, num_envs, rng))
        started = time.perf_counter()
        for _ in range(steps):
            envs.step(random_actions(action, num_envs, rng))
        end = time.perf_counter()
    return {"start_s": started - start, "steps_per_s": steps * num_envs / (end - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", required=True, choices=["atari", "dmc", "craftax", "cartpole"])
    parser.add_argument("--game", help="default: the benchmark config's game")
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=500, help="timed steps (per env in the parallel run)")
    args = parser.parse_args()
    if args.envs < 1 or args.steps < 1:
        parser.error(f"--envs {args.envs} and --steps {args.steps} must both be at least 1")
    game = args.game or compose_config([f"benchmark={args.benchmark}", "run_dir=unused"]).env.game
    cfg = EnvConfig(game)
    rng = np.random.default_rng(0)
    result = {
        "benchmark": args.benchmark, "game": game, "steps": args.steps, "cpus": len(os.sched_getaffinity(0)),
        "host": platform.node(),
        "single": single_env(args.benchmark, cfg, args.steps, rng),
        "parallel": {"envs": args.envs, **parallel_envs(args.benchmark, cfg, args.envs, args.steps, rng)},
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
