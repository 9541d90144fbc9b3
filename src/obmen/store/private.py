"""Files only obmen's user may read: the database, tokens, `endpoints.json`, uploads (0600; folders 0700).

They hold customer data and credentials, so nothing obmen writes is left to the process's umask
(docs/operations.md §8.5).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["private_dir", "private_file", "private_sqlite", "write_private"]


def private_dir(path: Path) -> Path:
    """Make `path` (and missing parents) a folder only the owner can enter."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if missing; either way only the owner may read or write it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    path.chmod(0o600)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace `path` atomically with `text`, mode 0600 from the first byte."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def private_sqlite(database: str | None) -> None:
    """Make a SQLite database file and its WAL and shared-memory files 0600.

    SQLite gives the last two the database file's mode when it creates them; the folder is made 0700
    when obmen creates it.
    """
    if database in (None, "", ":memory:") or database.startswith("file:"):
        return
    path = Path(database)
    if not path.parent.exists():
        private_dir(path.parent)
    private_file(path)
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.chmod(0o600)
