"""The m3 experiment workflow: train -> evaluate every (benchmark, game, seed), then aggregate, draw figures and
version the weights per benchmark (docs/workflow.md, decisions W1-W8).

    snakemake all_atari                                   # plan/run here (profiles/default is applied)
    snakemake --profile local --config scale=smoke all    # the CPU smoke DAG (`make demo`)
    snakemake --profile slurm all_atari                   # on a cluster, after `make install-profiles`
"""

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"


check_config(config)


wildcard_constraints:
    benchmark="|".join(benchmarks()),
    game=r"[A-Za-z0-9_.-]+",
    seed=r"\d+",


report: "workflow/report/workflow.rst"


rule all:
    default_target: True
    input:
        [path for b in benchmarks() for path in final_outputs(b)],


include: "workflow/rules/targets.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/analysis.smk"
