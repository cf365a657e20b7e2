"""Key-renaming rules from an official state dict onto m3's modules (docs/weights.md, "Converting").

A component's mapping is a list of `Rule`s: a regular expression over the official key (without its
component prefix) and the m3 key it becomes (`re` replacement syntax), or `None` for an official
tensor m3 has no use for (dropped). `Merge` concatenates several official tensors into one m3 tensor.
The world model's and the actor-critic's tables are data (`keymaps.toml`, read by `keymap`); the image
tokenizer's are built from its layer lists (m3/convert/tokenizer.py). `apply_rules` raises
`ConversionError` naming the first key no rule maps.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

KEYMAPS = Path(__file__).with_name("keymaps.toml")


class ConversionError(ValueError):
    """An official checkpoint that does not map onto m3; the message names the key, shape or value."""


@dataclass(frozen=True)
class Rule:
    pattern: str  # full match over the official key
    target: str | None  # m3 key (may use \1 groups), or None: accepted and dropped


@dataclass(frozen=True)
class Merge:
    """Official keys matching `pattern` (group 1 = an integer index), concatenated in index order."""

    pattern: str
    target: str


@functools.cache
def keymap(component: str) -> tuple[Rule | Merge, ...]:
    """The rules of `component` (`world_model` or `actor_critic`) from keymaps.toml: drops, joins, renames."""
    table = tomllib.loads(KEYMAPS.read_text())[component]
    return (*(Rule(pattern, None) for pattern in table.get("drop", [])),
            *(Merge(pattern, target) for pattern, target in table.get("join", [])),
            *(Rule(pattern, target) for pattern, target in table.get("rename", [])))


def apply_rules(state: dict[str, Tensor], rules: Sequence[Rule | Merge], component: str) -> dict[str, Tensor]:
    """Official `state` (keys without the component prefix) → m3 keys (also without it)."""
    out: dict[str, Tensor] = {}
    merged: dict[str, list[tuple[int, Tensor]]] = {}
    for key, value in state.items():
        for rule in rules:
            match = re.fullmatch(rule.pattern, key)
            if match is None:
                continue
            if isinstance(rule, Merge):
                merged.setdefault(rule.target, []).append((int(match.group(1)), value))
            elif rule.target is not None:
                out[match.expand(rule.target)] = value
            break
        else:
            raise ConversionError(f"official key {component}.{key} {tuple(value.shape)} has no counterpart in m3")
    for rule in rules:
        if isinstance(rule, Merge) and rule.target in merged:
            parts = sorted(merged[rule.target], key=lambda p: p[0])
            out[rule.target] = torch.cat([t for _, t in parts])
    return out
