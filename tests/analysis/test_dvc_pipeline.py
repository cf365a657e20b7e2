"""The DVC side end to end, in a temporary git repository with the project's dvc.yaml, .dvc/config, results
skeleton and shipped published baselines, offline: `dvc repro` building every figure, `dvc metrics show` and
`dvc plots show` (its page under results/plots), a changed score rebuilding only its benchmark, and final weights
tracked, pushed to the default (local) remote and pulled into a fresh clone byte for byte."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from analysis_helpers import PUBLISHED, ROOT, fast_params_file, write_atari_runs

from m3.agent import Agent
from m3.config import load_config
from m3.envs import registry
from m3.weights import load_agent, save_weights

STAGES = [f"{s}@{b}" for s in ("aggregate", "figures") for b in ("atari", "dmc", "craftax")]
FILES = ["dvc.yaml", ".dvcignore", ".dvc/config", ".dvc/.gitignore"]
SKELETON = ("scores", "data")  # results/<these>: only .gitignore and .gitkeep files


def sh(args, cwd, env):
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dvc")
    repo = tmp / "repo"
    skeleton = [p for sub in SKELETON for p in (ROOT / "results" / sub).rglob("*")
                if p.is_file() and p.name.endswith((".dvc", ".gitignore", ".gitkeep"))]
    for src in [ROOT / f for f in FILES] + skeleton:
        dst = repo / src.relative_to(ROOT)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    shutil.copytree(ROOT / "m3", repo / "m3", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PUBLISHED, repo / "results" / "published")
    shutil.copy(ROOT / ".gitignore", repo)
    (repo / "config").mkdir()
    fast_params_file(repo / "config")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
           "MPLBACKEND": "Agg", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    sh(["git", "init", "-q"], repo, env)
    write_atari_runs(repo / "results" / "scores" / "atari")
    return tmp, repo, env


@pytest.mark.slow
def test_repro_builds_figures_then_rebuilds_only_what_a_changed_score_touches(repo):
    tmp, repo, env = repo
    sh(["dvc", "repro"], repo, env)
    for benchmark in ("atari", "dmc", "craftax"):
        for name in ("aggregates", "profile", "improvement", "per_game", "curves"):
            assert (repo / "results" / "figures" / benchmark / f"{name}.png").stat().st_size > 1000
    metrics = sh(["dvc", "metrics", "show", "--json"], repo, env)
    assert '"iqm": 0.9904' in metrics and '"superhuman": 13' in metrics and '"mean_percent_of_max": 6.59' in metrics
    assert "index.html" in sh(["dvc", "plots", "show"], repo, env)
    assert (repo / "results" / "plots" / "index.html").is_file()
    assert "!! results/plots/" in sh(["git", "status", "--porcelain", "--ignored"], repo, env).splitlines()
    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "pipeline"], repo, env)
    assert "up to date" in sh(["dvc", "status"], repo, env)

    path = repo / "results" / "scores" / "atari" / "Pong" / "seed0.json"
    record = json.loads(path.read_text())
    record.update(returns=[21.0], num_episodes=1, mean_return=21.0)
    path.write_text(json.dumps(record))
    out = sh(["dvc", "repro"], repo, env)
    ran = {s for s in STAGES if f"Running stage '{s}'" in out}
    skipped = {s for s in STAGES if f"Stage '{s}' didn't change, skipping" in out}
    assert ran == {"aggregate@atari", "figures@atari"} and skipped == set(STAGES) - ran
    assert json.loads((repo / "results/data/atari/M3-repro.json").read_text())["Pong"][0] == 21.0


@pytest.mark.slow
def test_weights_are_pushed_and_pulled_into_a_fresh_clone(repo):
    tmp, repo, env = repo
    cfg = load_config(["benchmark=cartpole", "scale=smoke", "seed=0", f"run_dir={tmp / 'run'}"])
    torch.manual_seed(0)
    agent = Agent(cfg, registry.env_spec(cfg.benchmark, cfg.env))
    runs = repo / "results" / "runs" / "atari"
    for game in ("Pong", "Breakout"):
        save_weights(runs / game / "seed0" / "weights.pt", cfg, agent.state_dict(), epoch=3, code_version="abc")
    (runs / "Pong" / "seed0" / "done").touch()  # Breakout/seed0 has not finished: not tracked
    out = sh([sys.executable, "-m", "m3.analysis.track", "atari"], repo, env)
    assert "skipped (not finished)" in out and "1 runs tracked" in out and "pushed" in out
    assert (repo / "results/weights/atari.dvc").is_file()
    assert any((tmp / "m3-dvc-remote").rglob("*")), "nothing was pushed to the default remote ../m3-dvc-remote"

    sh(["git", "add", "-A"], repo, env)
    sh(["git", "commit", "-qm", "weights"], repo, env)
    clone = tmp / "clone"
    sh(["git", "clone", "-q", str(repo), str(clone)], tmp, env)
    assert not (clone / "results/weights/atari/Pong/seed0.pt").exists()
    sh(["dvc", "pull", "results/weights/atari.dvc"], clone, env)
    pulled = clone / "results/weights/atari/Pong/seed0.pt"
    original = runs / "Pong" / "seed0" / "weights.pt"
    assert hashlib.sha256(pulled.read_bytes()).hexdigest() == hashlib.sha256(original.read_bytes()).hexdigest()
    assert not (clone / "results/weights/atari/Breakout").exists()
    loaded, info = load_agent(pulled)
    assert info.epoch == 3
    for key, value in agent.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
