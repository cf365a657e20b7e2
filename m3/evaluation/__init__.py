"""Evaluation (design §7.1 steps 5 and 7, §8.4): test episodes on parallel envs and their metrics (`episodes`), and
the tokenizer and world-model losses on those episodes (`losses`). The entry point is `python -m m3.evaluate`."""

from m3.evaluation.episodes import EpisodeResult, episode_metrics, episodes_played, play_episodes
from m3.evaluation.losses import eval_losses, eval_windows, tokenizer_losses

__all__ = [
    "EpisodeResult",
    "episode_metrics",
    "episodes_played",
    "play_episodes",
    "eval_losses",
    "eval_windows",
    "tokenizer_losses",
]
