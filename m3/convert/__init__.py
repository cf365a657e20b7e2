"""Import official M3 checkpoints into m3's weights format (docs/weights.md, "Official M3 checkpoints").

`convert(parts, agent)` maps the official tokenizer, world-model and actor-critic state dicts onto the
state dict of an m3 `Agent` built from the matching config, through one rule module per component.
Every official tensor must map (or be one of the documented unused ones), every m3 tensor must be
covered and every shape must agree; otherwise `ConversionError` names the key.
"""

from __future__ import annotations

import re

from torch import Tensor

from m3.convert import tokenizer, world_model
from m3.convert.official import COMPONENTS, read_official, split_components
from m3.convert.rules import ConversionError, apply_rules, keymap
from m3.envs.spec import MODALITIES

__all__ = ["ConversionError", "convert", "official_benchmark", "read_official", "split_components"]

_BENCHMARKS = {  # (modalities, discrete actions) → official benchmark
    (("image",), True): "atari",
    (("vector",), False): "dmc",
    (("vector", "token", "token_2d"), True): "craftax",
}


def official_benchmark(parts: dict[str, dict[str, Tensor]]) -> str:
    """The benchmark an official checkpoint was trained on, read from its observation heads and actor head."""
    heads = {m.group(1) for k in parts["world_model"] if (m := re.match(r"head_observations\.(\w+)\.", k))}
    modalities = tuple(m for m in MODALITIES if m in heads)
    discrete = "actor_linear.weight" in parts["actor_critic"]
    name = _BENCHMARKS.get((modalities, discrete))
    if name is None:
        kind = "discrete" if discrete else "continuous"
        raise ConversionError(f"the checkpoint's observation heads {list(modalities)} with {kind} actions match "
                              f"none of the official benchmarks {sorted(set(_BENCHMARKS.values()))}")
    return name


def convert(parts: dict[str, dict[str, Tensor]], agent) -> dict[str, Tensor]:
    """Official component state dicts → a state dict for `agent` (an `m3.agent.Agent`), in its key order and
    dtypes."""
    rules = {"tokenizer": tokenizer.rules(agent.tokenizer.image), "world_model": keymap("world_model"),
             "actor_critic": keymap("actor_critic")}
    mapped: dict[str, Tensor] = {}
    for component in COMPONENTS:
        for key, value in apply_rules(parts[component], rules[component], component).items():
            mapped[f"{component}.{key}"] = value
    expected = agent.state_dict()
    for key in mapped:
        if key not in expected:
            raise ConversionError(f"the checkpoint has {key} {tuple(mapped[key].shape)}, which this m3 config does "
                                  "not build; check the benchmark and the size overrides")
    out = {}
    for key, ours in expected.items():
        if key not in mapped:
            raise ConversionError(f"the checkpoint has no tensor for m3's {key} {tuple(ours.shape)}; check the "
                                  "benchmark and the size overrides")
        theirs = mapped[key]
        if theirs.shape != ours.shape:
            raise ConversionError(f"the checkpoint's tensor for m3's {key} has shape {tuple(theirs.shape)}, m3's "
                                  f"config gives {tuple(ours.shape)}; pass overrides that match the checkpoint "
                                  "(env.game sets the number of actions)")
        out[key] = theirs.to(ours.dtype)
    world_model.check_thetas(parts["world_model"], agent.world_model.retnet.head_dim)
    return out
