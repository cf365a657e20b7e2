"""The typed schema of the Hydra tree in `config/m3/` and the one way to load it (design §3).

Every module keeps its own `@dataclass` config beside its `nn.Module`; this file gathers them with the
schedule, collection and logging settings into `M3Config`, registers it as `m3_schema` (which
`base.yaml` extends, so an unknown key or a wrong type fails at compose time) and checks what a schema
cannot: the benchmark and game names and cross-field constraints. The values of the fields declared here come
from `base.yaml` alone (they are MISSING here); the module configs keep defaults for building a module in code.
"""

from __future__ import annotations

import re
import tomllib
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

    learning_rate: float = MISSING  # AdamW
    weight_decay: float = MISSING  # AdamW's decoupled decay
    batch_size: int = MISSING  # segments (tokenizer: frames) per update
    max_grad_norm: float = MISSING  # gradients clipped to this norm before each update
    start_after_epochs: int = MISSING
    steps_per_epoch: int = MISSING  # updates in each epoch it trains


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
    benchmark: str = MISSING  # a file of config/m3/benchmark/
    seed: int = MISSING  # the run's seed; every other seed derives from it (design §8.4)
    run_dir: str = MISSING  # checkpoints, replay, metrics, media and weights of the run (design §7.3)
    device: str = MISSING  # cpu | cuda
    epochs: int = MISSING
    float32_matmul_precision: str = MISSING  # torch's: highest | high | medium
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)  # design §7.1, §8.4
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)  # design §7.3
    env: EnvConfig = field(default_factory=EnvConfig)  # design §3.5, §8
    tokenizer: ImageTokenizerConfig = field(default_factory=ImageTokenizerConfig)  # design §4
    world_model: WorldModelConfig = field(default_factory=WorldModelConfig)  # design §5
    actor_critic: ActorCriticConfig = field(default_factory=ActorCriticConfig)  # design §6.1
    imagination: ImaginationConfig = field(default_factory=ImaginationConfig)  # design §6.2
    training: TrainingConfig = field(default_factory=TrainingConfig)  # design §3.1
    collection: CollectionConfig = field(default_factory=CollectionConfig)  # design §7.1, §7.2
    replay: ReplayConfig = field(default_factory=ReplayConfig)  # design §7.2
    wandb: WandbConfig = field(default_factory=WandbConfig)  # design §7.4
    speed: SpeedConfig = field(default_factory=SpeedConfig)  # design §10


ConfigStore.instance().store(name="m3_schema", node=M3Config)

RANGES_FILE = Path(__file__).with_name("config_ranges.toml")


@dataclass(frozen=True)
class Interval:
    """An allowed range of numbers, written like `[0, 1)`; `inf` bounds are open-ended."""

    low: float
    high: float
    low_closed: bool
    high_closed: bool
    text: str

    @classmethod
    def parse(cls, text: str) -> "Interval":
        match = re.fullmatch(r"([\[(])\s*([^,\s]+)\s*,\s*([^\])\s]+)\s*([\])])", text)
        if match is None:
            raise ValueError(f"{text!r} is not an interval like '[0, 1)'")
        opening, low, high, closing = match.groups()
        return cls(float(low), float(high), opening == "[", closing == "]", text)

    def __contains__(self, x: float) -> bool:
        above = self.low <= x if self.low_closed else self.low < x
        below = x <= self.high if self.high_closed else x < self.high
        return above and below


def _read_ranges() -> tuple[tuple[str, Interval], ...]:
    """(pattern of dotted keys, interval) in file order from config_ranges.toml; the first matching pattern applies."""
    with RANGES_FILE.open("rb") as f:
        return tuple((pattern, Interval.parse(text)) for pattern, text in tomllib.load(f).items())


_RANGES = _read_ranges()

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
    return compose_schema(M3Config, overrides, config_name="base",
                          keys_hint="the keys and their defaults are in config/m3/base.yaml and m3/config.py")


def compose_schema(schema: type, overrides: list[str], config_name: str, keys_hint: str) -> Any:
    """The command-line path of every entry point: compose `config_name` (a file of config/m3/, or a node of the
    ConfigStore) with Hydra overrides into an instance of the dataclass `schema`. A bad override, a wrong type
    or a key the schema lacks (`+key=value` included) is one ConfigError line; `keys_hint` says where the keys are.
    """
    for arg in overrides:
        if arg.startswith("-"):
            key = arg.lstrip("-").split("=")[0] or "key"
            raise ConfigError(f"{arg!r} is not an override: arguments are Hydra overrides key=value (e.g. "
                              f"{key}=<value>, no dashes); {keys_hint}")
    try:
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=overrides)
        obj = OmegaConf.to_object(cfg)
        unknown = _unknown_keys(OmegaConf.to_container(cfg), OmegaConf.to_container(OmegaConf.structured(schema)))
    except (HydraException, OmegaConfBaseException) as e:
        raise ConfigError(hydra_message(e)) from e
    if unknown:
        raise ConfigError(f"unknown config key {unknown[0]!r} (from an override or a config file); {keys_hint}")
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


def check_ranges(cfg: Any, ranges: tuple[tuple[str, Interval], ...] = _RANGES) -> None:
    """Every number of the dataclass `cfg` lies in its range (by default config_ranges.toml's); the message names
    the key, the value and the range."""
    for key, value in _numbers(to_dict(cfg)):
        interval = next((i for pattern, i in ranges if fnmatchcase(key, pattern)), None)
        if interval is None:
            raise ConfigError(f"{key} has no allowed range; add one to {RANGES_FILE.name}")
        if value not in interval:
            raise ConfigError(f"{key}={value!r} is not allowed; it must lie in {interval.text}")


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


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass (M3Config or another schema) as plain dicts and lists."""
    return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]


def from_yaml(text: str) -> M3Config:
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(M3Config), OmegaConf.create(text)))


__all__ = ["M3Config", "ConfigError", "Interval", "load_config", "compose_schema", "validate", "check_ranges",
           "hydra_message", "to_yaml", "to_dict", "from_yaml"]
