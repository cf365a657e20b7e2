"""Per-run scores files → this project's results files, in the official formats (spec §9.1).

    python -m m3.analysis.aggregate --benchmark atari --scores results/scores/atari --out results/data/atari

writes two files (the outs of the DVC stage `aggregate@<benchmark>`):
- `<out>/M3-repro.json`: Atari and DMC `{game: [final score of each seed, seeds ascending]}`; Craftax a
  list of runs `{"eval_epochs": [...], "eval_scores": [...]}` whose last entry is the final evaluation;
- `<out>/M3-repro.runs.json`: the companion with everything behind those numbers: per run its game,
  seed, per-episode returns and lengths, checkpoint hash, epoch, code version, periodic evaluations
  and source file, plus the set of code versions.
A benchmark without runs yet gets `{}` (Craftax `[]`) and an empty run list: its figures then show
the published baselines alone. Bad input exits with status 2 and one line naming the file or key.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from m3.analysis.params import OURS, AnalysisError, load_params
from m3.analysis.scores import RunScores, collect_runs
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
    points = [(e, r) for e, r in zip(run.curve.epochs, run.curve.returns) if e < run.record["epoch"]]
    points.append((run.record["epoch"], run.score))
    return {"eval_epochs": [e for e, _ in points], "eval_scores": [r for _, r in points]}


def companion_file(benchmark: str, runs: list[RunScores]) -> dict:
    return {
        "benchmark": benchmark,
        "algorithm": OURS,
        "code_versions": sorted({run.record["code_version"] for run in runs}),
        "runs": [{**run.record, "source": str(run.path)} for run in runs],
    }


def aggregate(benchmark: str, scores_dir: Path, out_dir: Path, params_path: Path) -> list[RunScores]:
    games = load_params(params_path).benchmark(benchmark).games
    runs = collect_runs(scores_dir, benchmark, games)
    atomic_write_text(json.dumps(results_file(benchmark, runs), indent=2) + "\n", out_dir / f"{OURS}.json")
    atomic_write_text(json.dumps(companion_file(benchmark, runs), indent=2) + "\n", out_dir / f"{OURS}.runs.json")
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m3.analysis.aggregate", description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", required=True, help="atari, dmc or craftax")
    parser.add_argument("--scores", type=Path, required=True, help="folder of <game>/seed<k>.json scores files")
    parser.add_argument("--out", type=Path, required=True, help="folder for M3-repro.json and M3-repro.runs.json")
    parser.add_argument("--params", type=Path, default=Path("config/analysis.yaml"), help="the params file")
    args = parser.parse_args(argv)
    try:
        runs = aggregate(args.benchmark, args.scores, args.out, args.params)
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    games = len({run.game for run in runs})
    print(f"{args.benchmark}: {len(runs)} runs over {games} games -> {args.out / (OURS + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
