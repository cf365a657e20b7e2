"""The last step of each benchmark: aggregate its runs' scores, draw the rliable figures, version the weights.

Paper scale (docs/workflow.md W3): DVC owns results/data and results/figures, so the local rule `publish`
runs `dvc repro aggregate@<b> figures@<b>` and then `m3.analysis.track <b>` (final weights to
results/weights/<b>/, `dvc add`, `dvc push`). Every dvc call waits for the one DVC lock file, so the rules of
several benchmarks never run DVC at the same time.
Smoke scale: dvc.yaml's aggregate and figures stages run directly on results/smoke/ (their commands and outputs
read from dvc.yaml by workflow/lib/dvc_stages.py), with config/analysis.yaml narrowed to the smoke games and fewer
bootstrap samples.
"""


rule publish:
    input:
        all_scores,
        pipeline="dvc.yaml",
        params=ANALYSIS_PARAMS,
        published="results/published/{benchmark}",
    output:
        touch("results/logs/publish/{benchmark}.done"),
    log:
        "results/logs/publish/{benchmark}.log",
    params:
        python=PYTHON,
        lock=DVC_LOCK,
        track=track_command,
    localrule: True
    container:
        config["container"]
    shell:
        'export PATH="$(dirname "$(command -v {params.python})"):$PATH"; mkdir -p "$(dirname {params.lock})"; '
        "flock {params.lock} {params.python} -m dvc repro aggregate@{wildcards.benchmark} "
        "figures@{wildcards.benchmark} > {log} 2>&1; {params.track} >> {log} 2>&1"


rule smoke_analysis_params:
    input:
        ANALYSIS_PARAMS,
    output:
        "results/smoke/analysis.yaml",
    log:
        "results/smoke/logs/analysis_params.log",
    params:
        python=PYTHON,
        games=" ".join(f"{b}={','.join(games(b))}" for b in benchmarks() if b in analysed()),
        reps=SMOKE_REPS,
    localrule: True
    container:
        config["container"]
    shell:
        "{params.python} workflow/scripts/narrow_analysis.py {input} {output} --reps {params.reps} "
        "--games {params.games} > {log} 2>&1"


rule smoke_aggregate:
    input:
        scores=all_scores,
        params="results/smoke/analysis.yaml",
    output:
        smoke_stage_outputs("aggregate"),
    log:
        "results/smoke/logs/aggregate/{benchmark}.log",
    localrule: True
    container:
        config["container"]
    shell:
        smoke_stage_command("aggregate") + " > {log} 2>&1"


rule smoke_figures:
    input:
        rules.smoke_aggregate.output,
        published="results/published/{benchmark}",
        params="results/smoke/analysis.yaml",
    output:
        smoke_stage_outputs("figures"),
    log:
        "results/smoke/logs/figures/{benchmark}.log",
    localrule: True
    container:
        config["container"]
    shell:
        smoke_stage_command("figures") + " > {log} 2>&1"
