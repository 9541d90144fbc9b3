"""A thin client of 1C's standard OData interface (v3, JSON) and of the ObmenPing extension's HTTP service.

URLs follow docs/protocols/onec.md §A1.2: `<root>/<Set>?$format=json&…`, `<Set>(guid'…')`, virtual tables
as functions `<Register>/Balance(Condition='…')` (§A1.3); the query is encoded here, spaces as `%20`,
so that no HTTP library rewrites what 1C parses. Every call carries HTTP Basic. Failures are mapped into
`obmen.errors` in one place (`_raise`); reads and idempotent writes are retried a few times on transient
failures, a create never (docs/architecture.md §2.6, §2.4).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import httpx

from obmen.errors import (
    AccessRefused,
    NotFound,
    ObmenError,
    PermanentError,
    ProtocolError,
    RateLimited,
    Retry,
    TransientError,
    Unreachable,
    retrying,
)

__all__ = ["ODataClient", "guid_list"]

_SAFE = "$,'()/:;_!=*-."
_PATH_SAFE = "()'=,/_-.:"


def guid_list(field: str, keys: Sequence[str]) -> str:
    """`field eq guid'a' or field eq guid'b'` (a `$filter` or a virtual table's `Condition`)."""
    return " or ".join(f"{field} eq guid'{key}'" for key in keys)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    error = body.get("odata.error") or body.get("error") or {} if isinstance(body, dict) else {}
    message = error.get("message") if isinstance(error, dict) else None
    if isinstance(message, dict):
        message = message.get("value")
    return str(message or response.text[:200])


def _raise(response: httpx.Response, what: str) -> None:
    """The one place where 1C's HTTP answers become obmen's errors (docs/protocols/onec.md §A1.6)."""
    status = response.status_code
    if status < 400:
        return
    text = f"1C OData {what}: HTTP {status}: {_message(response)}"
    # 1C refuses the whole publication alike: its breaker opens (docs/architecture.md §2.13).
    if status == 401:
        hint = "check onec.odata_login and onec.odata_password"
        raise AccessRefused(f"{text} ({hint})", system="onec", reason=f"HTTP 401: {hint}")
    if status == 403:
        hint = "the 1C user lacks the right, or the object is not published, §A1.1"
        raise AccessRefused(f"{text} ({hint})", system="onec", reason=f"HTTP 403: {hint}")
    if status == 404:
        raise NotFound(text)
    if status == 412:
        raise TransientError(f"{text} (changed in 1C meanwhile: read again)", retry_after=1.0)
    if status == 429:
        retry = response.headers.get("retry-after", "")
        raise RateLimited(text, retry_after=float(retry) if retry.isdigit() else 5.0)
    if status in (502, 503, 504):
        raise TransientError(text)
    if status >= 500:
        # `-1 Error running processor`: a posting or a write the configuration refused (rights, checks).
        raise PermanentError(text)
    raise ProtocolError(text)


class ODataClient:
    """One published infobase: `url` is its OData root (`…/odata/standard.odata`)."""

    def __init__(
        self,
        url: str,
        login: str,
        password: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
        attempts: int = 3,
    ) -> None:
        self.root = url.rstrip("/")
        # The extension's HTTP services live beside OData in the same publication: `<pub>/hs/obmen`.
        self.services = self.root.rsplit("/odata/", 1)[0] + "/hs/obmen"
        #: Short retries of one call; longer waits are the queue's (docs/architecture.md §2.6).
        self.retry = Retry(attempts=attempts, base=0.2, cap=5.0)
        self.requests = 0
        self._http = httpx.AsyncClient(auth=(login, password), transport=transport, timeout=timeout)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- transport --------------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> Any:
        policy = self.retry if retry else replace(self.retry, attempts=1)
        return await retrying(lambda: self._once(method, url, what=what, body=body, headers=headers), policy)

    async def _once(
        self, method: str, url: str, *, what: str, body: Any, headers: Mapping[str, str] | None
    ) -> Any:
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        sent = {"Accept": "application/json", **(headers or {})}
        if content is not None:
            sent["Content-Type"] = "application/json; charset=utf-8"
        response = await self._request(method, url, what=what, content=content, headers=sent)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            # A web server's HTML page (IIS, Apache) instead of 1C's answer: try again later (§A1.8).
            raise TransientError(f"1C OData {what}: not JSON: {response.text[:120]!r}") from exc

    async def _request(
        self, method: str, url: str, *, what: str, content: bytes | None, headers: Mapping[str, str]
    ) -> httpx.Response:
        """One HTTP exchange, its failures as obmen's errors (with `_raise`, the one mapping)."""
        self.requests += 1
        try:
            response = await self._http.request(method, url, content=content, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientError(f"1C OData {what}: timed out") from exc
        except httpx.ConnectError as exc:
            reason = f"unreachable: {type(exc).__name__}: {exc}"
            raise Unreachable(f"1C OData {what}: {reason}", system="onec", reason=reason) from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"1C OData {what}: {type(exc).__name__}: {exc}") from exc
        _raise(response, what)
        return response

    def _url(self, path: str, query: Mapping[str, Any]) -> str:
        parts = ["$format=json"] + [
            f"{k}={quote(str(v), safe=_SAFE)}" for k, v in query.items() if v is not None
        ]
        return f"{self.root}/{quote(path, safe=_PATH_SAFE)}?{'&'.join(parts)}"

    @staticmethod
    def _values(body: Any, what: str) -> list[dict[str, Any]]:
        values = body.get("value") if isinstance(body, dict) else None
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            raise ProtocolError(f"1C OData {what}: the answer has no `value` list")
        return values

    # -- reads ------------------------------------------------------------------------------------------

    async def rows(
        self,
        entity: str,
        *,
        filter: str | None = None,
        select: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        skip: int | None = None,
    ) -> list[dict[str, Any]]:
        """One page of a set (`$filter`, `$select`, `$orderby`, `$top`, `$skip`, §A1.5)."""
        query = {"$filter": filter, "$select": select, "$orderby": orderby, "$top": top, "$skip": skip}
        return self._values(await self._send("GET", self._url(entity, query), what=entity), entity)

    async def all_rows(
        self,
        entity: str,
        *,
        filter: str | None = None,
        select: str | None = None,
        orderby: str = "Ref_Key",
        page: int = 500,
    ) -> list[dict[str, Any]]:
        """Every row, paged with `$top`/`$skip` under a stable `$orderby` (1C sends no next link, §A1.5)."""
        out: list[dict[str, Any]] = []
        while True:
            rows = await self.rows(
                entity, filter=filter, select=select, orderby=orderby, top=page, skip=len(out)
            )
            out += rows
            if len(rows) < page:
                return out

    async def by_keys(
        self,
        entity: str,
        keys: Sequence[str],
        *,
        field: str = "Ref_Key",
        extra: str | None = None,
        select: str | None = None,
        chunk: int = 40,
    ) -> list[dict[str, Any]]:
        """Rows whose `field` is one of `keys`, in chunks that keep URLs short."""
        out: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), chunk):
            condition = f"({guid_list(field, unique[start : start + chunk])})"
            out += await self.rows(
                entity, filter=f"{condition} and {extra}" if extra else condition, select=select
            )
        return out

    async def virtual(self, entity: str, function: str, condition: str) -> list[dict[str, Any]]:
        """A register's virtual table: `<Register>/<Function>(Condition='…')` (§A1.3)."""
        # The condition's own quotes go as they are, as 1C's clients send them (tests/fidelity).
        path = f"{entity}/{function}(Condition='{condition}')"
        return self._values(await self._send("GET", self._url(path, {}), what=path), path)

    # -- writes -----------------------------------------------------------------------------------------

    async def create(self, entity: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /<Set>`; never retried blindly (the caller looks the object up by its key first)."""
        reply = await self._send(
            "POST", self._url(entity, {}), what=f"create {entity}", body=dict(body), retry=False
        )
        return dict(reply)

    async def patch(
        self, entity: str, key: str, body: Mapping[str, Any], *, if_match: str | None = None
    ) -> dict[str, Any]:
        """`PATCH /<Set>(guid'…')`: a tabular part named in `body` replaces the whole part (§A1.6)."""
        headers = {"If-Match": if_match} if if_match else None
        url = self._url(f"{entity}(guid'{key}')", {})
        return dict(await self._send("PATCH", url, what=f"change {entity}", body=dict(body), headers=headers))

    async def post_document(self, entity: str, key: str) -> dict[str, Any]:
        """`POST /<Document>(guid'…')/Post?PostingModeOperational=false` (§A1.6)."""
        url = self._url(f"{entity}(guid'{key}')/Post", {"PostingModeOperational": "false"})
        return dict(await self._send("POST", url, what=f"post {entity}"))

    async def unpost_document(self, entity: str, key: str) -> dict[str, Any]:
        """`POST /<Document>(guid'…')/Unpost`: its movements are gone, the document stays (§A1.6)."""
        url = self._url(f"{entity}(guid'{key}')/Unpost", {})
        return dict(await self._send("POST", url, what=f"unpost {entity}"))

    async def entity_sets(self) -> set[str]:
        """The entity sets `$metadata` names: what the publication offers (§A1.1)."""
        url, accept = f"{self.root}/$metadata", {"Accept": "application/xml"}
        response = await retrying(
            lambda: self._request("GET", url, what="$metadata", content=None, headers=accept), self.retry
        )
        names = set(re.findall(r'<EntitySet\s+Name="([^"]+)"', response.text))
        if not names and "<edmx:" not in response.text.lower() and "<edmx" not in response.text:
            raise ProtocolError(f"1C OData $metadata: not EDMX: {response.text[:120]!r}")
        return names

    # -- the extension's HTTP service (docs/protocols/onec.md §A2) -------------------------------------

    async def service(
        self, method: str, name: str, *, query: Mapping[str, Any] | None = None, body: Any = None
    ) -> Any:
        """A call of the ObmenPing extension's service `<publication>/hs/obmen/<name>`."""
        params = "&".join(f"{k}={quote(str(v))}" for k, v in (query or {}).items())
        url = f"{self.services}/{name}" + (f"?{params}" if params else "")
        try:
            return await self._send(method, url, what=f"hs/obmen/{name}", body=body)
        except NotFound as exc:
            raise PermanentError(
                f"{exc} (is the ObmenPing extension installed? onec.odata_extension)"
            ) from exc


def as_error(exc: BaseException) -> ObmenError:
    """Any failure of a write as an `ObmenError` (so one op's failure never raises out of `write`)."""
    return exc if isinstance(exc, ObmenError) else TransientError(f"1C OData: {type(exc).__name__}: {exc}")
