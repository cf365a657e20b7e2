"""The DAG the Snakefile plans (real `snakemake -n`): the paper matrix, the smoke matrix, the wildcard-free target
rules, a clean `--lint`, the README's literal commands with the profiles `make install-profiles` links, and the
slurm profile's Apptainer switch."""

from __future__ import annotations

import re
from collections import Counter

import yaml
import yte
from workflow_testing import REPO, install_profiles, snakemake

from m3 import envs

CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def planned(output: str, rule: str) -> list[dict[str, str]]:
    """The wildcards of every job of `rule` in a dry-run's output."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        if block.startswith(f"rule {rule}:") or block.startswith(f"localrule {rule}:"):
            found = re.search(r"^\s+wildcards: (.*)$", block, re.M)
            jobs.append(dict(item.split("=", 1) for item in found.group(1).split(", ")) if found else {})
    return jobs


def test_paper_scale_plans_every_game_and_seed(workflow_dir):
    done = snakemake(workflow_dir, "-n", "all", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    train = planned(done.stdout, "train")
    assert Counter(job["benchmark"] for job in train) == {"atari": 26 * 5, "dmc": 18 * 5, "craftax": 5}
    for bench in ("atari", "dmc", "craftax"):
        runs = {(job["game"], int(job["seed"])) for job in train if job["benchmark"] == bench}
        assert runs == {(g, s) for g in envs.games(bench) for s in range(5)}
    assert len(planned(done.stdout, "evaluate")) == 225
    assert sorted(job["benchmark"] for job in planned(done.stdout, "publish")) == ["atari", "craftax", "dmc"]
    assert "results/runs/atari/Breakout/seed3/done" in done.stdout
    assert "device=cuda wandb.mode=offline" in done.stdout and "scale=paper" in done.stdout


def test_smoke_scale_plans_one_game_per_benchmark_under_results_smoke(workflow_dir):
    done = snakemake(workflow_dir, "-n", "--config", "scale=smoke", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    train = planned(done.stdout, "train")
    assert sorted((j["benchmark"], j["game"], j["seed"]) for j in train) == [
        ("atari", "Pong", "0"), ("craftax", "Craftax-Symbolic-v1", "0"), ("dmc", "cartpole-balance", "0")]
    assert sorted(j["benchmark"] for j in planned(done.stdout, "smoke_figures")) == ["atari", "craftax", "dmc"]
    assert not planned(done.stdout, "publish"), "smoke runs are not versioned"
    assert "results/smoke/runs/atari/Pong/seed0/done" in done.stdout and "device=cpu" in done.stdout


def test_small_scale_plans_the_paper_matrix_under_results_small_unpublished(workflow_dir):
    done = snakemake(workflow_dir, "-n", "--config", "scale=small", "device=cpu", "--", "all_dmc", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    train = planned(done.stdout, "train")
    assert {(j["game"], int(j["seed"])) for j in train} == {(g, s) for g in envs.games("dmc")
                                                              for s in CONFIG["seeds"]}
    assert not planned(done.stdout, "publish"), "small-model runs are not versioned"
    assert "results/small/runs/dmc/walker-walk/seed0/done" in done.stdout
    assert "scale=small device=cpu" in done.stdout


def test_target_rules_and_lint():
    listed = snakemake(REPO, "--list-target-rules", timeout=300)
    assert listed.returncode == 0, listed.stderr[-3000:]
    rules = set(listed.stdout.split())
    assert {"all", "all_atari", "all_dmc", "all_craftax", "train_craftax_seed0", "train_atari_Breakout_seed0",
            "train_atari_seed0", "eval_atari_Breakout_seed0", "eval_atari_seed0", "eval_craftax_seed4",
            "train_dmc_cheetah-run_seed2", "eval_dmc_seed1"} <= rules
    assert len([r for r in rules if r.startswith("train_")]) == 225 + 3 * 5
    lint = snakemake(REPO, "--lint", timeout=300)
    assert lint.returncode == 0 and "Congratulations, your workflow is in a good condition!" in lint.stderr, \
        lint.stdout[-3000:] + lint.stderr[-3000:]


def test_per_seed_target_plans_every_game_of_that_seed(workflow_dir):
    done = snakemake(workflow_dir, "-n", "train_atari_seed0", timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(j["game"] for j in planned(done.stdout, "train")) == sorted(envs.games("atari"))
    assert {j["seed"] for j in planned(done.stdout, "train")} == {"0"}


def test_readme_commands_with_installed_profiles(workflow_dir, tmp_path):
    xdg = tmp_path / "xdg"
    install_profiles(xdg)
    env = {"XDG_CONFIG_HOME": str(xdg), "SBATCH_PARTITION": "gpu", "SBATCH_ACCOUNT": "m3lab", "M3_APPTAINER": "0"}
    slurm = snakemake(workflow_dir, "--profile", "slurm", "all_atari", "-n", env=env, timeout=300)
    assert slurm.returncode == 0, slurm.stderr[-3000:]
    train = re.findall(r"rule train:.*?resources: ([^\n]*)", slurm.stdout, re.S)
    assert len(train) == 130
    assert all("slurm_partition=gpu, slurm_account=m3lab, runtime=1440, gpu=1" in r for r in train), train[0]
    local = snakemake(workflow_dir, "--profile", "local", "train_atari_seed0", "-n", env={**env, "M3_GPU_IDS": "0,1"},
                      timeout=300)
    assert local.returncode == 0 and len(planned(local.stdout, "train")) == 26, local.stderr[-3000:]
    plain = snakemake(workflow_dir, "train_craftax_seed0", "-n", timeout=300)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert planned(plain.stdout, "train") == [{"benchmark": "craftax", "game": "Craftax-Symbolic-v1", "seed": "0"}]


def test_slurm_profile_runs_jobs_in_apptainer_unless_m3_apptainer_is_0(monkeypatch):
    template = (REPO / "profiles" / "slurm" / "profile.yaml").read_text()
    monkeypatch.delenv("M3_APPTAINER", raising=False)
    profile = yte.process_yaml(template)
    assert profile["software-deployment-method"] == "apptainer" and profile["apptainer-args"] == "--nv"
    monkeypatch.setenv("M3_APPTAINER", "0")
    assert "software-deployment-method" not in yte.process_yaml(template)
