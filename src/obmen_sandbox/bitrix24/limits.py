"""Cloud limits: the per-portal leaky bucket and the per-method operating-time budget.

See §3 (docs/protocols/bitrix24.md).

Bucket: +1 per HTTP request (a batch is one request), drains Y per second, over X → 503
`QUERY_LIMIT_EXCEEDED`. Operating time: seconds spent in one method by one app/webhook, kept in one-minute
baskets that each live 10 minutes from their first call; over the limit, the next call → 429
`OPERATION_TIME_LIMIT`. A method's cost is its real processing time unless `costs` simulates one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from obmen_sandbox.bitrix24.registry import Clock, RestError

__all__ = ["PLANS", "Limits"]

#: plan → (drain per second, burst); "off" is a box without a bucket.
PLANS: dict[str, tuple[float, float] | None] = {"cloud": (2.0, 50.0), "enterprise": (5.0, 250.0), "off": None}
BASKET = 60.0
WINDOW = 600.0
#: The docs' worked example (D:limits.md); the real cloud value is "set by configuration".
OPERATING_LIMIT = 480.0


@dataclass
class _Basket:
    opened: float
    seconds: float = 0.0


@dataclass
class Limits:
    """Limit state of one portal."""

    clock: Clock
    plan: str = "off"
    operating_limit: float = OPERATING_LIMIT
    #: Simulated seconds per call of a method (lower-case name), for tests that must reach the budget.
    costs: dict[str, float] = field(default_factory=dict)
    _level: float = 0.0
    _last: float | None = None
    _baskets: dict[tuple[str, str], list[_Basket]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.plan not in PLANS:
            raise ValueError(f"limits must be one of {sorted(PLANS)}, not {self.plan!r}")

    @property
    def enabled(self) -> bool:
        """Whether this is a cloud plan (bucket and operating time on)."""
        return PLANS[self.plan] is not None

    def reset(self) -> None:
        """Empty the bucket and forget operating time."""
        self._level = 0.0
        self._last = None
        self._baskets.clear()

    def take(self) -> None:
        """Count one HTTP request; 503 QUERY_LIMIT_EXCEEDED when the bucket is full."""
        plan = PLANS[self.plan]
        if plan is None:
            return
        rate, burst = plan
        now = self.clock.now()
        if self._last is not None:
            self._level = max(0.0, self._level - (now - self._last) * rate)
        self._last = now
        if self._level + 1 > burst:
            raise RestError("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)
        self._level += 1

    def _live(self, key: tuple[str, str]) -> list[_Basket]:
        now = self.clock.now()
        baskets = [b for b in self._baskets.get(key, []) if now - b.opened < WINDOW]
        self._baskets[key] = baskets
        return baskets

    def check(self, method: str, caller: str) -> None:
        """429 OPERATION_TIME_LIMIT when this caller has used up this method's budget."""
        if not self.enabled:
            return
        if sum(b.seconds for b in self._live((method, caller))) >= self.operating_limit:
            raise RestError("OPERATION_TIME_LIMIT", "Method is blocked due to operation time limit.", 429)

    def record(self, method: str, caller: str, elapsed: float) -> tuple[float, float] | None:
        """Add a call's cost; returns (operating, operating_reset_at) for the envelope, None when off."""
        if not self.enabled:
            return None
        now = self.clock.now()
        baskets = self._live((method, caller))
        if not baskets or now - baskets[-1].opened >= BASKET:
            baskets.append(_Basket(now))
        baskets[-1].seconds += self.costs.get(method, elapsed)
        return sum(b.seconds for b in baskets), baskets[0].opened + WINDOW
