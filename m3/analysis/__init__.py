"""Results of runs: aggregation, rliable statistics, figures and tables, DVC versioning (design §9, docs/results.md).

- `params`: the params file `config/analysis.yaml`, typed and checked;
- `scores`: per-run scores files written by `m3.evaluate`;
- `aggregate` (CLI): per-run scores → `results/data/<benchmark>/M3-repro.json` (+ companion);
- `algorithms`: results files of ours and the published baselines → normalised score matrices;
- `stats`: rliable interval estimates, profiles, probability of improvement, IQM curves;
- `plots`, `tables`: the figures and the Markdown / LaTeX tables;
- `figures` (CLI): one benchmark's statistics, figures, tables and headline metrics;
- `published` (CLI): the shipped published baselines checked against their hashes, or re-fetched;
- `track` (CLI): `dvc add` and `dvc push` of finished runs' weights; `dvccli`: one `dvc` process at a time.
"""
