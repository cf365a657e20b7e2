"""dvc.yaml's analysis stages, rewritten for the smoke run (docs/workflow.md W3): the smoke rules of
workflow/rules/analysis.smk take their commands and outputs from here, so dvc.yaml is the one definition of the
aggregate and figures steps. The rewrite: `${item.benchmark}` becomes the rule's `{benchmark}` wildcard, every
path under results/ moves under results/smoke/ (the git-tracked published baselines stay where they are) and
config/analysis.yaml becomes its copy narrowed to the smoke games."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

PARAMS = "config/analysis.yaml"
SMOKE_PARAMS = "results/smoke/analysis.yaml"
SHARED = ("results/published/",)  # inputs every scale reads as they are


def _smoke_path(text: str, wildcard: str) -> str:
    """One dvc.yaml string with its benchmark item as `wildcard` and its paths moved to the smoke tree."""
    text = text.replace("${item.benchmark}", wildcard).replace(PARAMS, SMOKE_PARAMS)
    return re.sub(r"(?<![\w/])results/(?!smoke/)", lambda m: m.group(0) if text[m.start():].startswith(SHARED)
                  else "results/smoke/", text)


def stage(dvc_yaml: Path, name: str) -> dict:
    """The stage `name` of `dvc_yaml`, as written there."""
    stages = yaml.safe_load(Path(dvc_yaml).read_text())["stages"]
    if name not in stages:
        raise KeyError(f"dvc.yaml has no stage {name!r}; it has {sorted(stages)}")
    return stages[name]


def smoke_command(dvc_yaml: Path, name: str, python: str) -> str:
    """The stage's `cmd` for the smoke tree, run by `python` and with `{wildcards.benchmark}` (a Snakemake shell)."""
    cmd = _smoke_path(stage(dvc_yaml, name)["cmd"], "{wildcards.benchmark}")
    return re.sub(r"^python ", f"{python} ", cmd)


def smoke_outputs(dvc_yaml: Path, name: str) -> list[str]:
    """The stage's outs and metrics for the smoke tree, with the `{benchmark}` wildcard, in dvc.yaml's order."""
    entry = stage(dvc_yaml, name)
    paths = [next(iter(item)) if isinstance(item, dict) else item
             for key in ("outs", "metrics") for item in entry.get(key, [])]
    return [_smoke_path(path, "{benchmark}") for path in paths]
