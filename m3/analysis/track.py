"""Version a benchmark's finished runs with DVC and push them: the one workflow step that runs `dvc add`/`dvc push`.

    python -m m3.analysis.track atari [--runs results/runs/atari] [--checkpoints] [--dataset] [--no-push]

For every finished run `<runs>/<game>/seed<k>/` (it has the marker file `done`) it copies
- the final weights `weights.pt` to `results/weights/<b>/<game>/seed<k>.pt` (always);
- with `tracking.checkpoints` (config/analysis.yaml) or `--checkpoints`: `checkpoints/*.pt` to
  `results/checkpoints/<b>/<game>/seed<k>/`;
- with `tracking.dataset` or `--dataset`: the replay episodes `checkpoints/dataset/` to
  `results/datasets/<b>/<game>/seed<k>/`;
then runs `dvc add` on those folders (one `.dvc` file each, e.g. `results/weights/atari.dvc`) and
`dvc push` of them to the default remote, under the lock of `m3.analysis.dvccli`. Copies are skipped
when the target already has the same size and modification time, so a rerun is cheap.
`dvc pull results/weights/atari.dvc` brings the weights back on another machine; `m3.weights.load_agent`
(and so evaluation and the play tool) reads a pulled `seed<k>.pt` directly.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from m3.analysis.dvccli import run_dvc
from m3.analysis.params import AnalysisError, load_params

SEED_DIR = re.compile(r"seed(\d+)")


@dataclass(frozen=True)
class Run:
    game: str
    seed: int
    path: Path


def finished_runs(runs_dir: Path) -> tuple[list[Run], list[Path]]:
    """(finished runs, unfinished run folders) under `<runs_dir>/<game>/seed<k>/`."""
    if not runs_dir.is_dir():
        raise AnalysisError(f"runs folder {runs_dir} does not exist")
    done, unfinished = [], []
    for path in sorted(runs_dir.glob("*/seed*")):
        match = SEED_DIR.fullmatch(path.name)
        if not path.is_dir() or not match:
            continue
        if not (path / "done").exists():
            unfinished.append(path)
            continue
        if not (path / "weights.pt").is_file():
            raise AnalysisError(f"{path} is finished (it has `done`) but has no weights.pt")
        done.append(Run(path.parent.name, int(match.group(1)), path))
    if not done:
        raise AnalysisError(f"no finished runs (with a `done` marker) under {runs_dir}")
    return done, unfinished


def _copy(src: Path, dst: Path) -> None:
    if dst.exists() and dst.stat().st_size == src.stat().st_size and dst.stat().st_mtime == src.stat().st_mtime:
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def stage_files(benchmark: str, runs: list[Run], root: Path, checkpoints: bool, dataset: bool) -> list[Path]:
    """Copy what is tracked into the results folders; returns the folders to `dvc add` (relative to root)."""
    targets = [Path("results/weights") / benchmark]
    for run in runs:
        _copy(run.path / "weights.pt", root / targets[0] / run.game / f"seed{run.seed}.pt")
    if checkpoints:
        targets.append(Path("results/checkpoints") / benchmark)
        for run in runs:
            for src in sorted((run.path / "checkpoints").glob("*.pt")):
                _copy(src, root / targets[-1] / run.game / f"seed{run.seed}" / src.name)
    if dataset:
        targets.append(Path("results/datasets") / benchmark)
        for run in runs:
            for src in sorted((run.path / "checkpoints" / "dataset").rglob("*")):
                if src.is_file():
                    rel = src.relative_to(run.path / "checkpoints" / "dataset")
                    _copy(src, root / targets[-1] / run.game / f"seed{run.seed}" / rel)
    return targets


def track(benchmark: str, runs_dir: Path, root: Path, checkpoints: bool, dataset: bool, push: bool) -> list[Path]:
    runs, unfinished = finished_runs(runs_dir)
    for path in unfinished:
        print(f"skipped (not finished): {path}")
    targets = stage_files(benchmark, runs, root, checkpoints, dataset)
    run_dvc(["add", *map(str, targets)], root)
    if push:
        run_dvc(["push", *(f"{t}.dvc" for t in targets)], root)
    print(f"{benchmark}: {len(runs)} runs tracked in {', '.join(map(str, targets))}" + (" and pushed" if push else ""))
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m3.analysis.track", description=__doc__.split("\n")[0])
    parser.add_argument("benchmark")
    parser.add_argument("--runs", type=Path, help="default results/runs/<benchmark>")
    parser.add_argument("--params", type=Path, default=Path("config/analysis.yaml"))
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    parser.add_argument("--checkpoints", action="store_true", help="also track checkpoints (else: the params file)")
    parser.add_argument("--dataset", action="store_true", help="also track replay datasets (else: the params file)")
    parser.add_argument("--no-push", action="store_true", help="dvc add only")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.root / args.params)
        params.benchmark(args.benchmark)  # an unknown benchmark stops here
        tracking = params.tracking
        track(args.benchmark, args.runs or args.root / "results/runs" / args.benchmark, args.root,
              args.checkpoints or tracking.checkpoints, args.dataset or tracking.dataset, not args.no_push)
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
