"""Observation and action tokenizers (design §4)."""

from m3.models.tokenizers.actions import ActionTokenizer
from m3.models.tokenizers.categorical import Token2DTokenizer, TokenTokenizer
from m3.models.tokenizers.image import ImageTokenizer, ImageTokenizerConfig
from m3.models.tokenizers.multimodal import MultiModalTokenizer
from m3.models.tokenizers.vector import VectorTokenizer

__all__ = [
    "ActionTokenizer",
    "ImageTokenizer",
    "ImageTokenizerConfig",
    "MultiModalTokenizer",
    "Token2DTokenizer",
    "TokenTokenizer",
    "VectorTokenizer",
]
