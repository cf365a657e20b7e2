"""Draw a Craftax-Symbolic map observation (or its tokens) with Craftax's own textures (design §4.4, §8.6).

The real env is drawn by Craftax's pixel renderer from its full state; an imagined or stored
observation only has the 9 × 11 cells of [block, item, mob, light] tokens (m3.envs.craftax_mapping)
and the direction token, so this draws those: the block texture, the item and mob textures on top
(mob id = 8 · class + type; id 0 reads as no mob, as in the mapping), the player in the centre
facing its direction, and dark cells (light token 0) black.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from m3.envs.craftax_mapping import MAP_COLS, MAP_ROWS

TILE = 16  # craftax's BLOCK_PIXEL_SIZE_IMG
MOB_TYPES = 8  # mob id = MOB_TYPES * class + type
MOB_TEXTURES = ("melee_mob", "passive_mob", "ranged_mob", "projectile")  # classes 0-3; 4 = player projectiles


@functools.cache
def textures() -> dict[str, Any]:
    """Craftax's 16-pixel textures as numpy arrays (the first call may build Craftax's texture cache)."""
    from m3.envs.craftax import configured_jax

    configured_jax()
    from craftax.craftax.constants import load_all_textures

    t = load_all_textures()[TILE]
    out = {"blocks": np.asarray(t["block_textures"], np.float32),  # (37, 16, 16, 3)
           "items": np.asarray(t["full_map_item_textures"], np.float32)[:, :TILE, :TILE],  # (5, 16, 16, 4) RGBA
           "player": np.stack([np.asarray(p, np.float32) for p in t["player_textures"]])}  # (5, 16, 16, 4)
    for name in MOB_TEXTURES:
        rgb, alpha = np.asarray(t[f"{name}_textures"], np.float32), np.asarray(t[f"{name}_texture_alphas"], np.float32)
        out[name] = np.concatenate([rgb, alpha[..., :1]], axis=-1)  # (types, 16, 16, 4) RGBA, alpha in {0, 1}
    player_projectiles = np.asarray(t["player_projectile_textures"], np.float32)  # (4, 12, 12, 3), black = clear
    pad = (TILE - player_projectiles.shape[1]) // 2
    rgba = np.concatenate([player_projectiles, (player_projectiles.max(-1, keepdims=True) > 0)], axis=-1)
    out["player_projectile"] = np.pad(rgba, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    return out


def _over(tile: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[..., 3:]
    return tile * (1 - alpha) + rgba[..., :3] * alpha


def draw_map(cells: np.ndarray, direction: int) -> np.ndarray:
    """cells int (99, 4) [block, item, mob, light], direction token 0..3 → RGB uint8 (144, 176, 3)."""
    tex = textures()
    mob_sets = [*(tex[name] for name in MOB_TEXTURES), tex["player_projectile"]]
    image = np.zeros((MAP_ROWS * TILE, MAP_COLS * TILE, 3), np.float32)
    centre = (MAP_ROWS // 2) * MAP_COLS + MAP_COLS // 2
    for i, (block, item, mob, light) in enumerate(np.asarray(cells, dtype=np.int64)):
        if light == 0:
            continue
        tile = tex["blocks"][block]
        if item:
            tile = _over(tile, tex["items"][item])
        mob_class, mob_type = divmod(int(mob), MOB_TYPES)
        if mob and mob_type < len(mob_sets[mob_class]):
            tile = _over(tile, mob_sets[mob_class][mob_type])
        if i == centre:
            tile = _over(tile, tex["player"][direction])
        r, c = divmod(i, MAP_COLS)
        image[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE] = tile
    return image.clip(0, 255).astype(np.uint8)
