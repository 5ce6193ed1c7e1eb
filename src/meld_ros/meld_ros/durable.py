"""Durable renames on disk, shared by the episode writer and the transfer store. No ROS."""
from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: str | Path) -> None:
    """Flush a folder's entries (a rename into it) to disk; a filesystem that refuses is let be,
    as the rename itself is atomic either way."""
    try:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
