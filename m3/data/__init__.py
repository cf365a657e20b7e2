"""Episodes, the replay's storage and its selectors (design §6.4, §7.2)."""

from m3.data.episode import OBS_DTYPES, Episode, EpisodeBuilder
from m3.data.replay import Key, Padding, ReplayStore, batch_to
from m3.data.selectors import FlatIndex, PrioritizedSampler, num_samples, sample_frames, sample_uniform

__all__ = [
    "OBS_DTYPES",
    "Episode",
    "EpisodeBuilder",
    "Key",
    "Padding",
    "ReplayStore",
    "batch_to",
    "FlatIndex",
    "PrioritizedSampler",
    "num_samples",
    "sample_frames",
    "sample_uniform",
]
