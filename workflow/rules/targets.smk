"""Wildcard-free target rules (docs/workflow.md W5), generated for the matrix at the chosen scale (`snakemake --list-target-rules`;
`all`, the default target, is in the Snakefile, since a default target set in an included file does not count):

    all_<b>                             one benchmark, through its figures and tracked weights
    train_<b>_seed<k>, eval_<b>_seed<k>   every game of one benchmark for seed k
    train_<b>_<game>_seed<k>, eval_<b>_<game>_seed<k>   one run
"""


for bench in benchmarks():

    rule:
        name:
            f"all_{bench}"
        input:
            final_outputs(bench),

    for seed in seeds():

        rule:
            name:
                f"train_{bench}_seed{seed}"
            input:
                [done_file(bench, g, seed) for g in games(bench)],

        rule:
            name:
                f"eval_{bench}_seed{seed}"
            input:
                scores_files(bench, [seed]),

        for game in games(bench):

            rule:
                name:
                    f"train_{bench}_{game}_seed{seed}"
                input:
                    done_file(bench, game, seed),

            rule:
                name:
                    f"eval_{bench}_{game}_seed{seed}"
                input:
                    scores_file(bench, game, seed),
