"""Craftax-Symbolic-v1 observation → m3 modalities (design §4.4, §11 D8). Pure numpy; no env needed.

The layout below is the one `craftax.craftax.renderer.render_craftax_symbolic` (craftax 1.6.1) writes:

- Map part, 8217 dims: a (9, 11, 83) array flattened row-major. Axis 0 (9) is the first map coordinate
  (`player_position[0]`), axis 1 (11) the second; so cell index = 11 * row + col, and each cell's 83
  features are contiguous: 37 block one-hot | 5 item one-hot | 40 mob channels (5 classes x 8 types,
  id = 8 * class + type) | 1 light flag.
- In a dark cell (light flag 0) the block, item and mob channels are all zero. In a lit cell the block
  and item channels are one-hot (item NONE = 0 included); the mob channels are all zero where there
  is no mob, so "no mob" and mob id 0 (melee type 0) both decode to 0, as in the official wrapper.
- The light flag is binary (light > 0.05), so its token is 0 or 19 (vocab 20, D8).
- Stats part, 51 dims: inventory 16, potions 6, intrinsics 9, direction one-hot 4 (indices 31-34,
  player_direction - 1), armour 4, armour enchantments 4, special values 8.
"""

from __future__ import annotations

import numpy as np

from m3.envs.spec import ActionSpec, EnvSpec, ModalitySpec

MAP_ROWS, MAP_COLS = 9, 11
NUM_CELLS = MAP_ROWS * MAP_COLS  # 99
NUM_BLOCKS, NUM_ITEMS, NUM_MOBS = 37, 5, 40
CELL_DIMS = NUM_BLOCKS + NUM_ITEMS + NUM_MOBS + 1  # 83
MAP_DIMS = NUM_CELLS * CELL_DIMS  # 8217
STATS_DIMS = 51
OBS_DIMS = MAP_DIMS + STATS_DIMS  # 8268
DIRECTION = slice(31, 35)  # within the stats part
NUM_DIRECTIONS = 4
VECTOR_DIMS = STATS_DIMS - NUM_DIRECTIONS  # 47
LIGHT_STEP = 0.05
NUM_ACTIONS = 43

ITEM_START = NUM_BLOCKS  # 37
MOB_START = ITEM_START + NUM_ITEMS  # 42
LIGHT = MOB_START + NUM_MOBS  # 82

CRAFTAX_VOCABS: tuple[int, ...] = (NUM_BLOCKS, NUM_ITEMS, NUM_MOBS, int(1.0 // LIGHT_STEP) + 1)  # (37, 5, 40, 20)
CRAFTAX_SPEC = EnvSpec(
    {
        "vector": ModalitySpec((VECTOR_DIMS,)),
        "token": ModalitySpec((1,), (NUM_DIRECTIONS,)),
        "token_2d": ModalitySpec((NUM_CELLS, len(CRAFTAX_VOCABS)), CRAFTAX_VOCABS),
    },
    ActionSpec("discrete", NUM_ACTIONS),
)


def decode_symbolic(obs: np.ndarray) -> dict[str, np.ndarray]:
    """Split symbolic observations (..., 8268) into vector float32 (..., 47), token int64 (..., 1) and
    token_2d int64 (..., 99, 4) with columns [block, item, mob, light] (§4.4)."""
    obs = np.asarray(obs, dtype=np.float32)
    if obs.shape[-1] != OBS_DIMS:
        raise ValueError(f"expected Craftax-Symbolic observations of size {OBS_DIMS}, got shape {obs.shape}")
    cells = obs[..., :MAP_DIMS].reshape(*obs.shape[:-1], NUM_CELLS, CELL_DIMS)  # (..., 99, 83)
    stats = obs[..., MAP_DIMS:]  # (..., 51)
    light = cells[..., LIGHT] // np.float32(LIGHT_STEP)  # (..., 99), floor division in floating point (D8)
    token_2d = np.stack(
        [
            cells[..., :ITEM_START].argmax(-1),
            cells[..., ITEM_START:MOB_START].argmax(-1),
            cells[..., MOB_START:LIGHT].argmax(-1),
            light.astype(np.int64),
        ],
        axis=-1,
    ).astype(np.int64)  # (..., 99, 4)
    direction = stats[..., DIRECTION].argmax(-1)[..., None].astype(np.int64)  # (..., 1)
    vector = np.concatenate([stats[..., : DIRECTION.start], stats[..., DIRECTION.stop :]], axis=-1)  # (..., 47)
    return {"vector": vector, "token": direction, "token_2d": token_2d}
