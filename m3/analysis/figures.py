"""Statistics, figures, tables and headline metrics of one benchmark: the DVC stage `figures@<benchmark>`.

    python -m m3.analysis.figures --benchmark atari --params config/analysis.yaml --data results/data/atari \\
        --published results/published/atari --out results/figures/atari --metrics results/metrics/atari.json

Algorithms: this project's runs (`M3-repro`, when it has any) and every published baseline in the
published folder, in the params' order. Scores are human-normalised for Atari, raw otherwise (§9.2).
Writes to `--out`: `aggregates`, `profile`, `improvement` (the first algorithm with several runs per game,
M3-repro or else M3, against each other such one), `per_game` and `curves` as PNG and PDF, and the tables
`per_game`, `aggregates` and `improvement` as `.md` and `.tex`; and the headline numbers to `--metrics`
(JSON, for `dvc metrics show`), with a `notes` line on whatever a partial sweep left out (also printed as
warnings). All input is checked before the bootstrap starts; bad input exits with status 2 and one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from m3.analysis import plots, stats
from m3.analysis.algorithms import AlgorithmData, curve_matrix, final_matrix, load_ours, load_published, read_companion
from m3.analysis.params import OURS, AnalysisError, AnalysisParams, BenchmarkParams, load_params
from m3.analysis.tables import Table, to_latex, to_markdown
from m3.atomic import atomic_write_text

FIGURES = ("aggregates", "profile", "improvement", "per_game", "curves")


def _slug(metric: str) -> str:
    return metric.lower().replace(" ", "_")


class Analysis:
    """One benchmark's algorithms, validated score matrices, and everything computed from them.

    The games analysed are those of the benchmark that M3-repro has (all of them without M3-repro): a
    partial sweep compares every algorithm on the same games. Algorithms with one value per game
    (`AlgorithmData.single`) get point estimates only, and stay out of the probability of improvement.
    `notes` states, one line each, everything left out; the tables, the metrics and stderr repeat them."""

    def __init__(self, params: AnalysisParams, bench: BenchmarkParams, data_dir: Path, published_dir: Path):
        self.params, self.bench = params, bench
        published, self.normalise = load_published(published_dir, params, bench)
        ours = load_ours(data_dir, bench)
        self.algos: list[AlgorithmData] = ([ours] if ours else []) + published
        self.names = [a.name for a in self.algos]
        self.notes: list[str] = []
        self.games = bench.games
        if ours:
            self.notes += [f"left out of {OURS}: {e['text']}" for e in read_companion(data_dir).get("left_out", [])]
            self.games = tuple(g for g in bench.games if g in ours.finals)
            if len(self.games) < len(bench.games):
                self.notes.append(f"every algorithm is compared on the {len(self.games)} of {len(bench.games)} "
                                  f"games that {OURS} has")
        self.metrics = bench.metrics
        if len(self.games) == 1 and "Median" in self.metrics:
            self.metrics = tuple(m for m in bench.metrics if m != "Median")
            self.notes.append("one task: the median of the per-task scores is the mean, so only the mean is shown")
        self.matrices = {a.name: final_matrix(a, self.games, self.normalise) for a in self.algos}  # (runs, games)
        self.single = [a.name for a in self.algos if a.single]
        self.sampled = [n for n in self.names if n not in self.single]  # algorithms with runs to bootstrap
        if self.single:
            self.notes.append(f"{', '.join(self.single)}: one value per game, not per run, so no interval, and "
                              "left out of the probability of improvement")
        self.human = bench.normalisation == "human"
        self.points: dict[str, np.ndarray] = {}  # (metrics,) per algorithm, filled by `estimate`
        self.intervals: dict[str, np.ndarray] = {}  # (2, metrics), algorithms with runs only
        self.improvement: dict[str, tuple[float, np.ndarray]] = {}  # "X,Y" -> P(X > Y), interval (2,)

    def title(self, what: str) -> str:
        return f"{self.bench.title}: {what}"

    @property
    def ci(self) -> str:
        return f"{self.params.statistics.confidence:.0%} CIs"

    def estimate(self) -> dict:
        """Aggregate metrics (with intervals where there are runs) and the probability of improvement; returns
        the headline numbers: per algorithm the point estimates, and the notes on what was left out."""
        bench, st = self.bench, self.params.statistics
        headline: dict = {}
        for name, scores in self.matrices.items():
            if name in self.single:
                self.points[name] = stats.metric_functions(self.metrics, bench.optimality_gamma)(scores)
            else:
                print(f"{bench.name}: {name}: intervals ({st.interval_reps} reps)", flush=True)
                self.points[name], self.intervals[name] = stats.interval_estimates(scores, self.metrics,
                                                                                   bench.optimality_gamma, st)
            headline[name] = {_slug(m): round(float(v), 4) for m, v in zip(self.metrics, self.points[name])}
            if bench.max_return is not None:
                headline[name]["mean_percent_of_max"] = round(100 * float(scores.mean()) / bench.max_return, 2)
            headline[name]["runs"] = int(scores.shape[0])
            headline[name]["games"] = len(self.games)
            if self.human:
                headline[name]["superhuman"] = stats.superhuman_games(scores)
        if len(self.sampled) >= 2:
            focal = self.sampled[0]
            for other in self.sampled[1:]:
                self.improvement[f"{focal},{other}"] = stats.improvement_estimate(self.matrices[focal],
                                                                                  self.matrices[other], st)
            headline[focal]["p_improvement"] = {k.split(",")[1]: round(p, 4) for k, (p, _) in self.improvement.items()}
        if self.notes:
            headline["notes"] = "; ".join(self.notes)
        return headline

    def figures(self, out_dir: Path) -> None:
        """Write every figure (after `estimate`)."""
        bench, st, colors, n = self.bench, self.params.statistics, self.params.colors, len(self.games)
        if not self.algos:
            text = "No scores yet: no runs of M3-repro and no published baselines in results/published."
            self._save({kind: plots.message(kind, n, self.title(kind.replace("_", " ")), text) for kind in FIGURES},
                       out_dir)
            return
        one_task = " (one task: median = mean, shown once)" if len(self.metrics) < len(bench.metrics) else ""
        figs = {"aggregates": plots.aggregates(self.metrics, self.names, self.points, self.intervals, colors,
                                               bench.score_label,
                                               self.title(f"aggregate metrics ({self.ci}){one_task}"), n)}
        profiles = {name: stats.performance_profile(s, bench.tau, st) for name, s in self.matrices.items()}
        figs["profile"] = plots.profile({k: p for k, (p, _) in profiles.items()},
                                        {k: ci for k, (_, ci) in profiles.items() if k not in self.single},
                                        bench.tau, colors, bench.score_label, self.title("performance profile"), n)
        figs["improvement"] = self._improvement(n)
        figs["per_game"] = plots.per_game(self.games, self.names, self.matrices, colors, bench.score_label,
                                          self.title("per-game scores (mean and range of runs)"),
                                          1.0 if self.human else None)
        figs["curves"] = self._curves(n)
        self._save(figs, out_dir)

    def _improvement(self, n: int):
        title = self.title("probability of improvement")
        if not self.improvement:
            who = f"Only {self.sampled[0]} has" if self.sampled else "No algorithm has"
            return plots.message("improvement", n, title, f"{who} several runs per game: nothing to compare.")
        pairs = {k: p for k, (p, _) in self.improvement.items()}
        cis = {k: ci for k, (_, ci) in self.improvement.items()}
        return plots.improvement(pairs, cis, self.params.colors, f"{title} ({self.ci})", n)

    def _curves(self, n: int):
        steps, points, cis = {}, {}, {}
        for algo in self.algos:
            curve = curve_matrix(algo, self.games, self.normalise)
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
        """Per-game raw means (best in bold, ties all bold) with summary rows, the aggregate metrics with
        intervals, and the probability of improvement; each with the notes on what was left out."""
        bench = self.bench
        constants = {"Random": self.normalise.random, "Human": self.normalise.human} if self.human else {}
        columns = ["Game", *constants, *self.names]
        rows, bold = [], set()
        for r, game in enumerate(self.games):
            means = [f"{np.mean(a.finals[game]):.1f}" for a in self.algos]
            rows.append([game, *(f"{c[game]:.1f}" for c in constants.values()), *means])
            best = max((float(m) for m in means), default=None)
            bold |= {(r, 1 + len(constants) + i) for i, m in enumerate(means) if float(m) == best}
        footer_start = len(rows)
        pad = [""] * len(constants)
        if self.human and self.algos:
            rows.append(["#Superhuman", *pad, *(str(stats.superhuman_games(self.matrices[a])) for a in self.names)])
        unit = " (HNS)" if self.human else ""
        for m, metric in enumerate(self.metrics if self.algos else ()):
            rows.append([f"{metric}{unit}", *pad, *(f"{self.points[a][m]:.3f}" for a in self.names)])
        notes = tuple(self.notes)
        per_game = Table(columns, rows, f"{bench.title}: mean {'raw ' if self.human else ''}score per game over runs "
                         "(best in bold) and aggregates", bold, footer_start, notes)
        percent = bench.max_return is not None
        agg_rows = []
        for a in self.names:
            cells = [self._estimate_cell(a, m) for m in range(len(self.metrics))]
            if percent:
                cells.append(f"{100 * float(self.matrices[a].mean()) / bench.max_return:.1f} %")
            agg_rows.append([a, str(self.matrices[a].shape[0]), *cells])
        extra = [f"Mean (% of the {bench.max_return:g} maximum)"] if percent else []
        ci = f"{self.params.statistics.confidence:.0%}"
        aggregates = Table(["Algorithm", "Runs", *(f"{m}{unit}" for m in self.metrics), *extra], agg_rows,
                           f"{bench.title}: aggregate metrics with {ci} stratified-bootstrap intervals", notes=notes)
        improvement = Table(["Algorithm X", "Algorithm Y", "P(X > Y)", f"{ci} interval"],
                            [[*k.split(","), f"{p:.3f}", f"[{ci_[0]:.3f}, {ci_[1]:.3f}]"]
                             for k, (p, ci_) in self.improvement.items()],
                            f"{bench.title}: probability of improvement, stratified independent bootstrap",
                            notes=notes)
        return {"per_game": per_game, "aggregates": aggregates, "improvement": improvement}

    def _estimate_cell(self, algo: str, m: int) -> str:
        point = f"{self.points[algo][m]:.3f}"
        if algo in self.single:
            return f"{point} (no interval)"
        low, high = self.intervals[algo][:, m]
        return f"{point} [{low:.3f}, {high:.3f}]"


def run(benchmark: str, params_path: Path, data_dir: Path, published_dir: Path, out_dir: Path,
        metrics_path: Path) -> dict:
    params = load_params(params_path)
    analysis = Analysis(params, params.benchmark(benchmark), data_dir, published_dir)
    for note in analysis.notes:
        print(f"warning: {benchmark}: {note}", file=sys.stderr)
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
