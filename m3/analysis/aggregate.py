"""Per-run scores files → this project's results files, in the official formats (design §9.1).

    python -m m3.analysis.aggregate --benchmark atari --scores results/scores/atari --out results/data/atari

writes two files (the outs of the DVC stage `aggregate@<benchmark>`):
- `<out>/M3-repro.json`: Atari and DMC `{game: [final score of each seed, seeds ascending]}`; Craftax a
  list of runs `{"eval_epochs": [...], "eval_scores": [...]}` whose last entry is the final evaluation;
- `<out>/M3-repro.runs.json`: the companion with everything behind those numbers: per run its game,
  seed, per-episode returns and lengths, checkpoint hash, epoch, code version, periodic evaluations
  and source file, plus the set of code versions.
A benchmark without runs yet gets `{}` (Craftax `[]`) and an empty run list: its figures then show
the published baselines alone.

**Partial sweeps** (a sweep still running, a failed job: some `(game, seed)` scores files missing) still
aggregate. rliable's stratified bootstrap needs the same runs in every game, so the results file keeps the
largest complete block: a set of seeds and the games that have every one of them, the most runs (then the
most games, then the lowest seeds). Every game or run outside it is listed under `left_out` in the
companion, one line each, and printed as a warning; `m3.analysis.figures` repeats the lines in its tables
and metrics. Bad input exits with status 2 and one line naming the file or key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from m3.analysis.params import OURS, AnalysisError, load_params
from m3.analysis.scores import RunScores, collect_runs, final_curve
from m3.atomic import atomic_write_text

RUN_LIST_BENCHMARKS = ("craftax",)  # benchmarks whose results file is a list of runs with curves (§9.1)


def results_file(benchmark: str, runs: list[RunScores]) -> dict | list:
    """The official-format content for `runs` (sorted by game, then seed)."""
    if benchmark in RUN_LIST_BENCHMARKS:
        return [_run_entry(run) for run in runs]
    table: dict[str, list[float]] = {}
    for run in runs:
        table.setdefault(run.game, []).append(run.score)
    return table


def _run_entry(run: RunScores) -> dict:
    """Periodic evaluations before the final epoch, then the final evaluation (it replaces a periodic one there)."""
    epoch = run.record["epoch"]
    epochs, scores = final_curve(list(run.curve.epochs), list(run.curve.epochs), list(run.curve.returns), epoch,
                                 epoch, run.score)
    return {"eval_epochs": epochs, "eval_scores": scores}


def complete_block(runs: list[RunScores], games: tuple[str, ...]) -> tuple[list[RunScores], list[dict]]:
    """The runs of the largest complete (games x seeds) block, and one `left_out` entry per game or run outside.

    The best seed set is the intersection of the seed sets of the games it keeps, so only such intersections
    are candidates (closed under intersection; a handful in practice)."""
    seeds_of = {g: frozenset(r.seed for r in runs if r.game == g) for g in games}
    candidates = {s for s in seeds_of.values() if s}
    while True:
        more = {a & b for a in candidates for b in candidates if a & b} - candidates
        if not more:
            break
        candidates |= more

    def kept_games(seeds: frozenset) -> list[str]:
        return [g for g in games if seeds <= seeds_of[g]]

    def rank(seeds: frozenset) -> tuple:
        return len(seeds) * len(kept_games(seeds)), len(kept_games(seeds)), [-s for s in sorted(seeds)]

    best = max(candidates, key=rank, default=frozenset())
    kept, left = set(kept_games(best)), []
    for game in games:
        have = sorted(seeds_of[game])
        if not have:
            left.append({"game": game, "seeds": [], "text": f"{game}: no runs"})
        elif game not in kept:
            lacking = ", ".join(map(str, sorted(best - seeds_of[game])))
            left.append({"game": game, "seeds": have, "text": f"{game}: seed {lacking} missing, so its runs "
                         f"(seed {', '.join(map(str, have))}) are left out"})
        elif seeds_of[game] - best:
            extra = sorted(seeds_of[game] - best)
            left.append({"game": game, "seeds": extra, "text": f"{game}: seed {', '.join(map(str, extra))} "
                         "left out (not every game has it)"})
    return [r for r in runs if r.game in kept and r.seed in best], left


def companion_file(benchmark: str, runs: list[RunScores], left: list[dict]) -> dict:
    return {
        "benchmark": benchmark,
        "algorithm": OURS,
        "code_versions": sorted({run.record["code_version"] for run in runs}),
        "runs": [{**run.record, "source": str(run.path)} for run in runs],
        "left_out": left,
    }


def aggregate(benchmark: str, scores_dir: Path, out_dir: Path, params_path: Path) -> tuple[list[RunScores], list]:
    """Write the results file and its companion; returns the runs kept and the `left_out` entries."""
    games = load_params(params_path).benchmark(benchmark).games
    found = collect_runs(scores_dir, benchmark, games)
    runs, left = complete_block(found, games) if found else ([], [])
    atomic_write_text(json.dumps(results_file(benchmark, runs), indent=2) + "\n", out_dir / f"{OURS}.json")
    atomic_write_text(json.dumps(companion_file(benchmark, runs, left), indent=2) + "\n",
                      out_dir / f"{OURS}.runs.json")
    return runs, left


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m3.analysis.aggregate", description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", required=True, help="atari, dmc or craftax")
    parser.add_argument("--scores", type=Path, required=True, help="folder of <game>/seed<k>.json scores files")
    parser.add_argument("--out", type=Path, required=True, help="folder for M3-repro.json and M3-repro.runs.json")
    parser.add_argument("--params", type=Path, default=Path("config/analysis.yaml"), help="the params file")
    args = parser.parse_args(argv)
    try:
        runs, left = aggregate(args.benchmark, args.scores, args.out, args.params)
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for entry in left:
        print(f"warning: {args.benchmark}: left out of {OURS}: {entry['text']}", file=sys.stderr)
    games = len({run.game for run in runs})
    print(f"{args.benchmark}: {len(runs)} runs over {games} games -> {args.out / (OURS + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
