"""Rule train: one (benchmark, game, seed) run of `m3.train` (docs/workflow.md W4: idempotent, resumes; only `done` is declared).

A job cut short (time limit, preemption, scancel, node failure) is resubmitted by Snakemake (`--retries`) or
requeued by SLURM (`--requeue`) and continues from the run's last checkpoint; `metrics.jsonl` holds each epoch
once across attempts. SIGTERM/SIGINT (preemption, the slurm profile's signal ahead of the time limit, scancel,
Ctrl-C) make m3.train checkpoint and exit 75; the log's `tee` ignores them, so it records that last line. `{log}` holds the latest attempt (Snakemake deletes a job's log before each try); every
attempt is also appended, under a header line, to `<log>.attempts` beside it, which Snakemake leaves alone. On a
workstation the job first takes a GPU slot (workflow/scripts/gpu_slot.py).
"""

TRAIN_LOG = f"{RESULTS}/logs/train/{{benchmark}}/{{game}}/seed{{seed}}.log"


rule train:
    output:
        done_file("{benchmark}", "{game}", "{seed}"),
    log:
        TRAIN_LOG,
    benchmark:
        f"{RESULTS}/logs/train/{{benchmark}}/{{game}}/seed{{seed}}.benchmark.tsv"
    params:
        python=PYTHON,
        run_dir=run_dir_of,
        overrides=train_overrides,
        scale=config["scale"],
        device=device(),
        wandb=wandb_mode(),
        attempts=lambda w: TRAIN_LOG.format(benchmark=w.benchmark, game=w.game, seed=w.seed) + ".attempts",
    threads: resource("train", "cpus")
    resources:
        gpu=resource("train", "gpu"),
        mem_mb=resource("train", "mem_mb"),
        runtime=resource("train", "runtime"),
        attempt=lambda wildcards, attempt: attempt,  # Snakemake's try number, for the attempts log
    container:
        config["container"]
    shell:
        "{{ "  # Snakemake runs this under `set -euo pipefail`: the job fails when m3.train does
        'echo "== m3.train attempt {resources.attempt} (SLURM job ${{SLURM_JOB_ID:-none}}) on $(hostname) at '
        '$(date -u +%Y-%m-%dT%H:%M:%SZ) =="; '
        "{params.python} workflow/scripts/gpu_slot.py --gpus {resources.gpu} -- "
        "{params.python} -m m3.train benchmark={wildcards.benchmark} env.game={wildcards.game} seed={wildcards.seed} "
        "run_dir={params.run_dir} scale={params.scale} device={params.device} wandb.mode={params.wandb} "
        "{params.overrides} 2>&1; }} | (trap '' TERM INT; exec tee -a {params.attempts}) > {log}"
