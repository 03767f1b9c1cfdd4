"""Files only the daemon's user may read (officer data, BLE keys), written whole or not at all.

Each is written to `.<name>.tmp` beside it, created 0600 whatever the umask, synced, renamed
over the old one, and the folder synced too, so a crash or a power cut leaves either the old
file or the new one, never a truncated file under its name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final

FILE_MODE: Final = 0o600
PARTIAL_PREFIX: Final = "."
PARTIAL_SUFFIX: Final = ".tmp"


def partial_path(path: Path) -> Path:
    """Where `path` is written before it is renamed into place."""
    return path.with_name(f"{PARTIAL_PREFIX}{path.name}{PARTIAL_SUFFIX}")


def write_private(path: Path, pieces: Iterable[str]) -> None:
    """Replace `path` with the text of `pieces` (blocking: run it off the event loop)."""
    partial = partial_path(path)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    # A partial file left by a crash keeps the mode it was made with.
    os.fchmod(descriptor, FILE_MODE)
    with open(descriptor, "w", encoding="utf-8") as file:
        for piece in pieces:
            file.write(piece)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    _sync_folder(path.parent)  # the rename itself survives a power cut


def _sync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
