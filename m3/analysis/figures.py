"""Statistics, figures, tables and headline metrics of one benchmark: the DVC stage `figures@<benchmark>`.

    python -m m3.analysis.figures --benchmark atari --params config/analysis.yaml --data results/data/atari \\
        --published results/published/atari --out results/figures/atari --metrics results/metrics/atari.json

Algorithms: this project's runs (`M3-repro`, when it has any) and every published baseline in the
published folder, in the params' order. Scores are human-normalised for Atari, raw otherwise (§9.2).
Writes to `--out`: `aggregates`, `profile`, `improvement` (the first algorithm, M3-repro or else M3,
against each other), `per_game` and `curves` as PNG and PDF, `per_game.{md,tex}` and
`aggregates.{md,tex}`; and the headline numbers to `--metrics` (JSON, for `dvc metrics show`).
All input is checked before the bootstrap starts; bad input exits with status 2 and one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from m3.analysis import plots, stats
from m3.analysis.algorithms import AlgorithmData, curve_matrix, final_matrix, load_ours, load_published
from m3.analysis.params import AnalysisError, AnalysisParams, BenchmarkParams, load_params
from m3.analysis.tables import Table, to_latex, to_markdown
from m3.atomic import atomic_write_text

FIGURES = ("aggregates", "profile", "improvement", "per_game", "curves")


def _slug(metric: str) -> str:
    return metric.lower().replace(" ", "_")


class Analysis:
    """One benchmark's algorithms, validated score matrices, and everything computed from them."""

    def __init__(self, params: AnalysisParams, bench: BenchmarkParams, data_dir: Path, published_dir: Path):
        self.params, self.bench = params, bench
        published, self.normalise = load_published(published_dir, params, bench)
        ours = load_ours(data_dir, bench)
        self.algos: list[AlgorithmData] = ([ours] if ours else []) + published
        self.names = [a.name for a in self.algos]
        self.matrices = {a.name: final_matrix(a, bench.games, self.normalise) for a in self.algos}  # (runs, games)
        self.human = bench.normalisation == "human"
        self.points: dict[str, np.ndarray] = {}  # (metrics,) per algorithm, filled by `estimate`
        self.intervals: dict[str, np.ndarray] = {}  # (2, metrics)

    def title(self, what: str) -> str:
        return f"{self.bench.title}: {what}"

    @property
    def ci(self) -> str:
        return f"{self.params.statistics.confidence:.0%} CIs"

    def estimate(self) -> dict[str, dict[str, float]]:
        """Aggregate metrics with intervals per algorithm; returns the headline numbers (point estimates)."""
        bench, st = self.bench, self.params.statistics
        headline = {}
        for name, scores in self.matrices.items():
            print(f"{bench.name}: {name}: intervals ({st.interval_reps} reps)", flush=True)
            self.points[name], self.intervals[name] = stats.interval_estimates(scores, bench.metrics,
                                                                               bench.optimality_gamma, st)
            headline[name] = {_slug(m): round(float(v), 4) for m, v in zip(bench.metrics, self.points[name])}
            headline[name]["runs"] = int(scores.shape[0])
            if self.human:
                headline[name]["superhuman"] = stats.superhuman_games(scores)
        return headline

    def figures(self, out_dir: Path) -> None:
        """Write every figure (after `estimate`)."""
        bench, st, colors, n = self.bench, self.params.statistics, self.params.colors, len(self.bench.games)
        if not self.algos:
            text = "No scores yet: no runs of M3-repro and no published baselines in results/published."
            self._save({kind: plots.message(kind, n, self.title(kind.replace("_", " ")), text) for kind in FIGURES},
                       out_dir)
            return
        figs = {"aggregates": plots.aggregates(bench.metrics, self.names, self.points, self.intervals, colors,
                                               bench.score_label, self.title(f"aggregate metrics ({self.ci})"), n)}
        profiles = {name: stats.performance_profile(s, bench.tau, st) for name, s in self.matrices.items()}
        figs["profile"] = plots.profile({k: p for k, (p, _) in profiles.items()},
                                        {k: ci for k, (_, ci) in profiles.items()}, bench.tau, colors,
                                        bench.score_label, self.title("performance profile"), n)
        figs["improvement"] = self._improvement(n)
        figs["per_game"] = plots.per_game(bench.games, self.names, self.matrices, colors, bench.score_label,
                                          self.title("per-game scores (mean and range of runs)"),
                                          1.0 if self.human else None)
        figs["curves"] = self._curves(n)
        self._save(figs, out_dir)

    def _improvement(self, n: int):
        if len(self.names) < 2:
            return plots.message("improvement", n, self.title("probability of improvement"),
                                 f"Only {self.names[0]} has scores: nothing to compare against.")
        focal, st = self.names[0], self.params.statistics
        pairs, cis = {}, {}
        for other in self.names[1:]:
            key = f"{focal},{other}"
            pairs[key], cis[key] = stats.improvement_estimate(self.matrices[focal], self.matrices[other], st)
        return plots.improvement(pairs, cis, self.params.colors, self.title(f"probability that {focal} is better"), n)

    def _curves(self, n: int):
        steps, points, cis = {}, {}, {}
        for algo in self.algos:
            curve = curve_matrix(algo, self.bench.games, self.normalise)
            if curve is not None:
                steps[algo.name] = curve[0]
                points[algo.name], cis[algo.name] = stats.iqm_curve(curve[1], self.params.statistics)
        if not points:
            return plots.message("curves", n, self.title("learning curves"),
                                 "No algorithm here has periodic evaluations (published baselines give final "
                                 "scores only; M3-repro runs add their curves).")
        return plots.curves(steps, points, cis, self.params.colors, self.bench.score_label,
                            self.title(f"learning curves (IQM, {self.ci})"), n)

    def _save(self, figs: dict, out_dir: Path) -> None:
        for name, fig in figs.items():
            plots.save(fig, out_dir, name, self.params.dpi)

    def tables(self) -> dict[str, Table]:
        """Per-game raw means (best in bold) with summary rows, and the aggregate metrics with intervals."""
        bench = self.bench
        constants = {"Random": self.normalise.random, "Human": self.normalise.human} if self.human else {}
        columns = ["Game", *constants, *self.names]
        rows, bold = [], set()
        for r, game in enumerate(bench.games):
            means = [float(np.mean(a.finals[game])) for a in self.algos]
            rows.append([game, *(f"{c[game]:.1f}" for c in constants.values()), *(f"{m:.1f}" for m in means)])
            if means:
                bold.add((r, 1 + len(constants) + int(np.argmax(means))))
        footer_start = len(rows)
        pad = [""] * len(constants)
        if self.human and self.algos:
            rows.append(["#Superhuman", *pad, *(str(stats.superhuman_games(self.matrices[a])) for a in self.names)])
        unit = " (HNS)" if self.human else ""
        for m, metric in enumerate(bench.metrics if self.algos else ()):
            rows.append([f"{metric}{unit}", *pad, *(f"{self.points[a][m]:.3f}" for a in self.names)])
        per_game = Table(columns, rows, f"{bench.title}: mean {'raw ' if self.human else ''}score per game over runs "
                         "(best in bold) and aggregates", bold, footer_start)
        agg_rows = [[a, str(self.matrices[a].shape[0]),
                     *(f"{self.points[a][m]:.3f} [{self.intervals[a][0, m]:.3f}, {self.intervals[a][1, m]:.3f}]"
                       for m in range(len(bench.metrics)))] for a in self.names]
        ci = f"{self.params.statistics.confidence:.0%}"
        aggregates = Table(["Algorithm", "Runs", *(f"{m}{unit}" for m in bench.metrics)], agg_rows,
                           f"{bench.title}: aggregate metrics with {ci} stratified-bootstrap intervals")
        return {"per_game": per_game, "aggregates": aggregates}


def run(benchmark: str, params_path: Path, data_dir: Path, published_dir: Path, out_dir: Path,
        metrics_path: Path) -> dict:
    params = load_params(params_path)
    analysis = Analysis(params, params.benchmark(benchmark), data_dir, published_dir)
    headline = analysis.estimate()
    analysis.figures(out_dir)
    for name, table in analysis.tables().items():
        atomic_write_text(to_markdown(table), out_dir / f"{name}.md")
        atomic_write_text(to_latex(table), out_dir / f"{name}.tex")
    atomic_write_text(json.dumps(headline, indent=2) + "\n", metrics_path)
    return headline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m3.analysis.figures", description=__doc__.split("\n")[0])
    parser.add_argument("--benchmark", required=True)
    parser.add_argument("--params", type=Path, default=Path("config/analysis.yaml"))
    parser.add_argument("--data", type=Path, help="default results/data/<benchmark>")
    parser.add_argument("--published", type=Path, help="default results/published/<benchmark>")
    parser.add_argument("--out", type=Path, help="default results/figures/<benchmark>")
    parser.add_argument("--metrics", type=Path, help="default results/metrics/<benchmark>.json")
    args = parser.parse_args(argv)
    b = args.benchmark
    try:
        headline = run(b, args.params, args.data or Path(f"results/data/{b}"),
                       args.published or Path(f"results/published/{b}"), args.out or Path(f"results/figures/{b}"),
                       args.metrics or Path(f"results/metrics/{b}.json"))
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
