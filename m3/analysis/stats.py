"""Aggregate statistics with rliable (design §9.3), always with a fixed random state.

Score matrices are (runs, games) of normalised scores, curves (runs, games, K). Every bootstrap starts
from the same seed, per algorithm or pair, so an interval does not depend on which other algorithms are
analysed. rliable 1.2.0 takes `random_state=np.random.RandomState(seed)`, but its stratified bootstraps
draw their resampling indices from numpy's *global* generator (`np.random.choice` in
`StratifiedBootstrap` / `StratifiedIndependentBootstrap`), so the random state alone leaves intervals
changing from call to call: each bootstrap here also seeds the global generator, and restores its state
afterwards. (`rly.create_performance_profile` takes no random state, so profiles call
`rly.get_interval_estimates` with rliable's own profile function.)
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Callable

import numpy as np
import scipy.stats
from rliable import library as rly
from rliable import metrics

from m3.analysis.params import StatisticsParams


def metric_functions(names: tuple[str, ...], gamma: float | None) -> Callable[[np.ndarray], np.ndarray]:
    """(runs, games) → the named aggregate metrics, in order (rliable's definitions)."""
    table = {
        "IQM": metrics.aggregate_iqm,
        "Median": metrics.aggregate_median,
        "Mean": metrics.aggregate_mean,
        "Optimality Gap": lambda s: metrics.aggregate_optimality_gap(s, gamma),
    }
    chosen = [table[n] for n in names]
    return lambda scores: np.array([f(scores) for f in chosen])


@contextmanager
def _reproducible(seed: int):
    """Seed numpy's global generator (restored on exit); silence arch's deprecation of `random_state`,
    which rliable 1.2.0 still passes on every bootstrap."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
            yield
    finally:
        np.random.set_state(state)


def _estimate(data: np.ndarray | tuple[np.ndarray, np.ndarray], func: Callable, reps: int,
              stats: StatisticsParams) -> tuple[np.ndarray, np.ndarray]:
    with _reproducible(stats.seed):
        point, interval = rly.get_interval_estimates(
            {"x": data}, func, reps=reps, confidence_interval_size=stats.confidence,
            random_state=np.random.RandomState(stats.seed))
    return np.asarray(point["x"]), np.asarray(interval["x"])


def interval_estimates(scores: np.ndarray, names: tuple[str, ...], gamma: float | None,
                       stats: StatisticsParams) -> tuple[np.ndarray, np.ndarray]:
    """Point estimates (M,) and stratified-bootstrap intervals (2, M) of the named metrics."""
    return _estimate(scores, metric_functions(names, gamma), stats.interval_reps, stats)


def performance_profile(scores: np.ndarray, tau: np.ndarray, stats: StatisticsParams
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of runs (over all games) with score > tau, (T,), and its intervals (2, T)."""
    return _estimate(scores, lambda s: rly.score_distributions(s, tau), stats.profile_reps, stats)


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) averaged over games, ties counting one half: rliable's Mann-Whitney definition, vectorised.

    x: (runs_x, games), y: (runs_y, games).
    """
    diff = x[:, None, :] - y[None, :, :]  # (runs_x, runs_y, games)
    per_game = (diff > 0).mean(axis=(0, 1)) + 0.5 * (diff == 0).mean(axis=(0, 1))
    return float(per_game.mean())


def improvement_estimate(x: np.ndarray, y: np.ndarray, stats: StatisticsParams) -> tuple[float, np.ndarray]:
    """P(X > Y) and its stratified independent-bootstrap interval (2,)."""
    point, interval = _estimate((x, y), probability_of_improvement, stats.improvement_reps, stats)
    return float(point), interval.reshape(2)


def iqm_curve(values: np.ndarray, stats: StatisticsParams) -> tuple[np.ndarray, np.ndarray]:
    """IQM over runs × games at each evaluation point: values (runs, games, K) → (K,) and intervals (2, K)."""
    def func(s: np.ndarray) -> np.ndarray:  # rliable's aggregate_iqm at every point at once
        return scipy.stats.trim_mean(s.reshape(-1, s.shape[-1]), 0.25, axis=0)
    return _estimate(values, func, stats.curve_reps, stats)


def superhuman_games(scores: np.ndarray) -> int:
    """Games whose mean human-normalised score over runs is at least 1 (§9.3)."""
    return int((scores.mean(axis=0) >= 1.0).sum())
