"""Can a file be written at a path? Checked by the entry points before any long work (design §7.3)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def unwritable_reason(folder: Path) -> str | None:
    """Why files cannot be written in `folder` (which may not exist yet: its nearest existing ancestor must be a
    folder that takes a new file), or None when they can. The check writes, syncs and removes a one-byte probe
    file, so a read-only folder or file system and a full disk are all found."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        return f"{folder} is not a folder"
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    try:
        fd, probe = tempfile.mkstemp(prefix=".m3-write-probe.", dir=existing)
    except OSError as e:
        return f"{existing}: {e.strerror}"
    try:
        os.write(fd, b"\0")
        os.fsync(fd)
    except OSError as e:
        return f"{existing}: {e.strerror}"
    finally:
        os.close(fd)
        os.unlink(probe)
    return None
