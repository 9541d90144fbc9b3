"""A client of a 1C-Bitrix site's REST through an incoming webhook (docs/protocols/site-rest.md §2).

A call is `POST <webhook>/<method>` with a JSON body; the answer is the REST envelope (`result`, and on lists
`total` and `next`). Every failure becomes one of obmen's errors in `_raise` and nowhere else: the system
errors of §2.3 (401 or a refused webhook: `AccessRefused`, which opens the site's breaker; a missing
scope: `AuthError`; 503 `QUERY_LIMIT_EXCEEDED`, 429: `RateLimited`; other
5xx, HTML, timeouts: `TransientError`), a method's "does not exist" codes `NotFound`, the rest
`PermanentError`. A transient failure is retried here a few times (one call's retries; the queue owns the
retries between attempts, docs/architecture.md §2.6); an update is retried too, because setting the same
fields twice changes nothing.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import httpx

from obmen.errors import (
    AccessRefused,
    AuthError,
    NotFound,
    PermanentError,
    ProtocolError,
    RateLimited,
    Retry,
    TransientError,
    Unreachable,
    retrying,
)

__all__ = ["NOT_FOUND_CODES", "PAGE", "SiteRest"]

log = logging.getLogger(__name__)

#: Rows per list page, fixed by the site (§3.1).
PAGE = 50
#: The methods' "does not exist" error codes (§2.3).
NOT_FOUND_CODES = frozenset({"200540400001", "201240400001", "200640400001", "201140400001"})
#: The webhook refused as a whole: the site's breaker opens (docs/architecture.md §2.13).
_REFUSED = frozenset({"INVALID_CREDENTIALS", "NO_AUTH_FOUND", "ACCESS_DENIED"})


class SiteRest:
    """Calls to one site's webhook; counts requests by method (`/metrics`, the benchmark)."""

    def __init__(
        self,
        webhook: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        attempts: int = 3,
        backoff: float = 0.2,
    ) -> None:
        self.webhook = webhook.rstrip("/") + "/"
        self.http = httpx.AsyncClient(transport=transport, timeout=timeout)
        #: Short retries of one call; longer waits are the queue's (docs/architecture.md §2.6).
        self.retry = Retry(attempts=attempts, base=backoff)
        self.requests = 0
        self.methods: Counter[str] = Counter()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self.http.aclose()

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One method call; returns the whole envelope (its `result`, `total`, `next`)."""

        def told(exc: TransientError, wait: float) -> None:
            log.info("site REST %s: %s; retrying in %.1fs", method, exc, wait)

        return await retrying(lambda: self._once(method, params or {}), self.retry, on_retry=told)

    async def _once(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.requests += 1
        self.methods[method] += 1
        try:
            response = await self.http.post(self.webhook + method, json=dict(params))
        except httpx.TimeoutException as exc:
            raise TransientError(f"site REST {method}: timed out") from exc
        except httpx.ConnectError as exc:
            reason = f"unreachable: {type(exc).__name__}: {exc}"
            raise Unreachable(f"site REST {method}: {reason}", system="site", reason=reason) from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"site REST {method}: {type(exc).__name__}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # A PHP fatal error or a proxy's page: the site is not answering REST right now.
            raise TransientError(f"site REST {method}: HTTP {response.status_code} without a JSON answer")
        if "error" in body or response.status_code >= 400:
            _raise(method, response.status_code, body)
        return body

    async def rows(
        self, method: str, params: Mapping[str, Any], key: str, *, limit: int = 10_000
    ) -> list[Any]:
        """Every row of a list method, following `next` page by page (§3.1), at most `limit`."""
        out: list[Any] = []
        start = 0
        while True:
            body = await self.call(method, {**params, "start": start})
            out += entities(body, key)
            following = body.get("next")
            if following is None or len(out) >= limit:
                return out[:limit]
            if not isinstance(following, int) or following <= start:
                raise ProtocolError(f"site REST {method}: next = {following!r} does not move on")
            start = following


def entities(body: Mapping[str, Any], key: str) -> list[Any]:
    """`result.<key>` of a list answer, which must be a list."""
    result = body.get("result")
    found = result.get(key) if isinstance(result, Mapping) else None
    if not isinstance(found, list):
        raise ProtocolError(f"site REST answered without result.{key}")
    return found


def _raise(method: str, status: int, body: Mapping[str, Any]) -> None:
    code = str(body.get("error", ""))
    said = str(body.get("error_description", ""))
    text = f"site REST {method}: {code} {said}".strip()
    if code in _REFUSED or status == 401:
        raise AccessRefused(text, system="site", reason=f"{code or status} {said}".strip())
    if code == "insufficient_scope":
        raise AuthError(text)
    if code == "QUERY_LIMIT_EXCEEDED" or status == 429 or code == "OPERATION_TIME_LIMIT":
        raise RateLimited(text, retry_after=1.0)
    if status >= 500 or code in ("INTERNAL_SERVER_ERROR", "ERROR_UNEXPECTED_ANSWER"):
        raise TransientError(text)
    if code in NOT_FOUND_CODES:
        raise NotFound(text)
    if code == "ERROR_METHOD_NOT_FOUND":
        raise ProtocolError(f"{text}: is the sale module installed and the webhook's scope `sale`?")
    raise PermanentError(text)
