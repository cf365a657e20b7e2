"""RetNet backbone of the world model (design §5.2): retention forms, xPos rotation, layers, stack."""
from m3.models.retnet.backbone import RetNet, RetNetConfig, RetNetOutput
from m3.models.retnet.layer import FeedForward, MultiScaleRetention, RetNetLayer
from m3.models.retnet.retention import (
    decay_gammas,
    decay_tables,
    retention,
    retention_chunkwise,
    retention_recurrent,
)
from m3.models.retnet.xpos import rotate, rotation_angles, rotation_frequencies, rotation_tables

__all__ = [
    "FeedForward",
    "MultiScaleRetention",
    "RetNet",
    "RetNetConfig",
    "RetNetLayer",
    "RetNetOutput",
    "decay_gammas",
    "decay_tables",
    "retention",
    "retention_chunkwise",
    "retention_recurrent",
    "rotate",
    "rotation_angles",
    "rotation_frequencies",
    "rotation_tables",
]
