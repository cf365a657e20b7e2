"""The check of config/config.yaml against workflow/schemas/config.schema.yaml (docs/workflow.md W7): the first
violation as one line naming the key and what is allowed. The benchmark names and their games are not restated in
the schema: `schema()` adds them from the env registry (m3.envs). Plain Python, so the Snakefile (common.smk) and
the tests call the same function."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from m3 import envs

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def where(path) -> str:
    """A JSON-schema error path as `benchmarks.atari.games[2]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "top level"


def schema() -> dict:
    """The config schema with the registry's benchmarks and, per benchmark, its games as the allowed names."""
    result = yaml.safe_load(SCHEMA.read_text())
    game_lists, smoke_lists = {}, {}
    for name in envs.benchmarks():
        names = envs.games(name)
        game = {"enum": list(names)} if names is not None else {"type": "string"}
        game_lists[name] = {"$ref": "#/$defs/benchmark", "properties": {"games": {"items": game}}}
        smoke_lists[name] = {"$ref": "#/$defs/game_list", "items": game}
    benchmarks = result["properties"]["benchmarks"]
    benchmarks["propertyNames"] = {"enum": envs.benchmarks()}
    benchmarks["properties"] = game_lists
    result["properties"]["smoke"]["properties"]["games"]["properties"] = smoke_lists
    return result


def config_error(cfg: dict) -> str | None:
    """`config: <key>: <what is wrong> (<what is allowed>)` for the first bad key of `cfg`, or None if it is valid."""
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(cfg))
    if error is None:
        return None
    hint = error.schema.get("description", "") if isinstance(error.schema, dict) else ""
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in error.instance]
        hint = error.schema.get("properties", {}).get(missing[0], {}).get("description", "")
    return f"config: {where(error.absolute_path)}: {error.message}" + (f" ({hint})" if hint else "")


def typed_overrides(overrides: dict) -> dict:
    """The list and mapping values of `snakemake --config`, re-read as YAML: Snakemake parses them with YAML's
    BaseLoader, which makes every element a string (`seeds=[0,1]` gives ['0', '1']); here numbers and booleans
    become numbers and booleans again. Top-level scalars are typed by Snakemake already and are left out."""
    return {key: _typed(value) for key, value in overrides.items() if isinstance(value, (list, dict))}


def _typed(value):
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    if isinstance(value, str):
        parsed = yaml.safe_load(value) if value else value
        return parsed if isinstance(parsed, (bool, int, float)) else value
    return value
