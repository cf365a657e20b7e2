"""Shared helpers: the config check, the (benchmark, game, seed) matrix at the chosen scale, run paths and the
per-benchmark resources of each job (docs/workflow.md W7, W8)."""

import sys
from pathlib import Path

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config
from snakemake_interface_executor_plugins.settings import DeploymentMethod

sys.path.insert(0, str(Path(workflow.basedir)))  # this checkout's m3 package (the env registry)
sys.path.insert(0, str(Path(workflow.basedir) / "workflow" / "lib"))
from config_check import config_error, typed_overrides  # noqa: E402  (workflow/lib: plain modules the tests import too)
from dvc_stages import smoke_command, smoke_outputs  # noqa: E402
from m3 import envs  # noqa: E402

DVC_YAML = Path(workflow.basedir) / "dvc.yaml"


def check_config(cfg: dict) -> None:
    """Type the lists given with `--config` (`seeds=[0,1]`), then stop at parse time with one line naming the
    first bad key of `cfg`."""
    update_config(cfg, typed_overrides(dict(workflow.config_settings.config)))
    error = config_error(cfg)
    if error is not None:
        raise WorkflowError(error)


def smoke() -> bool:
    return config["scale"] == "smoke"


# Paper runs use the project's result paths (docs/interfaces.md); small and smoke runs mirror them under
# results/<scale>/, so they never mix with paper runs, DVC-owned files or the git-tracked scores.
RESULTS = "results" if config.get("scale") == "paper" else f"results/{config.get('scale')}"


def benchmarks() -> list[str]:
    return list(config["benchmarks"])


def games(benchmark: str) -> list[str]:
    """The games of `benchmark` at this scale: its `games` entry, or every game the env registry lists for it;
    smoke runs its `smoke.games` entry, else the first game."""
    listed = config["benchmarks"][benchmark].get("games") or list(envs.games(benchmark))
    return config["smoke"]["games"].get(benchmark, listed[:1]) if smoke() else listed


def seeds() -> list[int]:
    return config["smoke"]["seeds"] if smoke() else config["seeds"]


def device() -> str:
    return config["smoke"]["device"] if smoke() else config["device"]


def wandb_mode() -> str:
    return config["smoke"]["wandb_mode"] if smoke() else config["wandb_mode"]


def eval_settings(benchmark: str) -> dict:
    return config["smoke"]["eval"] if smoke() else config["benchmarks"][benchmark]["eval"]


def job_resources(benchmark: str, job: str) -> dict:
    """{gpu, cpus, mem_mb, runtime} of a `train` or `eval` job of `benchmark` at this scale."""
    return (config["smoke"] if smoke() else config["benchmarks"][benchmark])["resources"][job]


def run_dir(benchmark: str, game: str, seed: int) -> str:
    return f"{RESULTS}/runs/{benchmark}/{game}/seed{seed}"


def done_file(benchmark: str, game: str, seed: int) -> str:
    """The training output (docs/workflow.md W4): `m3.train` writes it last; the run dir itself is never an output."""
    return f"{run_dir(benchmark, game, seed)}/done"


def scores_file(benchmark: str, game: str, seed: int) -> str:
    return f"{RESULTS}/scores/{benchmark}/{game}/seed{seed}.json"


def scores_files(benchmark: str, seeds_: list[int] | None = None) -> list[str]:
    """The scores files of every game of `benchmark` at this scale, for all seeds or for `seeds_`."""
    return [scores_file(benchmark, g, s) for g in games(benchmark) for s in (seeds_ or seeds())]


def resource(job: str, key: str):
    """A named resource function of the `train` or `eval` jobs: the config value for the job's benchmark."""

    def per_benchmark(wildcards) -> int:
        return job_resources(wildcards.benchmark, job)[key]

    per_benchmark.__name__ = f"{job}_{key}"
    return per_benchmark


def run_dir_of(wildcards) -> str:
    return run_dir(wildcards.benchmark, wildcards.game, wildcards.seed)


def train_overrides(wildcards) -> str:
    """The benchmark's extra Hydra overrides (config `benchmarks.<b>.overrides`), space-separated."""
    return " ".join(config["benchmarks"][wildcards.benchmark].get("overrides", []))


def eval_option(key: str):
    def per_benchmark(wildcards) -> int:
        return eval_settings(wildcards.benchmark)[key]

    per_benchmark.__name__ = f"eval_{key}"
    return per_benchmark


# Jobs run in the Apptainer image under --sdm apptainer, where `python` is the image's; without it they run with
# the Python that runs Snakemake (the project venv), whether or not that is on PATH.
IN_CONTAINER = DeploymentMethod.APPTAINER in workflow.deployment_settings.deployment_method
PYTHON = "python" if IN_CONTAINER else sys.executable
ANALYSIS_PARAMS = "config/analysis.yaml"
DVC_LOCK = ".dvc/tmp/m3-dvc.lock"  # the lock every dvc call of m3.analysis waits for (m3.analysis.dvccli.LOCK)
SMOKE_REPS = 200  # bootstrap samples per statistic at smoke scale (paper: config/analysis.yaml)


def analysed() -> set[str]:
    """Benchmarks the analysis covers (config/analysis.yaml; dvc.yaml's aggregate@/figures@ stages)."""
    path = Path(ANALYSIS_PARAMS)
    return set(yaml.safe_load(path.read_text())["benchmarks"]) if path.exists() else set()


def final_outputs(benchmark: str) -> list[str]:
    """What finishes a benchmark: its figures (or the publish marker), or just its scores when not analysed."""
    if benchmark not in analysed() or config["scale"] == "small":  # small-model runs are never published
        return scores_files(benchmark)
    if smoke():
        return [path.format(benchmark=benchmark) for path in smoke_outputs(DVC_YAML, "figures")]
    return [f"results/logs/publish/{benchmark}.done"]


def all_scores(wildcards) -> list[str]:
    return scores_files(wildcards.benchmark)


def track_command(wildcards) -> str:
    """`m3.analysis.track <b>` as the config's `publish` block asks, or `true` when tracking is off."""
    if not config["publish"]["track"]:
        return "true"
    push = "" if config["publish"]["push"] else " --no-push"
    return f"{PYTHON} -m m3.analysis.track {wildcards.benchmark}{push}"


def smoke_stage_outputs(stage: str) -> list:
    """The smoke outputs of dvc.yaml's `stage`; a path without a suffix is a directory."""
    return [path if Path(path).suffix else directory(path) for path in smoke_outputs(DVC_YAML, stage)]


def smoke_stage_command(stage: str) -> str:
    """dvc.yaml's `stage` command on the smoke tree, run by the jobs' Python."""
    return smoke_command(DVC_YAML, stage, PYTHON)
