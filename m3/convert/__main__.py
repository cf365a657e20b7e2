"""`python -m m3.convert --from-official <checkpoint.pt> --benchmark <b> [overrides ...] --out <weights.pt>`.

Converts an official M3 checkpoint (a training `last.pt` or a published agent file) into m3's weights
file (m3/weights.py), which `m3.evaluate weights=...`, `m3.play <b> -p ...` and the workflow load.
The overrides are Hydra overrides of m3's config (e.g. `env.game=Pong`); the config must describe the
checkpoint's network sizes (the paper configs do). Bad input stops with one line and exit status 2
before the file is written. See docs/weights.md.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from m3.agent import Agent
from m3.config import ConfigError, load_config
from m3.convert import ConversionError, convert, official_benchmark, read_official
from m3.envs import registry
from m3.models.tokenizers.lpips import MissingWeightsError
from m3.version import code_version
from m3.weights import save_weights

OFFICIAL_BENCHMARKS = ("atari", "dmc", "craftax")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m m3.convert", description=__doc__.splitlines()[2])
    p.add_argument("--from-official", type=Path, required=True, dest="source", help="official checkpoint (.pt)")
    p.add_argument("--benchmark", required=True, choices=OFFICIAL_BENCHMARKS)
    p.add_argument("--out", type=Path, required=True, help="m3 weights file to write")
    p.add_argument("overrides", nargs="*", help="m3 config overrides, e.g. env.game=Pong")
    return p


def run(source: Path, benchmark: str, overrides: list[str], out: Path) -> str:
    """Convert and write; returns a one-line summary. Raises ConversionError / ConfigError."""
    if out.is_dir():
        raise ConversionError(f"--out {out} is a folder; give a file path such as {out / 'weights.pt'}")
    if not any(o.startswith("run_dir=") for o in overrides):
        overrides = [*overrides, f"run_dir={out.with_suffix('')}"]
    cfg = load_config([f"benchmark={benchmark}", *overrides])
    parts = read_official(source)
    found = official_benchmark(parts)
    if found != benchmark:
        raise ConversionError(f"{source} is an official {found} checkpoint, not {benchmark}; "
                              f"pass --benchmark {found}")
    try:
        agent = Agent(cfg, registry.env_spec(benchmark, cfg.env))
    except MissingWeightsError as e:
        raise ConversionError(f"{str(e).splitlines()[0]}; fetch them (docs/weights.md) or add "
                              "tokenizer.perceptual_loss=false (it only trains the tokenizer)") from e
    state = convert(parts, agent)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    save_weights(out, cfg, state, epoch=None, code_version=code_version(),
                 origin={"official_checkpoint": str(source), "sha256": digest})
    count = sum(v.numel() for v in state.values())
    return f"m3.convert: {source} ({benchmark}/{cfg.env.game}, {count:,} values) -> {out}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    try:
        print(run(args.source, args.benchmark, args.overrides, args.out))
    except (ConversionError, ConfigError) as e:
        print(f"m3.convert: error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
