"""Algorithms' results files (ours and the published baselines) → score matrices for rliable (spec §9.1, §9.2).

Formats (§9.1): `{game: [final score per run]}`, or, for Craftax, a list of runs
`{"eval_epochs": [...], "eval_scores": [...]}` (the last entry is the final evaluation). Atari scores
are human-normalised, (score − RANDOM) / (HUMAN − RANDOM), from `HUMAN.json` / `RANDOM.json` beside
the published baselines; the other benchmarks use raw returns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from m3.analysis.params import OURS, AnalysisError, AnalysisParams, BenchmarkParams
from m3.analysis.scores import finite_numbers, read_json

CONSTANTS = ("HUMAN", "RANDOM")  # normalisation constants among the published Atari files


@dataclass
class AlgorithmData:
    """One algorithm's raw scores: final score per run and game, and (where known) per-run learning curves."""

    name: str
    source: Path
    finals: dict[str, list[float]]
    curves: dict[str, list[tuple[list[int], list[float]]]] = field(default_factory=dict)  # game -> [(steps, returns)]


@dataclass
class Normaliser:
    """Raw score → the benchmark's reported score: HNS for Atari, identity otherwise."""

    random: dict[str, float] | None = None
    human: dict[str, float] | None = None

    def __call__(self, game: str, values: np.ndarray) -> np.ndarray:
        if self.random is None or self.human is None:
            return values
        return (values - self.random[game]) / (self.human[game] - self.random[game])


def load_results_file(path: Path, name: str, bench: BenchmarkParams) -> AlgorithmData:
    raw = read_json(path, "results file")
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
    """This project's aggregate (`M3-repro.json`), with curves from its companion file; None without runs."""
    ours = load_results_file(data_dir / f"{OURS}.json", OURS, bench)
    if not ours.finals:
        return None
    if not ours.curves:
        path = data_dir / f"{OURS}.runs.json"
        companion = read_json(path, "companion file")
        runs = companion.get("runs") if isinstance(companion, dict) else None
        if not isinstance(runs, list):
            raise AnalysisError(f"companion file {path} must be an object with a list `runs` (rerun aggregate)")
        for run in runs:
            curve = run.get("curve") or {}
            if curve.get("env_steps"):
                ours.curves.setdefault(run["game"], []).append((curve["env_steps"], curve["returns"]))
    return ours


def load_published(published_dir: Path, params: AnalysisParams, bench: BenchmarkParams
                   ) -> tuple[list[AlgorithmData], Normaliser]:
    """Every published baseline in the folder (names checked against the params) and the normaliser."""
    if not published_dir.is_dir():
        raise AnalysisError(f"published folder {published_dir} does not exist")
    for pointer in sorted(published_dir.glob("*.json.dvc")):
        if not pointer.with_suffix("").exists():
            raise AnalysisError(f"{pointer.with_suffix('')} is not in the workspace: run `dvc pull {published_dir}` "
                                "(offline: `python -m m3.analysis.published --source <folder of copies>`)")
    algorithms = []
    for path in sorted(published_dir.glob("*.json")):
        if path.stem in CONSTANTS:
            continue
        if path.stem == OURS:
            raise AnalysisError(f"{path}: {OURS} is the name of this project's runs, not of a published baseline")
        params.check_algorithm(path.stem, path)
        algorithms.append(load_results_file(path, path.stem, bench))
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
