"""The sandbox clock: real time by default, frozen and moved by hand in tests.

Token lifetimes (docs/protocols/bitrix24.md §1.2, 3600 s), the leaky bucket and operating-time baskets (§3)
all read
this clock, so a test can play an hour out in a microsecond.
"""

from __future__ import annotations

import time

__all__ = ["SandboxClock"]


class SandboxClock:
    """Unix time in seconds; `freeze()` stops it, `advance()` moves it (and freezes it first)."""

    def __init__(self) -> None:
        self._frozen: float | None = None

    @property
    def frozen(self) -> bool:
        """Whether the clock only moves when advanced."""
        return self._frozen is not None

    def now(self) -> float:
        """The current sandbox time."""
        return self._frozen if self._frozen is not None else time.time()

    def freeze(self, at: float | None = None) -> None:
        """Stop the clock at `at` (default: now)."""
        self._frozen = self.now() if at is None else float(at)

    def advance(self, seconds: float) -> None:
        """Move the clock forward; a running clock is frozen first, so `advance(0)` just freezes it."""
        if seconds < 0:
            raise ValueError("the sandbox clock does not go backwards")
        self._frozen = self.now() + seconds

    def resume(self) -> None:
        """Let the clock run with real time again."""
        self._frozen = None
