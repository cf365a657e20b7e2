"""Small episodes whose rows say where they come from, for the replay's tests."""

import torch

from m3.data.episode import Episode


def episode(eid: int, rows: int, modalities: tuple[str, ...] = ("image", "vector")) -> Episode:
    """Row t of episode eid: image (3, 2, 2) filled with eid * 10 + t, vector [eid, t], action t, reward t / 2."""
    t = torch.arange(rows)
    observations = {
        "image": (eid * 10 + t).to(torch.uint8)[:, None, None, None].expand(rows, 3, 2, 2).clone(),
        "vector": torch.stack([torch.full((rows,), float(eid)), t.float()], 1),
    }
    return Episode(
        id=eid,
        observations={name: observations[name] for name in modalities},
        actions=t.clone(),
        rewards=t.float() / 2,
        ends=torch.zeros(rows, dtype=torch.int64),
        mask_padding=torch.ones(rows, dtype=torch.bool),
    )
