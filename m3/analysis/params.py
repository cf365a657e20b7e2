"""The analysis parameters (`config/analysis.yaml`, the params file of `dvc.yaml`), typed and checked.

Every key is documented in the YAML file. Loading fails with one `AnalysisError` naming the key and
what is allowed, before any statistics run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

OURS = "M3-repro"  # the algorithm name of this project's runs (results/data/<benchmark>/M3-repro.json)
METRICS = ("IQM", "Median", "Mean", "Optimality Gap")
NORMALISATIONS = ("human", "none")


class AnalysisError(ValueError):
    """Bad input to the analysis: the message names the file or key and what is expected."""


@dataclass(frozen=True)
class StatisticsParams:
    seed: int
    interval_reps: int
    profile_reps: int
    improvement_reps: int
    curve_reps: int
    confidence: float


@dataclass(frozen=True)
class BenchmarkParams:
    name: str
    title: str  # figure and table titles, e.g. "Atari 100K"
    normalisation: str  # "human" (Atari HNS) or "none" (raw returns)
    score_label: str
    metrics: tuple[str, ...]
    optimality_gamma: float | None
    tau: np.ndarray  # (num,) performance-profile thresholds
    steps_per_epoch: int
    env_steps: int  # the benchmark's budget of env steps (the x-axis of curves files without a step axis)
    max_return: float | None  # the highest possible return, for a "% of maximum" column (Craftax: 226)
    games: tuple[str, ...]


@dataclass(frozen=True)
class TrackingParams:
    checkpoints: bool
    dataset: bool


@dataclass(frozen=True)
class AnalysisParams:
    statistics: StatisticsParams
    dpi: int
    colors: dict[str, str]  # algorithm -> colour, in legend order
    benchmarks: dict[str, BenchmarkParams]
    tracking: TrackingParams

    def benchmark(self, name: str) -> BenchmarkParams:
        if name not in self.benchmarks:
            raise AnalysisError(f"unknown benchmark {name!r}; the params file defines {sorted(self.benchmarks)}")
        return self.benchmarks[name]

    def check_algorithm(self, name: str, origin: str | Path) -> None:
        if name not in self.colors:
            raise AnalysisError(f"unknown algorithm {name!r} ({origin}); known algorithms: {list(self.colors)}. "
                                "Add it with a colour under `algorithms` in config/analysis.yaml")


def load_params(path: str | Path) -> AnalysisParams:
    """Read and check the params file."""
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"params file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise AnalysisError(f"params file {path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise AnalysisError(f"params file {path} must be a mapping")
    get = _Getter(raw, path)
    stats = StatisticsParams(
        seed=get.integer("statistics.seed", low=0), interval_reps=get.integer("statistics.interval_reps", low=1),
        profile_reps=get.integer("statistics.profile_reps", low=1),
        improvement_reps=get.integer("statistics.improvement_reps", low=1),
        curve_reps=get.integer("statistics.curve_reps", low=1), confidence=get.number("statistics.confidence"))
    if not 0 < stats.confidence < 1:
        raise AnalysisError(f"{path}: statistics.confidence={stats.confidence} must lie strictly between 0 and 1")
    colors = get.mapping("algorithms")
    if OURS not in colors:
        raise AnalysisError(f"{path}: `algorithms` must include {OURS!r} (this project's runs)")
    benchmarks = {name: _benchmark(get, name) for name in get.mapping("benchmarks")}
    tracking = TrackingParams(get.flag("tracking.checkpoints"), get.flag("tracking.dataset"))
    return AnalysisParams(stats, get.integer("figures.dpi", low=10), {str(k): str(v) for k, v in colors.items()},
                          benchmarks, tracking)


def _benchmark(get: _Getter, name: str) -> BenchmarkParams:
    key = f"benchmarks.{name}"
    normalisation = get.text(f"{key}.normalisation")
    if normalisation not in NORMALISATIONS:
        raise AnalysisError(f"{get.path}: {key}.normalisation={normalisation!r}; choose one of {list(NORMALISATIONS)}")
    metrics = tuple(get.items(f"{key}.metrics"))
    for m in metrics:
        if m not in METRICS:
            raise AnalysisError(f"{get.path}: {key}.metrics has {m!r}; choose from {list(METRICS)}")
    gamma = get.raw(f"{key}.optimality_gamma")
    if "Optimality Gap" in metrics and not isinstance(gamma, (int, float)):
        raise AnalysisError(f"{get.path}: {key}.optimality_gamma must be a number when metrics include Optimality Gap")
    start, stop = get.number(f"{key}.tau.start"), get.number(f"{key}.tau.stop")
    num = get.integer(f"{key}.tau.num", low=2)
    max_return = get.raw(f"{key}.max_return")
    if max_return is not None and (isinstance(max_return, bool) or not isinstance(max_return, (int, float))
                                   or max_return <= 0):
        raise AnalysisError(f"{get.path}: {key}.max_return={max_return!r} must be a positive number or null")
    games = tuple(str(g) for g in get.items(f"{key}.games"))
    if not games or len(set(games)) != len(games):
        raise AnalysisError(f"{get.path}: {key}.games must be a non-empty list of distinct names")
    return BenchmarkParams(name, get.text(f"{key}.title"), normalisation, get.text(f"{key}.score_label"), metrics,
                           None if gamma is None else float(gamma), np.linspace(start, stop, num),
                           get.integer(f"{key}.steps_per_epoch", low=1), get.integer(f"{key}.env_steps", low=1),
                           None if max_return is None else float(max_return), games)


class _Getter:
    """Typed access to dotted keys of the raw YAML, each failure naming the file and key."""

    def __init__(self, raw: dict, path: Path):
        self.data, self.path = raw, path

    def raw(self, key: str):
        node = self.data
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise AnalysisError(f"params file {self.path} has no key {key!r}")
            node = node[part]
        return node

    def _typed(self, key: str, types: tuple[type, ...], what: str):
        value = self.raw(key)
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):  # YAML true is no int
            raise AnalysisError(f"params file {self.path}: {key}={value!r} must be {what}")
        return value

    def integer(self, key: str, low: int) -> int:
        value = self._typed(key, (int,), "an integer")
        if value < low:
            raise AnalysisError(f"params file {self.path}: {key}={value} must be at least {low}")
        return value

    def number(self, key: str) -> float:
        return float(self._typed(key, (int, float), "a number"))

    def flag(self, key: str) -> bool:
        return self._typed(key, (bool,), "true or false")

    def text(self, key: str) -> str:
        return self._typed(key, (str,), "a string")

    def items(self, key: str) -> list:
        return self._typed(key, (list,), "a list")

    def mapping(self, key: str) -> dict:
        return self._typed(key, (dict,), "a mapping")
