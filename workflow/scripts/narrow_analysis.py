"""Write a copy of the analysis params (config/analysis.yaml) for a smoke run: only the games that ran, and fewer
bootstrap samples, so `m3.analysis.figures` draws the figures of a one-game, one-seed run in seconds.

    python workflow/scripts/narrow_analysis.py config/analysis.yaml results/smoke/analysis.yaml \\
        --reps 200 --games atari=Pong dmc=cartpole-balance craftax=Craftax-Symbolic-v1
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

REPS_KEYS = ("interval_reps", "profile_reps", "improvement_reps", "curve_reps")


def narrow(params: dict, games: dict[str, list[str]], reps: int) -> dict:
    """`params` with each listed benchmark's games replaced and every bootstrap count set to `reps`."""
    for benchmark, names in games.items():
        if benchmark not in params["benchmarks"]:
            raise SystemExit(f"narrow_analysis: benchmark {benchmark!r} is not in the params "
                             f"(allowed: {sorted(params['benchmarks'])})")
        params["benchmarks"][benchmark]["games"] = names
    params["statistics"].update({key: reps for key in REPS_KEYS})
    return params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("params", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--reps", type=int, required=True)
    parser.add_argument("--games", nargs="+", required=True, metavar="BENCHMARK=GAME[,GAME...]")
    args = parser.parse_args()
    games = {b: g.split(",") for b, g in (item.split("=", 1) for item in args.games)}
    params = narrow(yaml.safe_load(args.params.read_text()), games, args.reps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(yaml.safe_dump(params, sort_keys=False))


if __name__ == "__main__":
    main()
