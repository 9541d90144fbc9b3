"""One error tree for all of obmen, classified by what the caller should do next.

```
ObmenError
├── TransientError(retry_after)   try again later: 503, 429, timeouts, HTML instead of JSON, lost leases
│   ├── RateLimited               the remote asked us to slow down (QUERY_LIMIT_EXCEEDED, 429)
│   └── Unreachable               the whole system is down or unreachable (also a SystemRefused)
├── SystemRefused(system, reason) the whole system refuses obmen: its circuit breaker opens, no item fails
├── PermanentError                retrying is useless: park the work item with this reason
│   ├── AuthError                 credentials are wrong or revoked: needs an operator (re-auth)
│   │   └── AccessRefused         …for the whole system (a wrong webhook, a lapsed plan; a SystemRefused)
│   ├── NotFound                  the remote object does not exist (any more)
│   └── ProtocolError             the remote answered something we cannot understand
├── SkippableError                log it and carry on with the rest of the batch
└── ConfigError                   the configuration is invalid: stop at startup with exit code 2
```

Every connector maps its failures into this tree in exactly one place and raises with
`raise ... from exc`; no bare library exception crosses a package boundary.

Retrying has one owner per layer (docs/architecture.md §2.6): a client retries one call with `Retry`
(a few attempts, short waits only); the queue retries a work item across attempts. Both wait by the one
formula, `backoff`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

__all__ = [
    "AccessRefused",
    "AuthError",
    "ConfigError",
    "NotFound",
    "ObmenError",
    "PermanentError",
    "ProtocolError",
    "RateLimited",
    "Retry",
    "SkippableError",
    "SystemRefused",
    "TransientError",
    "Unreachable",
    "backoff",
    "growth",
    "retrying",
]

T = TypeVar("T")


class ObmenError(Exception):
    """Root of every error obmen raises on purpose."""


class TransientError(ObmenError):
    """A failure that may succeed on a later attempt; `retry_after` is a hint in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The remote refused the call because of its rate or operating-time limit."""


class PermanentError(ObmenError):
    """A failure that will repeat on every attempt until something outside changes."""


class AuthError(PermanentError):
    """The remote rejected our credentials; an operator must re-authorise the connection."""


class NotFound(PermanentError):
    """The remote object does not exist."""


class ProtocolError(PermanentError):
    """The remote answered in a shape the protocol does not allow."""


class SkippableError(ObmenError):
    """One record cannot be processed; the rest of the batch goes on."""


class ConfigError(ObmenError):
    """The configuration is invalid; one line naming the file, key, value and what is allowed."""


class SystemRefused(ObmenError):
    """A whole system refuses obmen or is down: an outage, not an item's failure (docs/architecture.md §2.13).

    `system` names it (`bitrix24`, `site`, `onec`); `reason` is what the operator is told.
    """

    def __init__(self, message: str, *, system: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.system = system
        self.reason = reason or message


class AccessRefused(SystemRefused, AuthError):
    """The system refuses every call: credentials revoked, a wrong webhook, a plan without REST."""


class Unreachable(SystemRefused, TransientError):
    """The system does not answer at all (connection refused, DNS, a gateway's 502 for every call)."""


def growth(attempt: int, *, base: float, cap: float) -> float:
    """How waits grow: `base · 2^(attempt−1)` for `attempt` from 1, never more than `cap`."""
    return min(cap, base * 2.0 ** min(max(0, attempt - 1), 60))


def backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """The one backoff formula: a random wait within the upper half of `growth(attempt)`.

    Exponential, capped, and jittered so that many failing items or calls do not come back at once.
    """
    ceiling = growth(attempt, base=base, cap=cap)
    return (rng or random).uniform(ceiling / 2, ceiling)


@dataclass(frozen=True, slots=True)
class Retry:
    """How a client retries one call: a few attempts with short waits; longer waits are the queue's."""

    attempts: int = 4
    base: float = 0.5
    cap: float = 5.0
    #: The longest single wait a client sleeps; a remote asking for longer (a 429 with a late reset)
    #: gets its error back to the queue, with `retry_after`, instead (docs/architecture.md §2.6).
    max_wait: float = 10.0
    #: The most one call may sleep in all before its error goes to the queue.
    max_total: float = 20.0

    def wait(self, attempt: int, slept: float, error: TransientError) -> float | None:
        """How long to wait before attempt `attempt + 1`, or None: give the error to the caller."""
        if attempt >= self.attempts:
            return None
        wait = max(backoff(attempt, base=self.base, cap=self.cap), error.retry_after or 0.0)
        if wait > self.max_wait or slept + wait > self.max_total:
            return None
        return wait

    def short(self, wait: float) -> bool:
        """Whether a client may sleep `wait` itself (else the queue waits: nothing sleeps under a lease)."""
        return wait <= self.max_wait


async def retrying(
    call: Callable[[], Awaitable[T]],
    policy: Retry,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    may_repeat: Callable[[TransientError], bool] = lambda _: True,
    on_retry: Callable[[TransientError, float], None] | None = None,
) -> T:
    """Run one call, retrying transient failures as `policy` allows; the last error goes to the caller.

    `may_repeat` says whether a failure leaves the call safe to send again (a create whose answer was
    lost is not: docs/architecture.md §2.4).
    """
    attempt, slept = 1, 0.0
    while True:
        try:
            return await call()
        except TransientError as exc:
            wait = policy.wait(attempt, slept, exc) if may_repeat(exc) else None
            if wait is None:
                raise
            if on_retry is not None:
                on_retry(exc, wait)
            await sleep(wait)
            attempt, slept = attempt + 1, slept + wait
