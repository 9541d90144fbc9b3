"""Running one method call: lookup, application context, scope, operating-time budget, timing.

Used for a single REST request and for every command of a `batch` alike (docs/protocols/bitrix24.md §3, §4).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from obmen_sandbox.bitrix24.auth import App
from obmen_sandbox.bitrix24.registry import METHODS, RestError
from obmen_sandbox.bitrix24.wire import time_block

if TYPE_CHECKING:
    from obmen_sandbox.bitrix24.portal import Portal

__all__ = ["Caller", "Outcome", "invoke", "is_listed"]


@dataclass(frozen=True)
class Caller:
    """Who calls: a webhook's user, or an application acting for a user."""

    user_id: int
    app: App | None = None

    @property
    def key(self) -> str:
        """Operating time is counted per application or webhook (§3)."""
        return self.app.client_id if self.app else f"webhook:{self.user_id}"


@dataclass
class Outcome:
    """What one call produced: a payload (maybe with total/next) or an error, and its `time` block."""

    result: Any = None
    total: int | None = None
    next: int | None = None
    error: RestError | None = None
    time: dict[str, Any] | None = None

    def envelope(self) -> dict[str, Any]:
        """The JSON body of a single REST answer (§2.2, §2.3)."""
        if self.error is not None:
            return {"error": self.error.code, "error_description": self.error.description}
        body: dict[str, Any] = {"result": self.result}
        if self.total is not None:
            body["total"] = self.total
        if self.next is not None:
            body["next"] = self.next
        body["time"] = self.time
        return body


def is_listed(value: Any) -> bool:
    """Whether a handler answered a list (any object with `result`, `total` and `next`)."""
    return all(hasattr(value, name) for name in ("result", "total", "next")) and not isinstance(
        value, Mapping
    )


def invoke(
    portal: Portal, name: str, params: Mapping[str, Any], caller: Caller, *, in_batch: bool = False
) -> Outcome:
    """Run method `name`; every failure becomes an Outcome with an error."""
    start = portal.clock.now()
    try:
        found = METHODS.get(name.lower())
        if found is None:
            raise RestError("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
        if in_batch and not found.batchable:
            raise RestError("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method is not allowed for batch usage", 405)
        if found.app_only and caller.app is None:
            raise RestError("WRONG_AUTH_TYPE", "Current authorization type is denied for this method", 403)
        call = portal.auth.call_for(found.name, params, caller.user_id, caller.app)
        if found.scope != "basic" and found.scope not in call.scopes:
            raise RestError("insufficient_scope", "The request requires higher privileges than provided", 401)
        counted = found.name != "batch"  # the outer batch is not counted, its commands are (§3)
        if counted:
            portal.limits.check(found.name.lower(), caller.key)
        began = time.perf_counter()
        value = found.handler(portal, call)
        elapsed = time.perf_counter() - began
    except RestError as exc:
        return Outcome(error=exc)
    operating = portal.limits.record(found.name.lower(), caller.key, elapsed) if counted else None
    if not counted and portal.limits.enabled:
        operating = (0.0, start + elapsed)
    finish = start + elapsed
    block = time_block(
        start,
        finish,
        operating=operating[0] if operating else None,
        reset_at=operating[1] if operating else None,
    )
    if is_listed(value):
        return Outcome(value.result, value.total, value.next, time=block)
    return Outcome(value, time=block)
