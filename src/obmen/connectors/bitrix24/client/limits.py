"""Respecting a portal's limits: one leaky bucket per portal, and per-method operating-time budgets.

The bucket mirrors the server's own (docs/protocols/bitrix24.md §3: +1 per HTTP request, drained Y per second,
refused
over X); a `batch` is one request. The operating budget is fed by what the server *reports* in
`time.operating` / `time.operating_reset_at`, never by our own sums of durations (docs/protocols/bitrix24.md
§3).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PLANS", "LeakyBucket", "OperatingBudget", "Plan", "plan_for"]


@dataclass(frozen=True, slots=True)
class Plan:
    """A portal's bucket: `rate` requests drained per second, `burst` requests of headroom."""

    rate: float
    burst: int


#: docs/protocols/bitrix24.md §3: Enterprise 5/250, every other cloud plan 2/50; a box configures its own
# (None = off).
PLANS: Mapping[str, Plan | None] = {
    "cloud": Plan(rate=2.0, burst=50),
    "enterprise": Plan(rate=5.0, burst=250),
    "off": None,
}


def plan_for(limits: str, rate: float | None = None, burst: int | None = None) -> Plan | None:
    """The bucket a `limits` setting names; `custom` is a box's own `rate` and `burst`.

    See §3 (docs/protocols/bitrix24.md).
    """
    if limits == "custom":
        if rate is None or burst is None or rate <= 0 or burst < 1:
            raise ValueError('Bitrix24 limits "custom" need a rate > 0 and a burst ≥ 1')
        return Plan(rate=float(rate), burst=int(burst))
    if limits not in PLANS:
        raise ValueError(f"unknown Bitrix24 limits {limits!r} (known: {', '.join([*PLANS, 'custom'])})")
    return PLANS[limits]


class LeakyBucket:
    """Client-side copy of the portal's bucket, so we wait instead of collecting 503s."""

    def __init__(
        self,
        plan: Plan | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self._plan = plan
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._at = clock()
        self._lock = asyncio.Lock()

    @property
    def plan(self) -> Plan | None:
        """The bucket's size and drain rate, or None when unlimited."""
        return self._plan

    def _drain(self) -> None:
        assert self._plan is not None
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._at) * self._plan.rate)
        self._at = now

    async def acquire(self) -> None:
        """Wait until one more request fits in the bucket, then count it."""
        if self._plan is None:
            return
        async with self._lock:
            while True:
                self._drain()
                # Keep one slot of margin: the server counts per portal *and IP* and may be shared.
                if self._level + 1 <= self._plan.burst - 1:
                    self._level += 1
                    return
                await self._sleep((self._level + 2 - self._plan.burst) / self._plan.rate)

    def overflowed(self) -> None:
        """The server said QUERY_LIMIT_EXCEEDED: its bucket is fuller than ours, so assume it is full."""
        if self._plan is not None:
            self._drain()
            self._level = float(self._plan.burst)


class OperatingBudget:
    """Per-method operating time as the server reports it; holds a method back before it hits 429."""

    def __init__(
        self, limit: float = 480.0, *, margin: float = 0.1, clock: Callable[[], float] = time.time
    ) -> None:
        # docs/protocols/bitrix24.md §3: the docs' worked example uses 480 s per method per 10 minutes.
        self._limit = limit
        self._margin = margin
        self._clock = clock
        self._used: dict[str, tuple[float, float]] = {}

    def observe(self, method: str, timing: Mapping[str, Any]) -> None:
        """Record the `time` block of a successful answer."""
        operating, reset_at = timing.get("operating"), timing.get("operating_reset_at")
        if isinstance(operating, int | float) and isinstance(reset_at, int | float):
            self._used[method] = (float(operating), float(reset_at))

    def wait_for(self, method: str) -> float:
        """Seconds to hold `method` back (0 when it may run now)."""
        used = self._used.get(method)
        if used is None:
            return 0.0
        operating, reset_at = used
        remaining = reset_at - self._clock()
        if remaining <= 0:
            del self._used[method]
            return 0.0
        return remaining if operating >= self._limit * (1 - self._margin) else 0.0

    def reset_in(self, method: str) -> float | None:
        """Seconds until the method's oldest basket drops, if the server told us."""
        used = self._used.get(method)
        return None if used is None else max(0.0, used[1] - self._clock())

    def blocked(self, method: str, retry_after: float) -> None:
        """The server refused `method` with 429: hold it until its reset (or `retry_after`)."""
        reset_in = self.reset_in(method)
        self._used[method] = (self._limit, self._clock() + (reset_in if reset_in else retry_after))
