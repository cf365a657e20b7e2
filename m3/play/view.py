"""The pygame window of the play tool (design §8.6).

Pictures are scaled (nearest neighbour) to one height and shown side by side, titled when there are
several; `-h` adds a two-line header (mode, step, action; reward, return, note). Keys: Enter resets, `.` pauses,
Shift+R starts and stops a recording, Escape or closing the window quits; every other key is passed
on as held, for playing in the world model. Pause and recording state show in the window title, so
they never enter a recording. Runs headless with `SDL_VIDEODRIVER=dummy`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402

HEIGHT = 320  # display height of every picture
MIN_WIDTH = 480
LINE_HEIGHT = 22
HEADER_LINES = 2
TITLE_HEIGHT = 20
GAP = 4
BACKGROUND = (24, 24, 24)
TEXT = (230, 230, 230)


@dataclass
class Commands:
    """What the keyboard asked for since the last poll."""

    quit: bool = False
    reset: bool = False
    pause: bool = False  # toggle
    record: bool = False  # toggle
    pressed: frozenset[int] = frozenset()  # held keys, plus keys pressed and released since the last poll


class Viewer:
    def __init__(self, caption: str, header: bool, height: int = HEIGHT) -> None:
        pygame.display.init()
        pygame.font.init()
        self.caption, self.header, self.height = caption, header, height
        self.font = pygame.font.Font(None, 22)
        self.screen: pygame.Surface | None = None
        self.held: set[int] = set()
        self.clock = pygame.time.Clock()

    def poll(self) -> Commands:
        commands, fresh = Commands(), set()
        for event in pygame.event.get():
            if event.type == pygame.QUIT:
                commands.quit = True
            elif event.type == pygame.KEYDOWN:
                if event.key == pygame.K_ESCAPE:
                    commands.quit = True
                elif event.key in (pygame.K_RETURN, pygame.K_KP_ENTER):
                    commands.reset = True
                elif event.key == pygame.K_PERIOD:
                    commands.pause = not commands.pause
                elif event.key == pygame.K_r and event.mod & pygame.KMOD_SHIFT:
                    commands.record = not commands.record
                else:
                    self.held.add(event.key)
                    fresh.add(event.key)
            elif event.type == pygame.KEYUP:
                self.held.discard(event.key)
        commands.pressed = frozenset(self.held | fresh)
        return commands

    def _surface(self, picture: np.ndarray) -> pygame.Surface:
        h, w = picture.shape[:2]
        surface = pygame.surfarray.make_surface(np.ascontiguousarray(picture.transpose(1, 0, 2)))
        return pygame.transform.scale(surface, (max(1, round(w * self.height / h)), self.height))

    def show(self, pictures: list[tuple[str, np.ndarray]], header: tuple[str, str], status: str) -> None:
        """Draw titled pictures (RGB uint8 (H, W, 3)) left to right under the header lines (if enabled)."""
        surfaces = [self._surface(p) for _, p in pictures]
        top = HEADER_LINES * LINE_HEIGHT + 4 if self.header else 0
        titles = TITLE_HEIGHT if len(pictures) > 1 else 0
        width = sum(s.get_width() for s in surfaces) + GAP * (len(surfaces) - 1)
        size = (max(MIN_WIDTH, width), top + titles + self.height)
        if self.screen is None or self.screen.get_size() != size:
            self.screen = pygame.display.set_mode(size)
        self.screen.fill(BACKGROUND)
        if self.header:
            for i, line in enumerate(header):
                self.screen.blit(self.font.render(line, True, TEXT), (6, 4 + i * LINE_HEIGHT))
        x = 0
        for (title, _), surface in zip(pictures, surfaces):
            if titles:
                self.screen.blit(self.font.render(title, True, TEXT), (x + 4, top + 2))
            self.screen.blit(surface, (x, top + titles))
            x += surface.get_width() + GAP
        pygame.display.set_caption(f"m3 play: {self.caption}{status}")
        pygame.display.flip()

    def snapshot(self) -> np.ndarray:
        """The window's content, RGB uint8 (H, W, 3)."""
        return pygame.surfarray.array3d(self.screen).transpose(1, 0, 2).copy()

    def tick(self, fps: int) -> None:
        """Wait so that frames come at most `fps` per second."""
        self.clock.tick(fps)

    def close(self) -> None:
        pygame.display.quit()
