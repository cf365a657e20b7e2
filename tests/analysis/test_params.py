"""config/analysis.yaml: the analysis' own game lists (DVC parameters, so a changed list reruns the stages that
read it) hold exactly the env registry's games, so the two cannot drift apart."""

from __future__ import annotations

from analysis_helpers import ROOT

from m3.analysis.params import load_params
from m3.envs import games


def test_analysis_games_are_the_registry_games():
    params = load_params(ROOT / "config" / "analysis.yaml")
    for benchmark, p in params.benchmarks.items():
        assert list(p.games) == list(games(benchmark)), benchmark
