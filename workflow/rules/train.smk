"""Rule train: one (benchmark, game, seed) run of `m3.train` (docs/workflow.md W4: idempotent, resumes; only `done` is declared).

A job cut short (time limit, preemption, scancel, node failure) is resubmitted by Snakemake (`--retries`) or
requeued by SLURM (`--requeue`) and continues from the run's last checkpoint; `metrics.jsonl` keeps the
history across attempts. On a workstation the job first takes a GPU slot (workflow/scripts/gpu_slot.py).
"""


rule train:
    output:
        done_file("{benchmark}", "{game}", "{seed}"),
    log:
        f"{RESULTS}/logs/train/{{benchmark}}/{{game}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/logs/train/{{benchmark}}/{{game}}/seed{{seed}}.benchmark.tsv"
    params:
        python=PYTHON,
        run_dir=run_dir_of,
        overrides=train_overrides,
        scale=config["scale"],
        device=device(),
        wandb=wandb_mode(),
    threads: resource("train", "cpus")
    resources:
        gpu=resource("train", "gpu"),
        mem_mb=resource("train", "mem_mb"),
        runtime=resource("train", "runtime"),
    container:
        config["container"]
    shell:
        "{params.python} workflow/scripts/gpu_slot.py --gpus {resources.gpu} -- "
        "{params.python} -m m3.train benchmark={wildcards.benchmark} env.game={wildcards.game} seed={wildcards.seed} "
        "run_dir={params.run_dir} scale={params.scale} device={params.device} wandb.mode={params.wandb} "
        "{params.overrides} > {log} 2>&1"
