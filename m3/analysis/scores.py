"""Per-run scores files (`results/scores/<benchmark>/<game>/seed<k>.json`, written by `m3.evaluate`): load and check.

A scores file holds one run's final evaluation (design §8.4: the mean return of the last model over the
final test episodes) with its per-episode returns, and the run's periodic evaluations (`curve`). Every
check failure is one `AnalysisError` naming the file and the key.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m3.analysis.params import AnalysisError

SEED_FILE = re.compile(r"seed(\d+)\.json")
REQUIRED = {"benchmark": str, "game": str, "seed": int, "returns": list, "mean_return": (int, float),
            "num_episodes": int, "checkpoint_sha256": str, "epoch": int, "code_version": str, "curve": dict}


@dataclass(frozen=True)
class Curve:
    """Periodic evaluations of one run: mean test return after each listed epoch."""

    epochs: tuple[int, ...]
    env_steps: tuple[int, ...]
    returns: tuple[float, ...]


@dataclass(frozen=True)
class RunScores:
    path: Path
    game: str
    seed: int
    score: float  # the final score: mean return over the final test episodes
    curve: Curve
    record: dict[str, Any]  # the whole file, kept for the companion file of the aggregate


def read_json(path: Path, what: str) -> Any:
    """Parse a JSON file; a missing or unreadable file is one error naming it."""
    if not path.is_file():
        raise AnalysisError(f"{what} {path} does not exist")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AnalysisError(f"{what} {path} is not valid JSON: {e}") from e


def finite_numbers(values: Any, where: str) -> list[float]:
    """`values` as floats, or an error naming `where` if it is not a non-empty list of finite numbers."""
    if not isinstance(values, list) or not values:
        raise AnalysisError(f"{where} must be a non-empty list of numbers, got {values!r:.80}")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise AnalysisError(f"{where} has {v!r}, which is not a finite number")
    return [float(v) for v in values]


def load_run(path: Path, benchmark: str, games: tuple[str, ...]) -> RunScores:
    """Load one scores file and check it against its place `<benchmark>/<game>/seed<k>.json`."""
    record = read_json(path, "scores file")
    if not isinstance(record, dict):
        raise AnalysisError(f"scores file {path} must hold a JSON object")
    for key, types in REQUIRED.items():
        if key not in record:
            raise AnalysisError(f"scores file {path} has no key {key!r}")
        value = record[key]
        if not isinstance(value, types) or isinstance(value, bool):
            raise AnalysisError(f"scores file {path}: {key}={value!r:.80} has the wrong type")
    seed_match = SEED_FILE.fullmatch(path.name)
    expected = {"benchmark": benchmark, "game": path.parent.name,
                "seed": int(seed_match.group(1)) if seed_match else None}
    for key, value in expected.items():
        if record[key] != value:
            raise AnalysisError(f"scores file {path}: {key}={record[key]!r} does not match its place in the "
                                f"scores folder ({value!r}); the layout is <benchmark>/<game>/seed<k>.json")
    if record["game"] not in games:
        raise AnalysisError(f"scores file {path}: unknown {benchmark} game {record['game']!r}; "
                            f"known games: {list(games)}")
    returns = finite_numbers(record["returns"], f"scores file {path}: returns")
    if len(returns) != record["num_episodes"]:
        raise AnalysisError(f"scores file {path}: num_episodes={record['num_episodes']} but {len(returns)} returns")
    score = float(record["mean_return"])
    if not math.isclose(score, sum(returns) / len(returns), rel_tol=1e-6, abs_tol=1e-6):
        raise AnalysisError(f"scores file {path}: mean_return={score} is not the mean of its returns")
    return RunScores(path, record["game"], record["seed"], score, _curve(record["curve"], path), record)


def _curve(raw: dict, path: Path) -> Curve:
    columns = {}
    for key in ("epochs", "env_steps", "returns"):
        if not isinstance(raw.get(key), list):
            raise AnalysisError(f"scores file {path}: curve.{key} must be a list")
        columns[key] = raw[key]
    if len({len(c) for c in columns.values()}) != 1:
        raise AnalysisError(f"scores file {path}: curve.epochs, curve.env_steps and curve.returns differ in length")
    if not columns["epochs"]:
        return Curve((), (), ())
    epochs = finite_numbers(columns["epochs"], f"scores file {path}: curve.epochs")
    if any(b <= a for a, b in zip(epochs, epochs[1:])):
        raise AnalysisError(f"scores file {path}: curve.epochs must increase")
    steps = finite_numbers(columns["env_steps"], f"scores file {path}: curve.env_steps")
    returns = finite_numbers(columns["returns"], f"scores file {path}: curve.returns")
    return Curve(tuple(int(e) for e in epochs), tuple(int(s) for s in steps), tuple(returns))


def final_curve(epochs: list[int], xs: list[int], returns: list[float], final_epoch: int, final_x: int,
                final_score: float) -> tuple[list[int], list[float]]:
    """A run's curve that ends with its final evaluation (§8.4), alike on every benchmark: the periodic
    evaluations before `final_epoch` (at `xs`: epochs or env steps), then `final_score` at `final_x`. The
    final evaluation replaces a periodic one of the final epoch (the last model, evaluated on more episodes)."""
    points = [(x, r) for e, x, r in zip(epochs, xs, returns) if e < final_epoch]
    points.append((final_x, final_score))
    return [x for x, _ in points], [r for _, r in points]


def collect_runs(scores_dir: Path, benchmark: str, games: tuple[str, ...]) -> list[RunScores]:
    """All scores files of a benchmark, in game order then seed order. Any other JSON file there is an error."""
    if not scores_dir.is_dir():
        raise AnalysisError(f"scores folder {scores_dir} does not exist")
    runs = []
    for path in sorted(scores_dir.rglob("*.json")):
        if path.parent.parent != scores_dir or not SEED_FILE.fullmatch(path.name):
            raise AnalysisError(f"unexpected file {path}: scores files are {scores_dir}/<game>/seed<k>.json")
        runs.append(load_run(path, benchmark, games))
    return sorted(runs, key=lambda r: (games.index(r.game), r.seed))
