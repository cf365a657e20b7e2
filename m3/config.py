"""The typed schema of the Hydra tree in `config/m3/` and the one way to load it (design §3).

Every module keeps its own `@dataclass` config beside its `nn.Module`; this file gathers them with the
schedule, collection and logging settings into `M3Config`, registers it as `m3_schema` (which
`base.yaml` extends, so an unknown key or a wrong type fails at compose time) and checks what a schema
cannot: the benchmark and game names and cross-field constraints. The values of the fields declared here come
from `base.yaml` alone (they are MISSING here); the module configs keep defaults for building a module in code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.config_store import ConfigStore
from hydra.errors import HydraException
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from m3.envs.registry import EnvConfig
from m3.envs.seeding import check_run_seed
from m3.models.actor_critic import ActorCriticConfig
from m3.models.tokenizers.image import ImageTokenizerConfig
from m3.models.world_model import WorldModelConfig
from m3.rl.imagination import ImaginationConfig
from m3.speed import SpeedConfig

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config" / "m3"


@dataclass
class OptimConfig:
    """One component's optimiser and schedule (design §3.1). A component trains in epochs > start_after_epochs."""

    learning_rate: float = MISSING
    weight_decay: float = MISSING
    batch_size: int = MISSING
    max_grad_norm: float = MISSING
    start_after_epochs: int = MISSING
    steps_per_epoch: int = MISSING


@dataclass
class WorldModelOptimConfig(OptimConfig):
    uniform_fraction: float = MISSING  # of each WM batch drawn uniformly; the rest by softmax(loss) (§6.4)


@dataclass
class ActorCriticOptimConfig(OptimConfig):
    critic_warmup_epochs: int = MISSING  # epochs after the start with the actor and entropy losses zeroed (§6.2)


@dataclass
class TrainingConfig:
    tokenizer: OptimConfig = field(default_factory=OptimConfig)
    world_model: WorldModelOptimConfig = field(default_factory=WorldModelOptimConfig)
    actor_critic: ActorCriticOptimConfig = field(default_factory=ActorCriticOptimConfig)


@dataclass
class CollectTrainConfig:
    num_steps: int = MISSING  # env steps collected per epoch
    epsilon: float = MISSING
    temperature: float = MISSING
    stop_after_epochs: int = MISSING  # no collection in later epochs (Atari: 500 of 600)


@dataclass
class CollectTestConfig:
    num_envs: int = MISSING
    temperature: float = MISSING
    num_episodes: int = MISSING  # periodic evaluation
    num_episodes_end: int = MISSING  # final evaluation of the last model


@dataclass
class CollectionConfig:
    train: CollectTrainConfig = field(default_factory=CollectTrainConfig)
    test: CollectTestConfig = field(default_factory=CollectTestConfig)


@dataclass
class EvaluationConfig:
    every: int = MISSING  # epochs between evaluations; also the checkpoint period (§7.1)


@dataclass
class CheckpointConfig:
    every_minutes: float = 10.0  # also checkpoint at the end of an epoch once this long has passed (§7.3)


@dataclass
class ReplayConfig:
    max_ram_gb: float = MISSING  # the train replay keeps at most this many GiB of episodes in RAM (§7.2)


@dataclass
class WandbConfig:
    mode: str = MISSING  # disabled | offline | online
    project: str = MISSING


@dataclass
class M3Config:
    benchmark: str = MISSING
    seed: int = MISSING
    run_dir: str = MISSING
    device: str = MISSING
    epochs: int = MISSING
    float32_matmul_precision: str = MISSING
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    env: EnvConfig = field(default_factory=EnvConfig)
    tokenizer: ImageTokenizerConfig = field(default_factory=ImageTokenizerConfig)
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)
    actor_critic: ActorCriticConfig = field(default_factory=ActorCriticConfig)
    imagination: ImaginationConfig = field(default_factory=ImaginationConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    collection: CollectionConfig = field(default_factory=CollectionConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    wandb: WandbConfig = field(default_factory=WandbConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)


ConfigStore.instance().store(name="m3_schema", node=M3Config)

# (pattern of dotted keys, low, high, low inclusive, high inclusive): the allowed range of every number (and every
# element of a list of numbers) in the tree; the first pattern that matches a key applies. A number no pattern
# matches is a ConfigError, so a new key needs a range here (tests/test_config.py checks every benchmark's tree).
_RANGES: tuple[tuple[str, float, float, bool, bool], ...] = (
    ("seed", 0, 2**32, True, False),
    ("epochs", 1, math.inf, True, False),
    ("evaluation.every", 1, math.inf, True, False),
    ("checkpoint.every_minutes", 0, math.inf, False, False),
    ("tokenizer.num_downsample_steps", 0, math.inf, True, False),
    ("tokenizer.*", 1, math.inf, True, False),
    ("world_model.retnet.dropout", 0, 1, True, False),
    ("world_model.retnet.decay_scale_*", 0, math.inf, False, False),
    ("world_model.*", 1, math.inf, True, False),
    ("*.image_conv_layers", 0, math.inf, True, False),
    ("*.num_value_bins", 2, math.inf, True, False),
    ("*.n_action_quant_levels", 2, math.inf, True, False),
    ("imagination.burn_in", 0, math.inf, True, False),
    ("imagination.gamma", 0, 1, True, True),
    ("imagination.lambda_", 0, 1, True, True),
    ("imagination.*_weight", 0, math.inf, True, False),
    ("imagination.*", 1, math.inf, True, False),
    ("training.*.learning_rate", 0, math.inf, False, False),
    ("training.*.weight_decay", 0, math.inf, True, False),
    ("training.*.max_grad_norm", 0, math.inf, False, False),
    ("training.*.uniform_fraction", 0, 1, True, True),
    ("training.*.start_after_epochs", 0, math.inf, True, False),
    ("training.*.critic_warmup_epochs", 0, math.inf, True, False),
    ("training.*", 1, math.inf, True, False),
    ("collection.train.epsilon", 0, 1, True, True),
    ("collection.*.temperature", 0, math.inf, False, False),
    ("collection.train.stop_after_epochs", 0, math.inf, True, False),
    ("collection.*", 1, math.inf, True, False),
    ("replay.max_ram_gb", 0, math.inf, False, False),
    ("actor_critic.*", 1, math.inf, True, False),
)

_CHOICES = {
    "device": ("cpu", "cuda"),
    "wandb.mode": ("disabled", "offline", "online"),
    "float32_matmul_precision": ("highest", "high", "medium"),
}


class ConfigError(ValueError):
    """A bad override or config value; the message names it and what is allowed."""


def load_config(overrides: list[str]) -> M3Config:
    """Compose `config/m3/base.yaml` with command-line style overrides and validate the result."""
    cfg = compose_config(overrides)
    validate(cfg)
    return cfg


def compose_config(overrides: list[str]) -> M3Config:
    """Compose and type-check against the schema, without the semantic checks of `validate`."""
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name="base", overrides=overrides)
        obj: M3Config = OmegaConf.to_object(cfg)
        unknown = _unknown_keys(OmegaConf.to_container(cfg), OmegaConf.to_container(OmegaConf.structured(M3Config)))
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(hydra_message(e)) from e
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r} (from an override or a config file); the keys and "
                          "their defaults are in config/m3/base.yaml and m3/config.py")
    return obj


def hydra_message(error: BaseException) -> str:
    """Hydra's message and its causes' (the allowed options, the expected type, the full key) on one line,
    without the config search path."""
    parts: list[str] = []
    while error is not None:
        for line in str(error).splitlines():
            if line.startswith("Config search path"):
                break
            line = line.strip()
            if line and line not in parts:
                parts.append(line)
        error = error.__cause__
    text = ""
    for line in parts:
        text += ("" if not text else " " if text.endswith(":") else "; ") + line
    return text or f"invalid config ({type(error).__name__})"


def _unknown_keys(composed: dict, schema: dict, prefix: str = "") -> list[str]:
    """Dotted keys of `composed` that the schema lacks (a `+key=value` override is composed but not typed)."""
    unknown = []
    for key, value in composed.items():
        if key not in schema:
            unknown.append(prefix + str(key))
        elif isinstance(value, dict) and isinstance(schema[key], dict):
            unknown += _unknown_keys(value, schema[key], f"{prefix}{key}.")
    return unknown


def check_ranges(cfg: M3Config) -> None:
    """Every number of `cfg` lies in its `_RANGES` range; the message names the key, the value and the range."""
    for key, value in _numbers(to_dict(cfg)):
        rule = next((r for r in _RANGES if fnmatchcase(key, r[0])), None)
        if rule is None:
            raise ConfigError(f"{key} has no allowed range; add one to m3.config._RANGES")
        _, low, high, low_in, high_in = rule
        if not ((low <= value if low_in else low < value) and (value <= high if high_in else value < high)):
            allowed = f"{'[' if low_in else '('}{_bound(low)}, {_bound(high)}{']' if high_in else ')'}"
            raise ConfigError(f"{key}={value!r} is not allowed; it must lie in {allowed}")


def _bound(x: float) -> str:
    return "inf" if math.isinf(x) else str(int(x)) if float(x).is_integer() else str(x)


def _numbers(tree: dict, prefix: str = ""):
    """(dotted key, number) for every int/float leaf of `tree` and every number in a list leaf."""
    for key, value in tree.items():
        items = value if isinstance(value, list) else [value]
        if isinstance(value, dict):
            yield from _numbers(value, f"{prefix}{key}.")
        for item in items:
            if isinstance(item, (int, float)) and not isinstance(item, bool):
                yield prefix + key, item


def validate(cfg: M3Config) -> None:
    """Checks that the schema cannot express; each failure names the key and the allowed values."""
    from m3.envs import registry

    structured = OmegaConf.structured(cfg)
    for key, allowed in _CHOICES.items():
        value = OmegaConf.select(structured, key)
        if value not in allowed:
            raise ConfigError(f"{key}={value!r} is not allowed; choose one of {list(allowed)}")
    try:
        registry.validate(cfg.benchmark, cfg.env)
        check_run_seed(cfg.seed)
    except ValueError as e:
        raise ConfigError(str(e)) from e
    check_ranges(cfg)
    if cfg.world_model.enable_curiosity and cfg.training.world_model.batch_size % cfg.world_model.ensemble_size:
        raise ConfigError(
            f"training.world_model.batch_size={cfg.training.world_model.batch_size} must be divisible by "
            f"world_model.ensemble_size={cfg.world_model.ensemble_size} (one batch slice per curiosity member, §5.5)"
        )
    if cfg.world_model.retnet.embed_dim % cfg.world_model.retnet.num_heads:
        raise ConfigError("world_model.retnet.embed_dim must be a multiple of world_model.retnet.num_heads")
    if cfg.imagination.imagine_horizon - cfg.world_model.context_length + 1 < 2:
        raise ConfigError("imagination.imagine_horizon - world_model.context_length + 1 must be at least 2")


def to_yaml(cfg: M3Config) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def to_dict(cfg: M3Config) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]


def from_yaml(text: str) -> M3Config:
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(M3Config), OmegaConf.create(text)))


__all__ = ["M3Config", "ConfigError", "load_config", "validate", "check_ranges", "hydra_message", "to_yaml",
           "to_dict", "from_yaml"]
