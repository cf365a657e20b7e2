"""Crash-safe writes: a file is either its old content or its new content, never a torn mix (design §7.3).

Each write goes to a temporary file `.<name>.<random>.tmp` in the same folder (mode 0666 less the umask,
like any other file), is flushed and fsync'ed, then renamed over the target; the folder is fsync'ed so the
rename itself survives a power cut. A crash can leave such a temp file behind; `remove_temp_files` deletes them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any, Callable


def _atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def fsync_dir(folder: str | os.PathLike) -> None:
    """fsync a folder, so the renames and links made in it survive a power cut."""
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def remove_temp_files(folder: str | os.PathLike) -> None:
    """Delete the temp files that interrupted atomic writes left directly in `folder`."""
    for tmp in Path(folder).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """`torch.save(obj, path)`, atomically (torch is imported here, so text-only users stay light)."""
    import torch

    _atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_text(text: str, path: str | os.PathLike) -> None:
    """Write `text` (UTF-8) to `path`, atomically."""
    atomic_write_bytes(text.encode(), path)


def atomic_write_bytes(data: bytes, path: str | os.PathLike) -> None:
    """Write `data` to `path`, atomically."""
    _atomic_write(path, lambda f: f.write(data))


def atomic_savez(path: str | os.PathLike, **arrays: Any) -> None:
    """`numpy.savez_compressed(path, **arrays)`, atomically (`path` is used as given, no suffix added)."""
    import numpy as np

    _atomic_write(path, lambda f: np.savez_compressed(f, **arrays))
