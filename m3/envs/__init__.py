"""m3 environments: the benchmark registry and the wrapper modules that fill it (design §1, §4.0, §8).

Each wrapper module registers its benchmark when imported; add a new wrapper by importing it here.
"""

from m3.envs import atari  # noqa: F401  (registers "atari")
from m3.envs import cartpole  # noqa: F401  (registers "cartpole")
from m3.envs import craftax  # noqa: F401  (registers "craftax")
from m3.envs import dmc  # noqa: F401  (registers "dmc")
from m3.envs.registry import EnvConfig, benchmarks, env_spec, games, make_env, register, validate

__all__ = ["EnvConfig", "benchmarks", "env_spec", "games", "make_env", "register", "validate"]
