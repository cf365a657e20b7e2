"""Rule evaluate: the final evaluation of one finished run by `m3.evaluate` (design §8.4), written to the run's
scores file (results/scores/, git-tracked). `done` is `ancient`, so runs restored by `dvc pull` (fresh mtimes,
treeverse/dvc#8602) are not evaluated again."""


rule evaluate:
    input:
        ancient(done_file("{benchmark}", "{game}", "{seed}")),
    output:
        report(
            scores_file("{benchmark}", "{game}", "{seed}"),
            caption="../report/scores.rst",
            category="Scores",
            subcategory="{benchmark}",
            labels={"game": "{game}", "seed": "{seed}"},
        ),
    log:
        f"{RESULTS}/logs/evaluate/{{benchmark}}/{{game}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/logs/evaluate/{{benchmark}}/{{game}}/seed{{seed}}.benchmark.tsv"
    params:
        python=PYTHON,
        run_dir=run_dir_of,
        episodes=eval_option("episodes"),
        envs=eval_option("envs"),
        device=device(),
    threads: resource("eval", "cpus")
    resources:
        gpu=resource("eval", "gpu"),
        mem_mb=resource("eval", "mem_mb"),
        runtime=resource("eval", "runtime"),
    container:
        config["container"]
    shell:
        "{params.python} workflow/scripts/gpu_slot.py --gpus {resources.gpu} -- "
        "{params.python} -m m3.evaluate run_dir={params.run_dir} episodes={params.episodes} envs={params.envs} "
        "seed={wildcards.seed} device={params.device} out={output} > {log} 2>&1"
