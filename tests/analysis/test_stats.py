"""rliable statistics (design §9.2, §9.3): the published Atari aggregates, and each estimate against an independent
reference (rliable's own functions, or plain numpy)."""

import json

import numpy as np
import pytest
from analysis_helpers import PUBLISHED, ROOT
from rliable import library as rly
from rliable import metrics

from m3.analysis import stats
from m3.analysis.algorithms import final_matrix, load_published
from m3.analysis.params import StatisticsParams, load_params

STATS = StatisticsParams(seed=3, interval_reps=300, profile_reps=100, improvement_reps=100, curve_reps=100,
                         confidence=0.95)


@pytest.fixture(scope="module")
def atari():
    params = load_params(ROOT / "config" / "analysis.yaml")
    bench = params.benchmark("atari")
    algos, normalise = load_published(PUBLISHED / "atari", params, bench)
    return bench, {a.name: final_matrix(a, bench.games, normalise) for a in algos}


def test_published_atari_aggregates_of_m3(atari):
    bench, matrices = atari
    m3 = matrices["M3"]
    assert m3.shape == (5, 26)
    iqm, median, mean, gap = stats.metric_functions(("IQM", "Median", "Mean", "Optimality Gap"), 1.0)(m3)
    assert (round(iqm, 3), round(median, 3), round(mean, 3), round(gap, 3)) == (0.990, 0.982, 1.645, 0.412)
    assert stats.superhuman_games(m3) == 13
    assert round(float(metrics.aggregate_iqm(matrices["REM"])), 3) == 0.673  # §9.2
    assert stats.superhuman_games(matrices["REM"]) == 12


def test_hns_is_computed_from_human_and_random(atari):
    bench, matrices = atari
    # Pong: RANDOM -20.7, HUMAN 14.6 (the published constants)
    raw = json.loads((PUBLISHED / "atari" / "M3.json").read_text())["Pong"][0]
    j = bench.games.index("Pong")
    assert matrices["M3"][0, j] == pytest.approx((raw + 20.7) / (14.6 + 20.7))


@pytest.mark.filterwarnings("ignore:random_state is deprecated")
def test_intervals_are_rliable_with_a_fixed_random_state(atari):
    _, matrices = atari
    m3 = matrices["M3"]
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    point, interval = stats.interval_estimates(m3, ("IQM", "Mean"), None, STATS)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # the global generator is left as it was
    np.random.seed(3)  # rliable 1.2.0 resamples with the global generator, whatever random_state says
    ref_point, ref_interval = rly.get_interval_estimates(
        {"M3": m3}, lambda s: np.array([metrics.aggregate_iqm(s), metrics.aggregate_mean(s)]), reps=300,
        random_state=np.random.RandomState(3))
    np.testing.assert_allclose(point, ref_point["M3"])
    np.testing.assert_allclose(interval, ref_interval["M3"])
    assert interval.shape == (2, 2) and np.all(interval[0] <= point) and np.all(point <= interval[1])
    np.random.seed(999)  # whatever the global generator holds, the same intervals
    again = stats.interval_estimates(m3, ("IQM", "Mean"), None, STATS)[1]
    np.testing.assert_array_equal(interval, again)
    other_seed = stats.interval_estimates(m3, ("IQM", "Mean"), None, StatisticsParams(**{**STATS.__dict__, "seed": 4}))
    assert not np.array_equal(interval, other_seed[1])


def test_probability_of_improvement_matches_rliable_including_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(5, 7)).astype(float)  # small integers: many ties
    y = rng.integers(0, 5, size=(3, 7)).astype(float)
    y[:, 0] = x[:3, 0]
    assert stats.probability_of_improvement(x, y) == pytest.approx(metrics.probability_of_improvement(x, y))
    assert stats.probability_of_improvement(x, x) == pytest.approx(0.5)
    point, interval = stats.improvement_estimate(x, y, STATS)
    assert point == pytest.approx(metrics.probability_of_improvement(x, y))
    assert interval.shape == (2,) and interval[0] <= point <= interval[1]


def test_performance_profile_is_the_fraction_of_runs_above_tau(atari):
    _, matrices = atari
    tau = np.linspace(0, 8, 17)
    profile, interval = stats.performance_profile(matrices["IRIS"], tau, STATS)
    expected = [(matrices["IRIS"] > t).mean() for t in tau]
    np.testing.assert_allclose(profile, expected)
    assert interval.shape == (2, 17) and np.all(np.diff(profile) <= 0)


def test_iqm_curve_is_the_iqm_at_each_point():
    rng = np.random.default_rng(1)
    values = rng.normal(size=(4, 6, 5)).cumsum(axis=2)  # (runs, games, points)
    point, interval = stats.iqm_curve(values, STATS)
    for k in range(5):
        flat = np.sort(values[..., k].ravel())
        assert point[k] == pytest.approx(flat[6:18].mean())  # 25 % trimmed mean of 24 values
    assert interval.shape == (2, 5)
