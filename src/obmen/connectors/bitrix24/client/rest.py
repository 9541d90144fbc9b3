"""An async Bitrix24 REST client: one per portal, shared by every caller in the process.

What it does for its callers (docs/protocols/bitrix24.md §1–§4): webhook or OAuth auth with single-flight
refresh;
one leaky bucket per portal plus per-method operating budgets; short retries (`obmen.errors.Retry`) on
503, 5xx, HTML bodies and timeouts; 302 portal moves followed without losing the POST body; `batch`
with automatic splitting at 50 and `$result[...]` chaining; keyset listing with `start=-1`.

A wait longer than `Retry.max_wait` (a method's operating time spent until a late reset, an overload)
is not slept here: the error goes back with its `retry_after` and the queue waits (docs/architecture.md
§2.6). A refusal of obmen as a whole is `AccessRefused`, an unreachable portal `Unreachable`: the
portal's breaker opens on either (§2.13).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import httpx

from obmen.connectors.bitrix24.client.auth import OAuth, Webhook
from obmen.connectors.bitrix24.client.limits import LeakyBucket, OperatingBudget, Plan, plan_for
from obmen.connectors.bitrix24.client.wire import (
    SYSTEM,
    Reply,
    TokenExpired,
    classify,
    encode_query,
    parse_reply,
)
from obmen.errors import (
    AccessRefused,
    ObmenError,
    ProtocolError,
    RateLimited,
    Retry,
    TransientError,
    Unreachable,
    retrying,
)

__all__ = ["BATCH_LIMIT", "Ambiguous", "BatchReply", "Bitrix24Client", "Call", "Retry", "repeatable"]

BATCH_LIMIT = 50
PAGE = 50

#: How a client retries one call unless told otherwise (short waits only, docs/architecture.md §2.6).
_RETRY = Retry()

#: One command: a method and its params.
Call = tuple[str, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class BatchReply:
    """Per-command results and errors of one `batch` call; a failed command does not fail the others."""

    results: Mapping[str, Any]
    errors: Mapping[str, ObmenError]
    totals: Mapping[str, int]
    nexts: Mapping[str, int]
    times: Mapping[str, Any] = field(default_factory=dict)


class Bitrix24Client:
    """REST calls to one portal, limited, retried and authenticated."""

    def __init__(
        self,
        auth: Webhook | OAuth,
        *,
        limits: str | Plan | None = "cloud",
        rate: float | None = None,
        burst: int | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        retry: Retry = _RETRY,
        auth_connector: str | None = None,
        user_agent: str = "obmen",
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        operating_limit: float = 480.0,
        bucket: LeakyBucket | None = None,
    ) -> None:
        self._auth = auth
        self._http = httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=False, headers={"User-Agent": user_agent}
        )
        # The clock and sleep are injectable so tests can run the limits against a sandbox's clock.
        # The portal counts per portal and IP (docs/protocols/bitrix24.md §3): every client of one portal in a
        # process
        # must share one bucket, so a second client is given the first one's `bucket`.
        # `limits="custom"` takes the box's own `rate` and `burst` (config `[bitrix24]`).
        plan = plan_for(limits, rate, burst) if isinstance(limits, str) else limits
        self.bucket = bucket or LeakyBucket(plan, clock=clock, sleep=sleep)
        self._budget = OperatingBudget(operating_limit, clock=clock)
        self._retry = retry
        self._sleep = sleep
        self.auth_connector = auth_connector
        #: Counters for benchmarks and `obmen status`: HTTP requests sent, retries taken.
        self.requests = 0
        self.retries = 0
        #: Commands by method, each batched command counted under its own method.
        self.methods: Counter[str] = Counter()
        #: Told of every write command that succeeded: (method, params, result) (`echo.Echoes.wrote`).
        self.on_write: Callable[[str, Mapping[str, Any], Any], None] | None = None

    async def __aenter__(self) -> Bitrix24Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def sleep(self, seconds: float) -> None:
        """Wait on the client's clock (the real one, or a sandbox's in tests)."""
        await self._sleep(seconds)

    @property
    def retry(self) -> Retry:
        """How this client retries one call; its callers sleep no longer than `retry.max_wait` either."""
        return self._retry

    @property
    def endpoint(self) -> str:
        """The base URL calls go to (ends with `/`)."""
        return self._auth.url if isinstance(self._auth, Webhook) else self._auth.tokens.client_endpoint

    async def call(
        self, method: str, params: Mapping[str, Any] | None = None, *, repeat: bool | None = None
    ) -> Reply:
        """Call one method; retries what may be retried and raises the obmen error for the rest.

        `repeat` says whether the call may be sent again after an answer that leaves open whether it
        was applied (a timeout, a 5xx); by default reads and idempotent writes may (`repeatable`).
        """
        body = dict(params or {})
        if self.auth_connector and _writes(method):
            # Our own writes stay out of our offline queue: no echo (docs/protocols/bitrix24.md §6.5).
            body.setdefault("auth_connector", self.auth_connector)
        may_repeat = repeatable(method, body) if repeat is None else repeat

        def counted(_: TransientError, __: float) -> None:
            self.retries += 1

        reply = await retrying(
            lambda: self._authorised(method, body),
            self._retry,
            sleep=self._sleep,
            may_repeat=lambda exc: may_repeat or not isinstance(exc, Ambiguous),
            on_retry=counted,
        )
        if self.on_write is not None and _writes(method):
            self.on_write(method, body, reply.result)
        return reply

    async def _authorised(self, method: str, body: dict[str, Any]) -> Reply:
        """Send once; an expired token is refreshed and the call sent again (never applied, §1.2)."""
        try:
            return await self._send(method, body)
        except TokenExpired as exc:
            if not isinstance(self._auth, OAuth):
                raise AccessRefused(str(exc), system=SYSTEM, reason="expired_token") from exc
            await self._auth.refresh(self._http, self._auth.tokens.access_token)
        try:
            return await self._send(method, body)
        except TokenExpired as exc:
            # Fresh tokens refused at once: the application is gone, only a new install helps.
            raise AccessRefused(str(exc), system=SYSTEM, reason="expired_token after a refresh") from exc

    async def _hold(self, held: float, method: str) -> None:
        """Wait out a method's spent operating time, if short; a long hold is the queue's to wait."""
        if not held:
            return
        if not self._retry.short(held):
            raise RateLimited(f"Bitrix24 {method}: operating time spent for {held:.0f}s", retry_after=held)
        await self._sleep(held)

    async def _send(self, method: str, body: dict[str, Any]) -> Reply:
        self.methods[method] += 1
        await self._hold(self._budget.wait_for(method), method)
        await self.bucket.acquire()
        url = urljoin(self.endpoint, method)
        token = self._auth.tokens.access_token if isinstance(self._auth, OAuth) else None
        payload = {**body, "auth": token} if token else body
        response = await self._post(url, payload, method)
        try:
            reply = parse_reply(
                response.status_code, response.headers.get("content-type", ""), response.content, method
            )
        except RateLimited as exc:
            self._on_limited(method, exc)
            raise
        except TransientError as exc:
            # A 5xx or an HTML page came back after the request went out: it may have been applied.
            raise Ambiguous(str(exc), retry_after=exc.retry_after) from exc
        self._budget.observe(method, reply.time)
        return reply

    async def _post(self, url: str, payload: Mapping[str, Any], method: str) -> httpx.Response:
        content = json.dumps(payload, ensure_ascii=False, default=str).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        for _ in range(3):
            self.requests += 1
            try:
                response = await self._http.post(url, content=content, headers=headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing reached the portal: safe to send again, whatever the method; if the short retries
                # do not reach it either, the portal is down and its breaker opens (§2.13).
                text = f"Bitrix24 {method} unreachable: {exc!r}"
                raise Unreachable(text, system=SYSTEM, reason=f"unreachable: {exc!r}") from exc
            except httpx.PoolTimeout as exc:
                raise TransientError(f"Bitrix24 {method}: no free connection: {exc!r}") from exc
            except httpx.TransportError as exc:
                raise Ambiguous(f"Bitrix24 {method} failed after sending: {exc!r}") from exc
            location = response.headers.get("location")
            if response.status_code not in (301, 302, 307, 308) or not location:
                return response
            # A renamed portal answers 302; repeat the POST at the new address (docs/protocols/bitrix24.md
            # §1.3).
            url = urljoin(url, location)
            await self._moved(url, method)
        raise ProtocolError(f"Bitrix24 {method}: too many redirects")

    async def _moved(self, url: str, method: str) -> None:
        base = url[: -len(method)] if url.endswith(method) else url.rsplit("/", 1)[0] + "/"
        if isinstance(self._auth, OAuth):
            await self._auth.moved(base)
        else:
            self._auth = Webhook(base)

    def _on_limited(self, method: str, exc: RateLimited) -> None:
        if "QUERY_LIMIT_EXCEEDED" in str(exc):
            self.bucket.overflowed()
        elif "OPERATION_TIME_LIMIT" in str(exc):
            reset_in = self._budget.reset_in(method)
            if reset_in is not None:
                exc.retry_after = reset_in
            self._budget.blocked(method, exc.retry_after or 60.0)

    async def batch(self, calls: Mapping[str, Call], *, halt: bool = False) -> BatchReply:
        """Run up to 50 commands in one request; `$result[name][...]` in params refers to earlier ones."""
        if len(calls) > BATCH_LIMIT:
            raise ValueError(f"a batch holds at most {BATCH_LIMIT} commands, got {len(calls)}")
        connector = {"auth_connector": self.auth_connector} if self.auth_connector else {}
        cmd = {
            name: f"{method}?{encode_query({**params, **(connector if _writes(method) else {})})}"
            for name, (method, params) in calls.items()
        }
        # Nested commands count against their own methods' operating time (docs/protocols/bitrix24.md §3): a
        # batch
        # waits for the most held-back method in it instead of collecting 429s.
        held = max((self._budget.wait_for(method) for method, _ in calls.values()), default=0.0)
        await self._hold(held, "batch")
        # A batch may be sent again only when every command in it may (docs/protocols/bitrix24.md §4: no
        # idempotency key).
        again = all(repeatable(method, params) for method, params in calls.values())
        self.methods.update(method for method, _ in calls.values())
        reply = await self.call("batch", {"halt": 1 if halt else 0, "cmd": cmd}, repeat=again)
        out = _batch_reply(reply.result, calls)
        if self.on_write is not None:
            for name, (method, params) in calls.items():
                if _writes(method) and name in out.results and name not in out.errors:
                    self.on_write(method, params, out.results[name])
        for name, timing in out.times.items():
            if name in calls and isinstance(timing, Mapping):
                self._budget.observe(calls[name][0], timing)
        for name, error in out.errors.items():
            if isinstance(error, RateLimited) and name in calls:
                self._on_limited(calls[name][0], error)
        return out

    async def call_many(self, calls: Sequence[Call], *, rounds: int = 4) -> list[Any]:
        """Run many commands through batches of 50; one result or `ObmenError` per call, in order.

        Commands refused by a limit inside a batch (429 `OPERATION_TIME_LIMIT`) were not applied, so
        they are sent again after the wait the portal asked for, up to `rounds` times, when that wait is
        short (`Retry.max_wait`); otherwise their `RateLimited` goes back to the caller, for the queue.
        """
        out: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        for round_ in range(rounds):
            limited: list[int] = []
            wait = 0.0
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start : start + BATCH_LIMIT]
                named = {f"c{i}": calls[i] for i in chunk}
                reply = await self.batch(named)
                for i in chunk:
                    result = reply.errors.get(f"c{i}", reply.results.get(f"c{i}"))
                    out[i] = result
                    if isinstance(result, RateLimited) and round_ + 1 < rounds:
                        limited.append(i)
                        wait = max(wait, result.retry_after or 1.0)
            if not limited or not self._retry.short(wait):
                break
            self.retries += 1
            await self._sleep(wait)
            pending = limited
        return out

    async def list_all(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        id_key: str = "ID",
        items: str | None = None,
        ascending: str = "ASC",
    ) -> AsyncIterator[dict[str, Any]]:
        """Every row of a list method by keyset paging: order by id, `>id`, `start=-1`.

        See §2.4 (docs/protocols/bitrix24.md).
        """
        # Legacy crm.* take FILTER/ORDER in any case; crm.item.* and catalog.* want lower case (§2.1),
        # and catalog wants `asc` where CRM wants `ASC` (§2.4): the caller says which.
        base = dict(params or {})
        last: Any = 0
        while True:
            query = {**base, "filter": {**base.get("filter", {}), f">{id_key}": last}}
            query.update({"order": {id_key: ascending}, "start": -1})
            rows = _rows((await self.call(method, query)).result, items)
            for row in rows:
                yield row
            if len(rows) < PAGE:
                return
            last = rows[-1][id_key]


class Ambiguous(TransientError):
    """The request went out and no clear answer came back (timeout, 5xx, HTML): it may have been applied."""


_WRITES = {"add", "update", "delete", "set", "modify", "conduct", "cancel", "register", "bind", "unbind"}
#: Writes whose repetition leaves the same state: replace-all setters and typed updates.
_SAME_AGAIN = {"set", "modify", "update", "delete", "bind", "unbind"}
#: Legacy multi-fields append items without an ID on update (docs/protocols/bitrix24.md §5.4): not repeatable.
_MULTI = {"PHONE", "EMAIL", "WEB", "IM", "LINK"}


def _writes(method: str) -> bool:
    # Bindings name their own auth_connector (events.bind_events); every other write is stamped.
    verb = method.rsplit(".", 1)[-1].lower()
    return verb in _WRITES and not method.lower().startswith("event.")


def repeatable(method: str, params: Mapping[str, Any]) -> bool:
    """Whether a call may be sent again when it is unknown if the first one was applied."""
    verb = method.rsplit(".", 1)[-1].lower()
    if method.lower() == "event.offline.get":
        # With clear=0 a get reserves a batch under a new process_id: a repeat hides another batch.
        return str(params.get("clear", 1)) in ("1", "True", "true")
    if verb not in _WRITES:
        return True
    if verb not in _SAME_AGAIN:
        # A create that may have landed is recovered by its origin stamp, never sent blind
        # (docs/architecture.md §2.4).
        return False
    fields = params.get("fields") or params.get("FIELDS")
    return not (isinstance(fields, Mapping) and _MULTI & {str(k).upper() for k in fields})


def _rows(result: Any, items: str | None) -> list[dict[str, Any]]:
    rows = result.get(items, []) if items and isinstance(result, Mapping) else result
    if not isinstance(rows, list):
        raise ProtocolError(f"expected a list of rows, got {type(rows).__name__}")
    return rows


def _batch_reply(result: Any, calls: Mapping[str, Call]) -> BatchReply:
    if not isinstance(result, Mapping):
        raise ProtocolError("batch answered without a result object")
    errors: dict[str, ObmenError] = {}
    for name, err in _as_map(result.get("result_error")).items():
        method = calls[name][0] if name in calls else "batch"
        errors[name] = classify(
            400, str(err.get("error") or ""), str(err.get("error_description") or ""), method
        )
    return BatchReply(
        results=_as_map(result.get("result")),
        errors=errors,
        totals={k: int(v) for k, v in _as_map(result.get("result_total")).items()},
        nexts={k: int(v) for k, v in _as_map(result.get("result_next")).items()},
        times=_as_map(result.get("result_time")),
    )


def _as_map(value: Any) -> dict[str, Any]:
    # PHP serialises an empty map as [] (docs/protocols/bitrix24.md §2.2).
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}
