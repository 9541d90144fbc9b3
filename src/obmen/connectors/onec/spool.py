"""Where 1C's uploads wait while a run lasts: one private folder per process, cleaned up without fail.

Runs live in the memory of the process that answered `checkauth` (the cookie names them), so their files
belong to that process too: each process keeps its runs under `<workdir>/p-<random>/`, holding an
exclusive `flock` on its `.lock` for as long as it lives. A run's folder goes when the run completes,
fails or idles out; the process's folder goes when it stops; and at start-up every folder whose owner is
dead (its lock can be taken) is removed, so a crash leaves nothing behind for long. Folders are 0700 and
files 0600 (docs/operations.md §8.5).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import time
from pathlib import Path

__all__ = ["Spool"]

log = logging.getLogger(__name__)

#: A folder without a lock file younger than this may be a sibling being born; older ones are orphans.
_UNLOCKED_GRACE = 60.0


class Spool:
    """This process's folder of exchange runs under `workdir`."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
        workdir.chmod(0o700)
        self.root = workdir / f"p-{secrets.token_hex(8)}"
        self.root.mkdir(mode=0o700)
        fd = os.open(self.root / ".lock", os.O_WRONLY | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lock: int | None = fd
        removed = self.sweep()
        if removed:
            log.info("1C exchange: removed %d run folder(s) left by stopped processes", removed)

    def sweep(self) -> int:
        """Remove the folders of processes that are gone (and loose run folders); returns how many."""
        removed = 0
        for child in self.workdir.iterdir():
            if child == self.root:
                continue
            if child.is_dir() and _orphaned(child):
                shutil.rmtree(child, ignore_errors=True)
                removed += 1
            elif not child.is_dir():
                child.unlink(missing_ok=True)
                removed += 1
        return removed

    def make(self, name: str) -> Path:
        """A fresh private folder for one run."""
        path = self.root / name
        path.mkdir(mode=0o700)
        return path

    def close(self) -> None:
        """The process stops: its runs' files go with it."""
        shutil.rmtree(self.root, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _orphaned(folder: Path) -> bool:
    lock = folder / ".lock"
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        with contextlib.suppress(OSError):
            return time.time() - folder.stat().st_mtime > _UNLOCKED_GRACE
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False  # its owner lives
    finally:
        os.close(fd)
    return True
