"""The published baselines shipped in `results/published/`: check them offline, or re-fetch them from the source.

    python -m m3.analysis.published            # offline: every shipped file has the recorded sha256
    python -m m3.analysis.published --fetch    # network: download every file again, check it, then replace it

`results/published/sources.json` records, for each file `<benchmark>/<NAME>.json`, the raw URL of the
official file at the pinned commit of the M3 release (`github:leor-c/M3`, folder `results/data/`) and its
sha256. `--fetch` downloads all of them first and replaces nothing unless every download arrived with the
recorded hash; each file is then written atomically. Without a network it stops with one line naming the
URL it could not reach. `--base-url` replaces the URL prefix up to `<benchmark>/<NAME>.json` (a mirror, or a
`file://` folder).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from m3.analysis.params import AnalysisError
from m3.analysis.scores import read_json
from m3.atomic import atomic_write_bytes

PUBLISHED = Path("results/published")
SOURCES = PUBLISHED / "sources.json"


@dataclass(frozen=True)
class Source:
    path: str  # relative to results/published, e.g. "atari/M3.json"
    url: str
    sha256: str


def load_sources(root: Path) -> list[Source]:
    """The files recorded in `<root>/results/published/sources.json`."""
    path = root / SOURCES
    raw = read_json(path, "provenance file")
    files = raw.get("files") if isinstance(raw, dict) else None
    if not isinstance(files, dict) or not files:
        raise AnalysisError(f"provenance file {path} must hold an object `files`: {{path: {{url, sha256}}}}")
    sources = []
    for name, entry in files.items():
        if not isinstance(entry, dict) or not {"url", "sha256"} <= set(entry):
            raise AnalysisError(f"provenance file {path}: files.{name} must have `url` and `sha256`")
        sources.append(Source(name, entry["url"], entry["sha256"]))
    return sources


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(root: Path) -> list[Source]:
    """Check every shipped file against its recorded sha256; an error names the first file that differs."""
    sources = load_sources(root)
    for source in sources:
        path = root / PUBLISHED / source.path
        if not path.is_file():
            raise AnalysisError(f"{path} is missing: `git checkout -- {PUBLISHED / source.path}` restores it, "
                                "`python -m m3.analysis.published --fetch` downloads it")
        if sha256(path.read_bytes()) != source.sha256:
            raise AnalysisError(f"{path} has sha256 {sha256(path.read_bytes())}, but {SOURCES} records "
                                f"{source.sha256}: not the published file")
    return sources


def download(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise AnalysisError(f"cannot fetch {url} ({reason}); re-fetching needs a network. The shipped copies "
                            "are checked offline by `python -m m3.analysis.published`") from e


def fetch(root: Path, base_url: str | None = None, timeout: float = 30.0) -> list[Source]:
    """Download every recorded file, check its sha256, then write them all (atomically, one by one)."""
    sources = load_sources(root)
    fetched = []
    for source in sources:
        url = f"{base_url.rstrip('/')}/{source.path}" if base_url else source.url
        data = download(url, timeout)
        if sha256(data) != source.sha256:
            raise AnalysisError(f"{url} has sha256 {sha256(data)}, but {SOURCES} records {source.sha256}; "
                                "nothing was replaced")
        fetched.append((source, data))
    for source, data in fetched:
        atomic_write_bytes(data, root / PUBLISHED / source.path)
    return sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m m3.analysis.published", description=__doc__.split("\n")[0])
    parser.add_argument("--fetch", action="store_true", help="download every file again (network)")
    parser.add_argument("--base-url", help="fetch from <base-url>/<benchmark>/<NAME>.json instead of the recorded URL")
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository root")
    args = parser.parse_args(argv)
    try:
        sources = fetch(args.root, args.base_url) if args.fetch else verify(args.root)
    except AnalysisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    done = "fetched and checked" if args.fetch else "checked"
    print(f"{len(sources)} published files in {args.root / PUBLISHED} {done} against {SOURCES} (sha256)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
