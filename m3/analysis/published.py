"""Published baselines from local copies, offline: fill the DVC cache by content hash and check them out.

    python -m m3.analysis.published --source ../shared/data/published

`results/published/<benchmark>/<NAME>.json.dvc` are `dvc import-url` files: each records the GitHub raw
URL of the official file at the pinned commit (spec §2) and the file's md5. With internet,
`dvc pull results/published` fetches them (from the default remote, else from the URLs) and
`dvc update` re-imports them. Without internet, this command takes `<source>/<benchmark>/<NAME>.json`
for each, checks that its md5 is the one recorded (so it is byte-for-byte the imported file), stores
it in the DVC cache under that hash and runs `dvc checkout`; DVC then treats it as imported (`dvc status`
is clean, `dvc push` can upload it) and nothing touches the network.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import yaml

from m3.analysis.dvccli import run_dvc
from m3.analysis.params import AnalysisError

PUBLISHED = Path("results/published")


def recorded_output(pointer: Path) -> tuple[str, str]:
    """(file name, md5) of the single output of a `.dvc` file."""
    try:
        outs = yaml.safe_load(pointer.read_text())["outs"]
        return outs[0]["path"], outs[0]["md5"]
    except (yaml.YAMLError, KeyError, IndexError, TypeError) as e:
        raise AnalysisError(f"{pointer} is not a .dvc file with one hashed output ({e!r})") from e


def file_md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def seed_cache(root: Path, source: Path) -> list[Path]:
    """Cache and check out every published file from `source`; returns the `.dvc` files handled."""
    from dvc.repo import Repo
    from dvc_objects.fs.local import LocalFileSystem

    pointers = sorted((root / PUBLISHED).glob("*/*.dvc"))
    if not pointers:
        raise AnalysisError(f"no .dvc files under {root / PUBLISHED}")
    copies = []
    for pointer in pointers:
        name, md5 = recorded_output(pointer)
        copy = source / pointer.parent.name / name
        if not copy.is_file():
            raise AnalysisError(f"{pointer} needs {copy}, which does not exist")
        if file_md5(copy) != md5:
            raise AnalysisError(f"{copy} has md5 {file_md5(copy)}, but {pointer} records {md5}: not the same file")
        copies.append((copy, md5))
    cache = Repo(str(root)).cache.local
    for copy, md5 in copies:
        cache.add(str(copy.resolve()), LocalFileSystem(), md5)
    run_dvc(["checkout", *(str(p.relative_to(root)) for p in pointers)], root)
    return pointers


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m3.analysis.published", description=__doc__.split("\n")[0])
    parser.add_argument("--source", type=Path, required=True, help="folder with <benchmark>/<NAME>.json copies")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    args = parser.parse_args(argv)
    try:
        pointers = seed_cache(args.root, args.source)
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"checked out {len(pointers)} published files from {args.source}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
