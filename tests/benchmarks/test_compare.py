"""benchmarks/compare.py: interleaved ref/head step times as one JSON line per configuration."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.compare import parse_config

ROOT = Path(__file__).resolve().parents[2]


def test_compare_against_head_prints_a_json_line_per_configuration():
    cmd = [sys.executable, "-m", "benchmarks.compare", "--ref", "HEAD", "--config", "cartpole:actor_critic:2",
           "--scale", "smoke", "--repeats", "1", "--steps", "1",
           "--threads", "1", "--episodes", "2", "--rows", "30"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["config"] for r in rows] == ["cartpole:actor_critic:2"]
    for r in rows:
        assert set(r) == {"config", "ref_s", "head_s", "ratio", "ref_rss_gb", "head_rss_gb"}
        assert r["ref_s"] > 0 and r["head_s"] > 0 and r["ratio"] == pytest.approx(r["ref_s"] / r["head_s"])
        assert 0 < r["ref_rss_gb"] < 64 and 0 < r["head_rss_gb"] < 64
    worktrees = subprocess.run(["git", "worktree", "list"], cwd=ROOT, capture_output=True, text=True).stdout
    assert "m3-compare-" not in worktrees  # the reference worktree is removed


@pytest.mark.parametrize("text", ["atari:world_model", "pong:world_model:4", "atari:policy:4", "atari:tokenizer:0"])
def test_a_bad_configuration_is_refused_naming_what_is_allowed(text):
    with pytest.raises(ValueError, match="benchmark:component:batch"):
        parse_config(text)


def test_an_unknown_reference_stops_before_any_work():
    out = subprocess.run([sys.executable, "-m", "benchmarks.compare", "--ref", "no-such-commit"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "--ref 'no-such-commit' is not a commit" in out.stderr
