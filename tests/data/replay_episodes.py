"""Episodes for tests: small ones whose rows say where they come from (`episode`), and random ones shaped like an
env's observations (`random_episode`). Imported as `tests.data.replay_episodes`."""

import torch

from m3.data.episode import Episode
from m3.envs.spec import EnvSpec


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


def random_episode(spec: EnvSpec, episode_id: int, rows: int, gen: torch.Generator) -> Episode:
    """An episode of `rows` rows with random observations of `spec`'s modalities (images uint8, the others normal),
    random discrete actions and rewards, that ends by termination (the layout of m3/data/episode.py)."""
    obs = {}
    for name, m in spec.observations.items():
        if name == "image":
            obs[name] = torch.randint(0, 256, (rows, *m.shape), dtype=torch.uint8, generator=gen)
        else:
            obs[name] = torch.randn(rows, *m.shape, generator=gen)
    actions = torch.randint(0, spec.action.n, (rows,), generator=gen)
    rewards, ends = torch.randn(rows, generator=gen), torch.zeros(rows, dtype=torch.int64)
    actions[-1], rewards[-1], ends[-2] = 0, 0.0, 1
    return Episode(episode_id, obs, actions, rewards, ends, torch.ones(rows, dtype=torch.bool))
