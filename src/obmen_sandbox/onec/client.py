"""The «Обмен с сайтом» HTTP protocol from 1C's side (docs/protocols/commerceml.md §1).

Basic credentials go on every request (the access log of §1.1 shows the user on every line), the
cookie from `checkauth` and its `sessid` line on every request after it (§1.2), uploads are cut at
the server's `file_limit` and appended by the server (§1.4), and `import` is repeated while the server
answers `progress` (§1.5). Every request lands in a transcript that the control API returns.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import httpx

#: Seconds between two `mode=import` calls while the other side answers `progress`.
IMPORT_PAUSE = 0.02

__all__ = ["ExchangeError", "ExchangeSession", "ProtocolClient", "Step"]

USER_AGENT = "1C+Enterprise/8.3"


class ExchangeError(Exception):
    """A run stopped: the server answered `failure` (with its reason), something unknown, or hung."""

    def __init__(self, mode: str, reason: str) -> None:
        super().__init__(f"{mode}: {reason}")
        self.mode = mode
        self.reason = reason


@dataclass
class Step:
    """One request of a run as the transcript shows it."""

    method: str
    query: str
    status: int
    answer: str
    sent: int = 0

    def as_json(self) -> dict[str, Any]:
        """The step for the control API."""
        return {
            "method": self.method,
            "query": self.query,
            "status": self.status,
            "answer": self.answer,
            "sent": self.sent,
        }


@dataclass
class ExchangeSession:
    """What `checkauth` and `init` established for one run."""

    kind: str
    cookie: tuple[str, str] = ("", "")
    sessid: str = ""
    timestamp: str = ""
    zip: bool = False
    file_limit: int = 0
    version: str = ""
    transcript: list[Step] = field(default_factory=list)


def _decode(response: httpx.Response) -> str:
    """Text replies are windows-1251 from Bitrix, UTF-8 elsewhere (§1.9); a leading BOM is tolerated."""
    raw = response.content
    charset = response.charset_encoding
    candidates = [charset] if charset else []
    candidates += ["utf-8", "windows-1251"]
    for encoding in candidates:
        try:
            return raw.decode(encoding).lstrip("\ufeff")
        except (LookupError, UnicodeDecodeError):
            continue
    return raw.decode("latin-1")


def _lines(text: str) -> list[str]:
    return [line.strip("\r") for line in text.strip().split("\n")]


class ProtocolClient:
    """Speaks the exchange protocol to one target URL with one login."""

    def __init__(
        self, target: str, login: str, password: str, http: httpx.AsyncClient, *, max_import_steps: int = 1000
    ) -> None:
        self.target = target
        token = base64.b64encode(f"{login}:{password}".encode()).decode("ascii")
        self.auth = f"Basic {token}"
        self.http = http
        self.max_import_steps = max_import_steps

    async def _send(
        self, session: ExchangeSession, kind: str, mode: str, extra: dict[str, str], body: bytes | None
    ) -> tuple[httpx.Response, Step]:
        query = urlencode({"type": kind, "mode": mode, **extra})
        headers = {"Authorization": self.auth, "User-Agent": USER_AGENT}
        if session.sessid:
            # §1.2: line 4 of checkauth is appended verbatim (`sessid=…`).
            query += "&" + quote(session.sessid, safe="=")
        if session.cookie[0]:
            headers["Cookie"] = f"{session.cookie[0]}={session.cookie[1]}"
        method = "GET" if body is None else "POST"
        if body is not None:
            # §1.4: the body is the raw file bytes, never a form.
            headers["Content-Type"] = "application/octet-stream"
        try:
            response = await self.http.request(
                method, f"{self.target}?{query}", headers=headers, content=body
            )
        except httpx.HTTPError as exc:
            raise ExchangeError(mode, f"the site did not answer: {exc!r}") from exc
        step = Step(method, query, response.status_code, _decode(response)[:500], len(body or b""))
        session.transcript.append(step)
        if response.status_code != 200:
            raise ExchangeError(mode, f"HTTP {response.status_code}: {step.answer[:200]}")
        return response, step

    async def _status(
        self, session: ExchangeSession, mode: str, extra: dict[str, str], body: bytes | None = None
    ) -> list[str]:
        """Send and read a `success|progress|failure` reply; `failure` raises with the server's reason."""
        response, _ = await self._send(session, session.kind, mode, extra, body)
        lines = _lines(_decode(response))
        if lines[0] == "failure":
            raise ExchangeError(mode, "\n".join(lines[1:]) or "failure without a reason")
        if lines[0] not in ("success", "progress"):
            # §1.5: anything else makes 1C stop with «Получен неизвестный статус импорта».
            raise ExchangeError(mode, f"unknown status {lines[0]!r} (Получен неизвестный статус)")
        return lines

    async def open(self, session: ExchangeSession, version: str) -> None:
        """`checkauth` then `init` (§1.2, §1.3) into the caller's session, transcript kept on failure."""
        response, step = await self._send(session, session.kind, "checkauth", {}, None)
        lines = _lines(_decode(response))
        if lines[0] != "success":
            raise ExchangeError("checkauth", "\n".join(lines[1:]) if lines[0] == "failure" else step.answer)
        if len(lines) < 3 or not lines[1]:
            raise ExchangeError("checkauth", f"no cookie in the reply: {step.answer!r}")
        session.cookie = (lines[1], lines[2])
        for line in lines[3:]:
            if line.startswith("sessid="):
                session.sessid = line
            elif line.startswith("timestamp="):
                session.timestamp = line.split("=", 1)[1]
        await self._init(session, version)

    async def _init(self, session: ExchangeSession, version: str) -> None:
        response, _ = await self._send(session, session.kind, "init", {"version": version}, None)
        lines = _lines(_decode(response))
        if lines[0] == "failure":
            raise ExchangeError("init", "\n".join(lines[1:]))
        values = dict(line.split("=", 1) for line in lines if "=" in line)
        if "zip" not in values and "file_limit" not in values:
            raise ExchangeError("init", f"no zip/file_limit in the reply: {lines!r}")
        session.zip = values.get("zip", "no").strip() == "yes"
        try:
            session.file_limit = int(values.get("file_limit", "0").strip() or 0)
        except ValueError as exc:
            raise ExchangeError("init", f"file_limit is not a number: {values['file_limit']!r}") from exc
        if values.get("sessid"):
            session.sessid = f"sessid={values['sessid'].strip()}"
        session.version = values.get("version", "").strip()

    async def upload(self, session: ExchangeSession, filename: str, data: bytes) -> int:
        """`mode=file`, cut into POSTs of at most `file_limit` bytes (§1.4); returns how many were sent."""
        limit = session.file_limit if session.file_limit > 0 else max(len(data), 1)
        chunks = [data[offset : offset + limit] for offset in range(0, len(data), limit)] or [b""]
        for chunk in chunks:
            await self._status(session, "file", {"filename": filename}, chunk)
        return len(chunks)

    async def import_file(self, session: ExchangeSession, filename: str) -> int:
        """`mode=import` until `success` (§1.5); returns how many calls it took."""
        for attempt in range(1, self.max_import_steps + 1):
            lines = await self._status(session, "import", {"filename": filename})
            if lines[0] == "success":
                return attempt
            # 1C comes back after a moment, not at once: the site's import runs between its calls.
            await asyncio.sleep(IMPORT_PAUSE)
        raise ExchangeError(
            "import", f"{filename}: still `progress` after {self.max_import_steps} calls; 1C gives up"
        )

    async def call(
        self, session: ExchangeSession, mode: str, extra: dict[str, str] | None = None
    ) -> list[str]:
        """A plain status call (`deactivate`, `complete`, `success`)."""
        return await self._status(session, mode, extra or {})

    async def query(self, session: ExchangeSession) -> bytes:
        """`type=sale&mode=query`: the raw XML the site answers (§1.7 step 3)."""
        response, step = await self._send(session, session.kind, "query", {}, None)
        stripped = response.content.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not stripped.startswith(b"<"):
            lines = _lines(_decode(response))
            reason = "\n".join(lines[1:]) if lines[0] == "failure" else step.answer
            raise ExchangeError("query", reason or "empty answer")
        step.answer = f"<XML, {len(response.content)} bytes>"
        charset = response.charset_encoding
        if not stripped.startswith(b"<?xml") and charset and charset.lower().replace("-", "") != "utf8":
            # No declaration: the HTTP charset is all that says how the bytes are encoded (§1.9).
            return f'<?xml version="1.0" encoding="{charset}"?>'.encode("ascii") + stripped
        return response.content
