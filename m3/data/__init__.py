"""Episodes, the replay store and the batch samplers (design §6.4, §7.2)."""

from m3.data.episode import OBS_DTYPES, Episode, EpisodeBuilder
from m3.data.replay import Key, Padding, ReplayStore, batch_to, collate_segments, draw_distinct, num_samples
from m3.data.sampler import (
    PrioritizedBatchSampler,
    PrioritizedSampler,
    SegmentDataset,
    prioritized_loader,
)

__all__ = [
    "OBS_DTYPES",
    "Episode",
    "EpisodeBuilder",
    "Key",
    "Padding",
    "ReplayStore",
    "batch_to",
    "collate_segments",
    "draw_distinct",
    "num_samples",
    "PrioritizedBatchSampler",
    "PrioritizedSampler",
    "SegmentDataset",
    "prioritized_loader",
]
