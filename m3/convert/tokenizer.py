"""Official image tokenizer (`tokenizers.image.*`) → m3's `ImageTokenizer` (design §4.1).

The official encoder and decoder nest their layers by stage (`cnn.1.<stage>.<i>`); m3's are flat
`nn.Sequential`s. Both list the same parametrised layers in the same order, so the rules pair the
official layer names with m3's parametrised children in order.
"""

from __future__ import annotations

import re

from torch import nn

from m3.convert.rules import Rule
from m3.models.tokenizers.image import ImageTokenizer


def _official_layers(part: str, stages: int) -> list[str]:
    """Names of the official parametrised layers of the encoder or decoder, in forward order."""
    first = ["cnn.0"] if part == "encoder" else ["cnn.0.0", "cnn.0.1"]  # conv | BatchNorm, conv
    staged = [name for s in range(stages) for name in (f"cnn.1.{s}.0", f"cnn.1.{s}.2.conv")]  # GroupNorm, conv
    return first + staged + ["cnn.2.0", "cnn.2.2"]  # GroupNorm, conv


def _parametrised(net: nn.Sequential) -> list[str]:
    return [name for name, layer in net.named_children() if any(True for _ in layer.parameters())]


def rules(image: ImageTokenizer | None) -> list[Rule]:
    """Rules for the official tokenizer state dict (keys `tokenizers.<modality>.*`); empty without images."""
    if image is None:
        return []
    out = [Rule(r"tokenizers\.image\.embedding\.weight", "image.codebook.weight")]
    for part, net in (("encoder", image.encoder.net), ("decoder", image.decoder.net)):
        ours = _parametrised(net)
        theirs = _official_layers(part, image.cfg.num_downsample_steps)
        assert len(ours) == len(theirs), f"{part}: {len(ours)} m3 layers vs {len(theirs)} official ones"
        for official, m3 in zip(theirs, ours):
            out.append(Rule(rf"tokenizers\.image\.{part}\.{re.escape(official)}\.(\w+)", rf"image.{part}.net.{m3}.\1"))
    return out

