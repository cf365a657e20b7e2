"""Algorithms' results files (ours and the published baselines) → score matrices for rliable (design §9.1, §9.2).

Formats (§9.1): `{game: [final score per run]}`, or, for Craftax, a list of runs
`{"eval_epochs": [...], "eval_scores": [...]}` (the last entry is the final evaluation), or a curves file
of several algorithms `{ALGO: [{"scores": [return at each of K evenly spaced points]}]}` (the Craftax
paper's baselines; results/published/README.md). Atari scores are human-normalised,
(score − RANDOM) / (HUMAN − RANDOM), from `HUMAN.json` / `RANDOM.json` beside the published baselines; the
other benchmarks use raw returns. An algorithm with one value per game (EfficientZero: the paper's means)
has no runs to resample: `AlgorithmData.single` marks it, and the figures draw it without intervals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from m3.analysis.params import OURS, AnalysisError, AnalysisParams, BenchmarkParams
from m3.analysis.scores import final_curve, finite_numbers, read_json

CONSTANTS = ("HUMAN", "RANDOM")  # normalisation constants among the published Atari files


@dataclass
class AlgorithmData:
    """One algorithm's raw scores: final score per run and game, and (where known) per-run learning curves."""

    name: str
    source: Path
    finals: dict[str, list[float]]
    curves: dict[str, list[tuple[list[int], list[float]]]] = field(default_factory=dict)  # game -> [(steps, returns)]

    @property
    def single(self) -> bool:
        """One value per game: no runs to bootstrap (the figures draw a point without an interval)."""
        return all(len(v) == 1 for v in self.finals.values())


@dataclass
class Normaliser:
    """Raw score → the benchmark's reported score: HNS for Atari, identity otherwise."""

    random: dict[str, float] | None = None
    human: dict[str, float] | None = None

    def __call__(self, game: str, values: np.ndarray) -> np.ndarray:
        if self.random is None or self.human is None:
            return values
        return (values - self.random[game]) / (self.human[game] - self.random[game])


def load_results_file(path: Path, name: str, bench: BenchmarkParams, raw=None) -> AlgorithmData:
    """One algorithm's results file (`raw`: its content, when already read)."""
    raw = read_json(path, "results file") if raw is None else raw
    if isinstance(raw, dict):
        return AlgorithmData(name, path, {str(g): finite_numbers(v, f"{path}: {g}") for g, v in raw.items()})
    if not isinstance(raw, list):
        raise AnalysisError(f"results file {path} must be a JSON object {{game: [scores]}} or a list of runs")
    if len(bench.games) != 1:
        raise AnalysisError(f"results file {path} is a list of runs, a format only for single-game benchmarks; "
                            f"{bench.name} has {len(bench.games)} games, so use {{game: [scores]}}")
    game, finals, curves = bench.games[0], [], []
    for i, run in enumerate(raw):
        if not isinstance(run, dict) or "eval_epochs" not in run or "eval_scores" not in run:
            raise AnalysisError(f"results file {path}: run {i} must have eval_epochs and eval_scores")
        epochs = finite_numbers(run["eval_epochs"], f"{path}: run {i} eval_epochs")
        scores = finite_numbers(run["eval_scores"], f"{path}: run {i} eval_scores")
        if len(epochs) != len(scores):
            raise AnalysisError(f"results file {path}: run {i} has {len(epochs)} eval_epochs but {len(scores)} scores")
        finals.append(scores[-1])
        curves.append(([int(e) * bench.steps_per_epoch for e in epochs], scores))
    return AlgorithmData(name, path, {game: finals} if finals else {}, {game: curves} if curves else {})


def load_ours(data_dir: Path, bench: BenchmarkParams) -> AlgorithmData | None:
    """This project's aggregate (`M3-repro.json`), with curves from its companion file; None without runs.
    Each run's curve ends with its final evaluation, on every benchmark alike (`scores.final_curve`)."""
    ours = load_results_file(data_dir / f"{OURS}.json", OURS, bench)
    if not ours.finals:
        return None
    if not ours.curves:
        for run in read_companion(data_dir)["runs"]:
            curve = run.get("curve") or {}
            epochs, steps = curve.get("epochs", []), curve.get("env_steps", [])
            final_steps = dict(zip(epochs, steps)).get(run["epoch"], run["epoch"] * bench.steps_per_epoch)
            ours.curves.setdefault(run["game"], []).append(
                final_curve(epochs, steps, curve.get("returns", []), run["epoch"], final_steps, run["mean_return"]))
    return ours


def read_companion(data_dir: Path) -> dict:
    """`M3-repro.runs.json` (written by `m3.analysis.aggregate`): `runs`, and what a partial sweep `left_out`."""
    path = data_dir / f"{OURS}.runs.json"
    companion = read_json(path, "companion file")
    if not isinstance(companion, dict) or not isinstance(companion.get("runs"), list):
        raise AnalysisError(f"companion file {path} must be an object with a list `runs` (rerun aggregate)")
    return companion


def load_curves_file(raw: dict, path: Path, bench: BenchmarkParams) -> list[AlgorithmData]:
    """`{ALGO: [{"scores": [...]}]}`: point k of K at (k + 1) × env_steps / K; NaN points dropped (no episode
    had finished); the last point of a run is its final score. `ALGO_X` is named `ALGO-X`."""
    if len(bench.games) != 1:
        raise AnalysisError(f"curves file {path} is only for single-game benchmarks; {bench.name} has "
                            f"{len(bench.games)} games")
    algorithms = []
    for key, runs in raw.items():
        finals, curves = [], []
        for i, run in enumerate(runs):
            values = run.get("scores") if isinstance(run, dict) else None
            if not isinstance(values, list) or not values or not all(isinstance(v, (int, float)) for v in values):
                raise AnalysisError(f"curves file {path}: {key} run {i} must have a list of numbers `scores`")
            if not math.isfinite(values[-1]):
                raise AnalysisError(f"curves file {path}: {key} run {i} ends with {values[-1]}, not a final score")
            steps = [round((k + 1) * bench.env_steps / len(values)) for k in range(len(values))]
            kept = [(s, float(v)) for s, v in zip(steps, values) if math.isfinite(v)]
            curves.append(([s for s, _ in kept], [v for _, v in kept]))
            finals.append(float(values[-1]))
        algorithms.append(AlgorithmData(key.replace("_", "-"), path, {bench.games[0]: finals},
                                        {bench.games[0]: curves}))
    return algorithms


def _is_curves_file(raw) -> bool:
    return isinstance(raw, dict) and bool(raw) and all(
        isinstance(v, list) and v and all(isinstance(r, dict) and "scores" in r for r in v) for v in raw.values())


def load_published(published_dir: Path, params: AnalysisParams, bench: BenchmarkParams
                   ) -> tuple[list[AlgorithmData], Normaliser]:
    """Every published baseline in the folder (names checked against the params) and the normaliser."""
    if not published_dir.is_dir():
        raise AnalysisError(f"published folder {published_dir} does not exist (the repository ships "
                            "results/published/<benchmark>; `git checkout -- results/published` restores it)")
    algorithms = []
    for path in sorted(published_dir.glob("*.json")):
        if path.stem in CONSTANTS:
            continue
        raw = read_json(path, "results file")
        found = (load_curves_file(raw, path, bench) if _is_curves_file(raw)
                 else [load_results_file(path, path.stem, bench, raw)])
        for algo in found:
            if algo.name == OURS:
                raise AnalysisError(f"{path}: {OURS} is the name of this project's runs, not of a published "
                                    "baseline")
            params.check_algorithm(algo.name, path)
        algorithms += found
    order = list(params.colors)
    return sorted(algorithms, key=lambda a: order.index(a.name)), _normaliser(bench, published_dir)


def _normaliser(bench: BenchmarkParams, folder: Path) -> Normaliser:
    if bench.normalisation == "none":
        return Normaliser()
    values = {}
    for name in CONSTANTS:
        path = folder / f"{name}.json"
        table = read_json(path, f"{name} scores file")
        if not isinstance(table, dict):
            raise AnalysisError(f"{path} must be a JSON object {{game: [score]}}")
        for game in bench.games:
            if game not in table:
                raise AnalysisError(f"{path} has no score for game {game!r}, needed to normalise {bench.name} scores")
        values[name] = {g: finite_numbers(table[g], f"{path}: {g}")[0] for g in bench.games}
    for game in bench.games:
        if values["HUMAN"][game] == values["RANDOM"][game]:
            raise AnalysisError(f"HUMAN and RANDOM scores of {game!r} are equal; the normalised score is undefined")
    return Normaliser(values["RANDOM"], values["HUMAN"])


def final_matrix(algo: AlgorithmData, games: tuple[str, ...], normalise: Normaliser) -> np.ndarray:
    """Normalised final scores, (runs, games); every game needs the same number of runs."""
    missing = [g for g in games if g not in algo.finals]
    if missing:
        raise AnalysisError(f"{algo.name} ({algo.source}) has no scores for {missing}; evaluate those runs or "
                            "restrict the benchmark's `games` in config/analysis.yaml")
    counts = {g: len(algo.finals[g]) for g in games}
    if len(set(counts.values())) != 1:
        raise AnalysisError(f"{algo.name} ({algo.source}) has different numbers of runs per game: {counts}")
    return np.stack([normalise(g, np.asarray(algo.finals[g])) for g in games], axis=1)


def curve_matrix(algo: AlgorithmData, games: tuple[str, ...], normalise: Normaliser
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """(env steps (K,), normalised scores (runs, games, K)) at the evaluation steps all runs share; None if none."""
    if any(not algo.curves.get(g) for g in games):
        return None
    runs = [algo.curves[g] for g in games]
    if len({len(r) for r in runs}) != 1:
        return None
    common = sorted(set.intersection(*(set(steps) for per_game in runs for steps, _ in per_game)))
    if not common:
        return None
    values = np.empty((len(runs[0]), len(games), len(common)))
    for j, (game, per_game) in enumerate(zip(games, runs)):
        for i, (steps, returns) in enumerate(per_game):
            by_step = dict(zip(steps, returns))
            values[i, j] = normalise(game, np.asarray([by_step[s] for s in common], dtype=float))
    return np.asarray(common), values
