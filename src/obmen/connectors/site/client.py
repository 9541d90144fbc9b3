"""obmen as 1C toward a 1C-Bitrix site's `/bitrix/admin/1c_exchange.php` (docs/protocols/commerceml.md §1).

Every run starts afresh with `checkauth` + `init` (Bitrix's `init` empties its work directory, §1.3), so a
run that failed in the middle is retried as a whole and never appends to the half-written files of the
failed one: a chunk is never re-sent within a run (the site may have appended it before the error).
Every failure becomes one of obmen's errors in `_classify` and `_status`, nowhere else.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from obmen.errors import (
    AccessRefused,
    AuthError,
    PermanentError,
    ProtocolError,
    RateLimited,
    TransientError,
    Unreachable,
)

__all__ = ["ExchangeRefused", "OrdersAnswer", "Payload", "Session", "SiteExchange"]

log = logging.getLogger(__name__)

#: A file to upload: its bytes, or a path to stream it from.
Payload = bytes | Path

_DEFAULT_LIMIT = 200 * 1024  # Bitrix's own default `1C_FILE_SIZE_LIMIT` (§1.3)


class ExchangeRefused(PermanentError):
    """The site answered `failure`: it refused the run or the file (the reason is its text)."""


@dataclass(frozen=True, slots=True)
class Session:
    """One exchange run on the site: its cookie, CSRF key and what `init` allowed."""

    kind: str
    cookie: tuple[str, str]
    sessid: str | None
    timestamp: str | None
    zip: bool
    file_limit: int
    version: str | None = None


@dataclass(frozen=True, slots=True)
class OrdersAnswer:
    """What `mode=query` returned, and the run to confirm it with `success`."""

    session: Session
    body: bytes


@dataclass(slots=True)
class _Stats:
    requests: int = 0
    uploaded: int = 0
    steps: list[str] = field(default_factory=list)


class SiteExchange:
    """The exchange client of one site."""

    def __init__(
        self,
        url: str,
        login: str,
        password: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 60.0,
        zip: bool = True,
        chunk_cap: int = 8 * 1024 * 1024,
        max_steps: int = 10_000,
        step_pause: float = 0.0,
        version: str = "2.09",
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        self.url = url
        self.zip = zip
        self.chunk_cap = chunk_cap
        self.max_steps = max_steps
        self.step_pause = step_pause
        self.version = version
        self._sleep = sleep
        # 1C sends Basic on every request (docs/protocols/commerceml.md §1.1); the site may check it each
        # time.
        self._http = httpx.AsyncClient(
            transport=transport,
            timeout=timeout,
            auth=(login, password),
            follow_redirects=False,
            headers={"User-Agent": "1C+Enterprise/8.3 (obmen)"},
        )
        self.stats = _Stats()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    # -- the runs -------------------------------------------------------------------------------------

    async def push_catalog(self, files: Mapping[str, Payload], *, full: bool = False) -> list[str]:
        """Upload catalog files in one run and import them in order; returns the site's summaries.

        `full` ends the run with `deactivate`: the site retires what the files did not mention (§1.6).
        """
        session = await self.open("catalog")
        await self._upload_all(session, files)
        summaries = [await self.import_file(session, name) for name in files]
        if full:
            if not session.timestamp:
                raise ProtocolError("the site's checkauth gave no timestamp, so deactivate is impossible")
            summaries.append(await self._text(session, "deactivate", timestamp=session.timestamp))
        await self._complete(session)
        return summaries

    async def query_orders(self) -> OrdersAnswer:
        """New and changed orders as the site's CommerceML; confirm with `confirm` once stored."""
        session = await self.open("sale")
        response = await self._send(session, "query")
        body = response.content
        head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:200].lower()
        if head.startswith(b"failure"):
            raise ExchangeRefused(f"site refused the order query: {_decode(response)[7:].strip()}")
        if b"<html" in head or b"<!doctype html" in head:
            # An error page of the web server or of PHP: the site is not itself right now.
            raise TransientError("site answered HTML instead of the orders XML")
        if not head.startswith(b"<"):
            raise ProtocolError(f"site answered {head[:40]!r} instead of the orders XML")
        # Anything else that looks like XML goes to the hardened reader, which judges it in full.
        return OrdersAnswer(session, body)

    async def confirm(self, answer: OrdersAnswer) -> None:
        """`mode=success`: the site commits its export watermark; unconfirmed orders come again (§1.7)."""
        await self._text(answer.session, "success")

    async def push_documents(
        self, data: Payload, *, filename: str | None = None, session: Session | None = None
    ) -> str:
        """Upload 1C-style documents (statuses, payments, shipments) and import them (§1.7 steps 5-6).

        `session` is the run of a `query` just confirmed: 1C uploads its documents in that same run,
        saving the `checkauth` and `init` round trips; without it a run of its own is opened.
        """
        session = session or await self.open("sale")
        name = filename or f"documents___{uuid.uuid4()}.xml"
        # Documents go unzipped: they are small, and not every site's sale import unpacks archives.
        await self.upload(session, name, data)
        summary = await self.import_file(session, name)
        await self._complete(session)
        return summary

    # -- the protocol steps ---------------------------------------------------------------------------

    async def open(self, kind: str) -> Session:
        """`checkauth` then `init`: a new run with its own cookie."""
        lines = _lines(await self._get({"type": kind, "mode": "checkauth"}, None), AuthError)
        if lines[0] != "success":
            raise ProtocolError(f"site's checkauth answered {lines[0][:60]!r}")
        if len(lines) < 3 or not lines[1] or not lines[2]:
            raise ProtocolError("site's checkauth answer has no cookie")
        extra = dict(_pair(line) for line in lines[3:] if "=" in line)
        probe = Session(kind, (lines[1], lines[2]), extra.get("sessid"), extra.get("timestamp"), False, 0)
        params = {"version": self.version} if kind == "sale" else {}
        reply = await self._get(self._params(probe, "init", params), probe)
        init = dict(_pair(line) for line in _lines(reply, ExchangeRefused))
        if "zip" not in init and "file_limit" not in init:
            raise ProtocolError(f"site's init answer is not an init answer: {sorted(init)}")
        limit = int(init["file_limit"]) if init.get("file_limit", "").isdigit() else _DEFAULT_LIMIT
        return Session(
            kind,
            probe.cookie,
            init.get("sessid") or probe.sessid,
            probe.timestamp,
            init.get("zip") == "yes",
            limit if limit > 0 else _DEFAULT_LIMIT,
            init.get("version"),
        )

    async def upload(self, session: Session, filename: str, data: Payload) -> None:
        """`mode=file` in chunks of at most the site's `file_limit`, appended by the site (§1.4)."""
        size = max(1, min(session.file_limit, self.chunk_cap))
        for chunk in _chunks(data, size):
            await self._text(session, "file", content=chunk, filename=filename)
            self.stats.uploaded += len(chunk)

    async def import_file(self, session: Session, filename: str) -> str:
        """`mode=import` repeated while the site answers `progress`, within `max_steps` (§1.5)."""
        for _ in range(self.max_steps):
            response = await self._send(session, "import", filename=filename)
            status, text = _status(response)
            if status == "success":
                return text
            self.stats.steps.append(text)
            if self.step_pause:
                await self._sleep(self.step_pause)
        raise TransientError(f"site still answers progress for {filename} after {self.max_steps} steps")

    async def _upload_all(self, session: Session, files: Mapping[str, Payload]) -> None:
        if session.zip and self.zip and len(files) > 0:
            with tempfile.TemporaryDirectory(prefix="obmen-zip-") as scratch:
                archive = Path(scratch) / f"obmen_{uuid.uuid4().hex[:8]}.zip"
                await asyncio.to_thread(_zip, files, archive)
                # The first `import` after a zip upload unpacks it and answers `progress` (§1.4).
                await self.upload(session, archive.name, archive)
            return
        for name, data in files.items():
            await self.upload(session, name, data)

    async def _complete(self, session: Session) -> None:
        try:
            await self._text(session, "complete")
        except ExchangeRefused:
            # Older sites do not know `complete` (BXnew only, §1.6): the run is done anyway.
            log.debug("site does not know mode=complete")

    # -- HTTP and the one place where failures become obmen errors --------------------------------------

    def _params(self, session: Session, mode: str, extra: Mapping[str, str]) -> dict[str, str]:
        params = {"type": session.kind, "mode": mode, **extra}
        if session.sessid:
            # 1C appends checkauth's line 4 (`sessid=…`) to every later call (§1.2).
            params["sessid"] = session.sessid
        return params

    async def _text(self, session: Session, mode: str, *, content: bytes | None = None, **extra: str) -> str:
        status, text = _status(await self._send(session, mode, content=content, **extra))
        if status != "success":
            raise ProtocolError(f"site answered {status!r} to mode={mode}")
        return text

    async def _send(
        self, session: Session, mode: str, *, content: bytes | None = None, **extra: str
    ) -> httpx.Response:
        return await self._get(self._params(session, mode, extra), session, content=content)

    async def _get(
        self, params: Mapping[str, str], session: Session | None, *, content: bytes | None = None
    ) -> httpx.Response:
        headers = {"Cookie": f"{session.cookie[0]}={session.cookie[1]}"} if session else {}
        self.stats.requests += 1
        started = time.monotonic()
        try:
            if content is None:
                response = await self._http.get(self.url, params=params, headers=headers)
            else:
                headers["Content-Type"] = "application/octet-stream"
                response = await self._http.post(self.url, params=params, headers=headers, content=content)
        except httpx.TimeoutException as exc:
            raise TransientError(f"site exchange timed out after {time.monotonic() - started:.1f}s") from exc
        except httpx.ConnectError as exc:
            reason = f"unreachable: {type(exc).__name__}: {exc}"
            raise Unreachable(f"site exchange {reason}", system="site", reason=reason) from exc
        except httpx.HTTPError as exc:
            raise TransientError(f"site exchange failed: {type(exc).__name__}: {exc}") from exc
        _classify(response)
        return response


def _classify(response: httpx.Response) -> None:
    code = response.status_code
    if code in (401, 403):
        reason = f"the exchange login refused (HTTP {code})"
        raise AccessRefused(f"site: {reason}", system="site", reason=reason)
    if code == 429:
        hint = response.headers.get("retry-after", "")
        raise RateLimited(
            "site asks to slow down (HTTP 429)", retry_after=float(hint) if hint.isdigit() else None
        )
    if code >= 500:
        hint = response.headers.get("retry-after", "")
        raise TransientError(
            f"site answered HTTP {code}", retry_after=float(hint) if hint.isdigit() else None
        )
    if code != 200:
        raise ProtocolError(f"site answered HTTP {code} to an exchange call")


def _decode(response: httpx.Response) -> str:
    # Bitrix answers windows-1251 (§1.9); other servers UTF-8, sometimes with a BOM.
    body = response.content.removeprefix(b"\xef\xbb\xbf")
    charset = (response.charset_encoding or "").lower()
    if charset in ("utf-8", "utf8"):
        return body.decode("utf-8", errors="replace")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("cp1251", errors="replace")


def _lines(response: httpx.Response, refused: type[PermanentError]) -> list[str]:
    text = _decode(response).strip()
    if text.startswith("<"):
        raise TransientError("site answered HTML instead of an exchange reply")
    if text.startswith("failure"):
        raise refused(f"site refused the exchange: {text[7:].strip() or 'failure'}")
    return [line.strip() for line in text.split("\n")]


def _status(response: httpx.Response) -> tuple[str, str]:
    text = _decode(response).strip()
    head, _, rest = text.partition("\n")
    head = head.strip()
    if head in ("success", "progress"):
        return head, rest.strip()
    if head == "failure":
        raise ExchangeRefused(f"site refused: {rest.strip() or 'no reason given'}")
    if text.startswith("<"):
        raise TransientError("site answered HTML instead of an exchange reply")
    # 1C itself fails the run on any other first line (§1.5: «неизвестный статус импорта»).
    raise ProtocolError(f"site answered an unknown status {head[:60]!r}")


def _pair(line: str) -> tuple[str, str]:
    key, _, value = line.partition("=")
    return key.strip(), value.strip()


def _chunks(data: Payload, size: int) -> Iterator[bytes]:
    # An empty file is still one (empty) `mode=file` call, so the site knows the name.
    if isinstance(data, bytes):
        yield from (data[i : i + size] for i in range(0, len(data), size))
        if not data:
            yield b""
        return
    with data.open("rb") as handle:
        empty = True
        while chunk := handle.read(size):
            empty = False
            yield chunk
        if empty:
            yield b""


def _zip(files: Mapping[str, Payload], target: Path) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            if isinstance(data, bytes):
                archive.writestr(name, data)
            else:
                archive.write(data, arcname=name)
