"""Keyboard → action maps for playing inside the world model (`-w`, design §8.6), and action names.

Discrete benchmarks give each action a set of keys; of the actions whose keys are all held, the one
with the most keys wins (Atari: ↑ + Space = UPFIRE), and with no mapped key held the default action
(NOOP; CartPole: push left) is taken. DMC gives each action dimension a (+1, −1) key pair; a dimension
with neither key held is 0. Enter, `.`, Shift+R and Escape are the viewer's (see `view.py`) and are
never mapped here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

ATARI_WORDS = {"UP": pygame.K_UP, "DOWN": pygame.K_DOWN, "LEFT": pygame.K_LEFT, "RIGHT": pygame.K_RIGHT,
               "FIRE": pygame.K_SPACE}
"""The parts an ALE action meaning is spelled from (`UPRIGHTFIRE`), and their keys."""

CARTPOLE_KEYS = {0: pygame.K_LEFT, 1: pygame.K_RIGHT}

CRAFTAX_KEYS = {
    "LEFT": pygame.K_a, "RIGHT": pygame.K_d, "UP": pygame.K_w, "DOWN": pygame.K_s, "DO": pygame.K_SPACE,
    "SLEEP": pygame.K_TAB, "PLACE_STONE": pygame.K_r, "PLACE_TABLE": pygame.K_t, "PLACE_FURNACE": pygame.K_f,
    "PLACE_PLANT": pygame.K_p, "MAKE_WOOD_PICKAXE": pygame.K_1, "MAKE_STONE_PICKAXE": pygame.K_2,
    "MAKE_IRON_PICKAXE": pygame.K_3, "MAKE_DIAMOND_PICKAXE": pygame.K_4, "MAKE_WOOD_SWORD": pygame.K_5,
    "MAKE_STONE_SWORD": pygame.K_6, "MAKE_IRON_SWORD": pygame.K_7, "MAKE_DIAMOND_SWORD": pygame.K_8,
    "REST": pygame.K_e, "DESCEND": pygame.K_PAGEDOWN, "ASCEND": pygame.K_PAGEUP, "MAKE_IRON_ARMOUR": pygame.K_y,
    "MAKE_DIAMOND_ARMOUR": pygame.K_u, "SHOOT_ARROW": pygame.K_i, "MAKE_ARROW": pygame.K_o,
    "CAST_FIREBALL": pygame.K_g, "CAST_ICEBALL": pygame.K_h, "PLACE_TORCH": pygame.K_j,
    "DRINK_POTION_RED": pygame.K_z, "DRINK_POTION_GREEN": pygame.K_x, "DRINK_POTION_BLUE": pygame.K_c,
    "DRINK_POTION_PINK": pygame.K_v, "DRINK_POTION_CYAN": pygame.K_b, "DRINK_POTION_YELLOW": pygame.K_n,
    "READ_BOOK": pygame.K_m, "ENCHANT_SWORD": pygame.K_k, "ENCHANT_ARMOUR": pygame.K_l,
    "MAKE_TORCH": pygame.K_LEFTBRACKET, "LEVEL_UP_DEXTERITY": pygame.K_RIGHTBRACKET,
    "LEVEL_UP_STRENGTH": pygame.K_MINUS, "LEVEL_UP_INTELLIGENCE": pygame.K_EQUALS, "ENCHANT_BOW": pygame.K_SEMICOLON,
}
"""Craftax action name → key (NOOP: no key), after Craftax's own bindings, with PageUp/PageDown for
ASCEND/DESCEND because `.` pauses here."""

DMC_PAIRS: tuple[tuple[int, int], ...] = (
    (pygame.K_q, pygame.K_a), (pygame.K_w, pygame.K_s), (pygame.K_e, pygame.K_d), (pygame.K_r, pygame.K_f),
    (pygame.K_t, pygame.K_g), (pygame.K_y, pygame.K_h), (pygame.K_u, pygame.K_j), (pygame.K_i, pygame.K_k),
    (pygame.K_o, pygame.K_l), (pygame.K_p, pygame.K_SEMICOLON),
)
"""(+1, −1) keys of action dimensions 0..9: q/a, w/s, e/d, ..."""

RESERVED = frozenset({pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_PERIOD, pygame.K_ESCAPE})


@dataclass(frozen=True)
class KeyMap:
    """discrete: {action: keys} with `default` when none matches; continuous: `pairs[i]` = (+, −) keys of
    dimension i; `names` label the actions."""

    discrete: dict[int, frozenset[int]] = field(default_factory=dict)
    default: int = 0
    pairs: tuple[tuple[int, int], ...] = ()
    names: tuple[str, ...] = ()

    def action(self, pressed: frozenset[int]) -> Any:
        """The action for the held keys: an int, or float32 (A,) in {−1, 0, 1}."""
        if self.pairs:
            return np.array([float(up in pressed) - float(down in pressed) for up, down in self.pairs], np.float32)
        matches = [(len(keys), a) for a, keys in self.discrete.items() if keys and keys <= pressed]
        return max(matches)[1] if matches else self.default

    def legend(self) -> list[str]:
        """One `keys: action` line per mapped action (printed when `-w` starts)."""
        if self.pairs:
            return [f"{pygame.key.name(u)}/{pygame.key.name(d)}: dim {i} +1/-1" for i, (u, d) in enumerate(self.pairs)]
        return [f"{'+'.join(pygame.key.name(k) for k in sorted(keys))}: {self.names[a]}"
                for a, keys in sorted(self.discrete.items()) if keys]


def action_names(benchmark: str, env: Any) -> tuple[str, ...]:
    """Names of the discrete actions of `env` (empty for continuous actions)."""
    if benchmark == "atari":
        return tuple(env.unwrapped.get_action_meanings())
    if benchmark == "craftax":
        from craftax.craftax.constants import Action

        return tuple(a.name for a in sorted(Action, key=lambda a: a.value))
    if benchmark == "cartpole":
        return ("push left", "push right")
    return ()


def atari_keys(meaning: str) -> frozenset[int]:
    """`UPRIGHTFIRE` → {↑, →, Space}; NOOP → {}."""
    keys, rest = set(), meaning.replace("NOOP", "")
    while rest:
        word = next((w for w in ATARI_WORDS if rest.startswith(w)), None)
        if word is None:
            raise ValueError(f"cannot map the Atari action {meaning!r} to keys")
        keys.add(ATARI_WORDS[word])
        rest = rest[len(word):]
    return frozenset(keys)


def key_map(benchmark: str, env: Any, action_dims: int) -> KeyMap:
    """The key map of `benchmark` for `env` (Atari reads the game's minimal action set)."""
    names = action_names(benchmark, env)
    if benchmark == "atari":
        return KeyMap({a: atari_keys(m) for a, m in enumerate(names)}, names.index("NOOP"), names=names)
    if benchmark == "craftax":
        keys = {a: frozenset({CRAFTAX_KEYS[n]}) if n in CRAFTAX_KEYS else frozenset() for a, n in enumerate(names)}
        return KeyMap(keys, names.index("NOOP"), names=names)
    if benchmark == "cartpole":
        return KeyMap({a: frozenset({k}) for a, k in CARTPOLE_KEYS.items()}, 0, names=names)
    if action_dims > len(DMC_PAIRS):
        raise ValueError(f"keyboard play supports at most {len(DMC_PAIRS)} action dimensions, this task has "
                         f"{action_dims}")
    return KeyMap(pairs=DMC_PAIRS[:action_dims])


def format_action(action: Any, names: Sequence[str]) -> str:
    """`3 (FIRE)` for a discrete action, `[0.20, -1.00]` for a continuous one, `-` for none."""
    if action is None:
        return "-"
    values = np.asarray(action).reshape(-1)
    if values.size == 1 and names:
        return f"{int(values[0])} ({names[int(values[0])]})"
    return "[" + ", ".join(f"{v:.2f}" for v in values) + "]"
