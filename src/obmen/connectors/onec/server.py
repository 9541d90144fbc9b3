"""The 1C exchange endpoint: obmen answers 1C exactly as a 1C-Bitrix site does (docs/protocols/commerceml.md).

See §1.

Served at `/exchange/1c` and at `/bitrix/admin/1c_exchange.php`, so a 1C configured for a Bitrix site
works unchanged. Every call stays short: `import` hands the file to a background task and answers
`progress` until it is done (§7.3: long imports are the first cause of failed exchanges elsewhere).
What the files *mean* is the backend's business; this module is the protocol and the file handling.

Whatever goes wrong, 1C gets a `failure` line, never an HTTP 500 (it shows the line to its operator), and
the run ends: its folder is removed with what it held (`onec.spool`). A wrong password is answered late,
never refused when right (`onec.throttle`); a `file` call longer than the `file_limit` told to 1C is
refused at the chunk that passes it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import os
import secrets
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from obmen.connectors.base import BodyTooLarge, read_body
from obmen.connectors.onec.spool import Spool
from obmen.connectors.onec.throttle import Guesses, TrustedProxies
from obmen.connectors.onec.uploads import Limits, UploadRefused, safe_path, unzip
from obmen.errors import ObmenError

__all__ = ["COOKIE", "ExchangeBackend", "ExchangeEndpoint", "Run"]

log = logging.getLogger(__name__)

COOKIE = "OBMEN_EXCHANGE"
_RUN_IDLE = 3600.0
#: A form body (`mode` posted instead of in the query) is a few bytes.
_FORM_LIMIT = 64 * 1024


@dataclass
class Run:
    """One exchange run, bound to the cookie handed out by `checkauth`."""

    id: str
    kind: str  # "catalog" | "sale"
    sessid: str
    directory: Path
    started: float
    seen: float
    version: str | None = None
    received: int = 0
    #: Bytes this run holds on disk: uploads and what their archives unpacked to (the spool quota's count).
    spooled: int = 0
    archives: list[Path] = field(default_factory=list)
    tasks: dict[str, asyncio.Task[str]] = field(default_factory=dict)
    imported: list[str] = field(default_factory=list)


class ExchangeBackend(Protocol):
    """What the endpoint does with a run's files and requests."""

    async def import_file(self, run: Run, path: Path) -> str:
        """Import one catalog file; returns a one-line summary. Raise `ObmenError` to fail the run."""
        ...

    async def deactivate(self, run: Run) -> str:
        """A full catalog run ended: what it did not mention is gone."""
        ...

    async def query(self, run: Run) -> bytes:
        """Orders for 1C as CommerceML (the `mode=query` answer), marked as sent under this run."""
        ...

    async def acknowledge(self, run: Run) -> None:
        """1C confirmed the orders of this run (`mode=success`)."""
        ...

    async def import_documents(self, run: Run, path: Path) -> str:
        """Import documents 1C sent back (statuses, payments, shipments)."""
        ...

    async def info(self, run: Run) -> bytes:
        """The `mode=info` answer: order statuses and payment systems as CommerceML (§1.7)."""
        ...


def _reply(text: str, *, status: int = 200) -> Response:
    # Bitrix converts every reply to windows-1251 (docs/protocols/commerceml.md §1.9).
    body = text.encode("cp1251", errors="replace")
    return Response(body, status_code=status, media_type="text/plain; charset=windows-1251")


def _failure(reason: str) -> Response:
    return _reply(f"failure\n{reason}")


class ExchangeEndpoint:
    """The exchange state machine over the runs in this process."""

    def __init__(
        self,
        backend: ExchangeBackend,
        *,
        login: str,
        password: str,
        workdir: Path,
        limits: Limits | None = None,
        zip_allowed: bool = True,
        clock: Callable[[], float] = time.time,
        trusted_proxies: TrustedProxies | None = None,
        guesses: Guesses | None = None,
    ) -> None:
        self.backend = backend
        self._login = login.encode()
        self._password = password.encode()
        self.workdir = workdir
        self.spool = Spool(workdir)
        self.limits = limits or Limits()
        self.zip_allowed = zip_allowed
        self.clock = clock
        self.runs: dict[str, Run] = {}
        self.proxies = trusted_proxies or TrustedProxies()
        self.guesses = guesses or Guesses(clock=clock)

    def routes(self) -> list[Route]:
        """The endpoint under both of its addresses."""
        return [
            Route(path, self.handle, methods=["GET", "POST"])
            for path in ("/exchange/1c", "/bitrix/admin/1c_exchange.php")
        ]

    def close(self) -> None:
        """The process stops: every run ends and the spool folder goes."""
        for run in list(self.runs.values()):
            self._close(run)
        self.spool.close()

    async def handle(self, request: Request) -> Response:
        """Dispatch one exchange call; whatever fails is a `failure` line and ends the run."""
        run: Run | None = None
        try:
            params = request.query_params
            kind, mode = params.get("type", ""), params.get("mode", "")
            if request.method == "POST" and not mode and "form" in request.headers.get("content-type", ""):
                await read_body(request, _FORM_LIMIT)
                mode = str((await request.form()).get("mode") or "")
            self._expire()
            if kind not in ("catalog", "sale"):
                return _failure(f"Неизвестный тип обмена / unknown exchange type: {kind}")
            if mode == "checkauth":
                return await self._checkauth(request, kind)
            found = self._run_of(request)
            if isinstance(found, Response):
                return found
            run = found
            run.seen = self.clock()
            response = await self._dispatch(request, run, mode)
        except (UploadRefused, BodyTooLarge) as exc:
            response = _failure(str(exc))
        except OSError as exc:
            log.warning("1C exchange: file system: %s", exc)
            response = _failure(f"Ошибка записи файла / file error: {exc.strerror or exc}")
        except Exception as exc:
            # The protocol has no 500: 1C shows the line to its operator, the traceback goes to our log.
            log.exception("1C exchange: %s failed", request.query_params.get("mode", "?"))
            response = _failure(f"Внутренняя ошибка / internal error: {type(exc).__name__}")
        if run is not None and bytes(response.body).startswith(b"failure"):
            self._close(run)  # 1C stops at a failure and starts over with checkauth (§1.2)
        return response

    async def _dispatch(self, request: Request, run: Run, mode: str) -> Response:
        params = request.query_params
        if mode == "init":
            run.version = params.get("version") or run.version
            lines = [f"zip={'yes' if self.zip_allowed else 'no'}", f"file_limit={self.limits.file_limit}"]
            if run.kind == "sale" and params.get("version"):
                lines += [f"sessid={run.sessid}", "version=2.09"]
            return _reply("\n".join(lines))
        if mode == "file":
            return await self._file(request, run, params.get("filename", ""))
        if mode == "import":
            return await self._import(run, params.get("filename", ""))
        if mode == "deactivate" and run.kind == "catalog":
            if not params.get("timestamp", "").isdigit():
                return _failure("Не указано время начала обмена / timestamp missing")
            return _reply(f"success\n{await self._safely(self.backend.deactivate(run))}")
        if mode == "complete":
            self._close(run)
            return _reply("success\nОбмен завершён / exchange complete")
        if mode == "query" and run.kind == "sale":
            try:
                body = await self.backend.query(run)
            except ObmenError as exc:
                log.warning("1C exchange: query failed: %s", exc)
                return _failure(str(exc))
            return Response(body, media_type="application/xml; charset=windows-1251")
        if mode == "info" and run.kind == "sale":
            return Response(await self.backend.info(run), media_type="application/xml; charset=windows-1251")
        if mode == "success" and run.kind == "sale":
            await self.backend.acknowledge(run)
            return _reply("success")
        return _failure(f"Неизвестная команда / unknown mode: {mode}")

    async def _safely(self, work: Awaitable[str]) -> str:
        try:
            return await work
        except ObmenError as exc:
            raise UploadRefused(str(exc)) from exc

    # -- authentication and runs ----------------------------------------------------------------------

    def _credentials_ok(self, request: Request) -> bool | None:
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        # Both compared in full, always: no early exit that would leak which part was wrong.
        ok_user = hmac.compare_digest(user, self._login)
        ok_password = hmac.compare_digest(password, self._password)
        return ok_user and ok_password

    async def _checkauth(self, request: Request, kind: str) -> Response:
        client = self.proxies.client(request)
        login = _login_of(request)
        # The password is judged first: the right one passes at once, however many wrong ones came before.
        if not self._credentials_ok(request):
            waited = await self.guesses.wrong(client, login)
            log.warning(
                "1C exchange: wrong login or password from %s (answered after %.1f s)", client, waited
            )
            return _failure(
                "Ошибка авторизации. Неверное имя пользователя или пароль. / wrong login or password"
            )
        self.guesses.forgive(client, login)
        now = self.clock()
        run_id = secrets.token_hex(16)
        run = Run(run_id, kind, secrets.token_hex(16), self.spool.make(run_id), now, now)
        self.runs[run_id] = run
        lines = ["success", COOKIE, run_id, f"sessid={run.sessid}"]
        if kind == "catalog":
            lines.append(f"timestamp={int(now)}")
        return _reply("\n".join(lines))

    def _run_of(self, request: Request) -> Run | Response:
        """The run of the request's cookie, or the `failure` to answer."""
        run = self.runs.get(request.cookies.get(COOKIE, ""))
        if run is None:
            return _failure(
                "Сессия обмена не найдена, выполните checkauth / no exchange session, call checkauth"
            )
        # 1C resends Basic on every call (docs/protocols/commerceml.md §1.1): when it does, it must be right.
        if self._credentials_ok(request) is False:
            return _failure("Ошибка авторизации / wrong login or password")
        if request.query_params.get("type") != run.kind:
            return _failure(
                "Сессия открыта для другого типа обмена / session belongs to another exchange type"
            )
        return run

    def _expire(self) -> None:
        now = self.clock()
        for run in [r for r in self.runs.values() if now - r.seen > _RUN_IDLE]:
            self._close(run)

    def _close(self, run: Run) -> None:
        for task in run.tasks.values():
            task.cancel()
        self.runs.pop(run.id, None)
        shutil.rmtree(run.directory, ignore_errors=True)

    # -- files ----------------------------------------------------------------------------------------

    async def _file(self, request: Request, run: Run, filename: str) -> Response:
        target = safe_path(run.directory, filename)
        if filename in run.imported:
            # A name imported earlier in this run is a new file, not more of the old one (§1.4).
            target.unlink(missing_ok=True)
            run.imported.remove(filename)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limits.file_limit:
            raise UploadRefused(_over_file_limit(self.limits.file_limit))
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        size = 0
        with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.limits.file_limit:
                    # The limit told to 1C at `init` (§1.3): a longer call is not one 1C would make.
                    raise UploadRefused(_over_file_limit(self.limits.file_limit))
                run.received += len(chunk)
                run.spooled += len(chunk)
                if run.received > self.limits.run_bytes:
                    raise UploadRefused(f"run exceeds {self.limits.run_bytes} bytes")
                self._check_quota()
                out.write(chunk)
        if target.suffix.lower() == ".zip" and target not in run.archives:
            run.archives.append(target)
        if run.kind == "sale" and not run.version:
            # The old sale protocol imports on `file` and has no `import` call (§1.7).
            return await self._finish(run, filename, self.backend.import_documents(run, target))
        return _reply("success")

    async def _import(self, run: Run, filename: str) -> Response:
        if run.archives:
            archive = run.archives.pop(0)
            try:
                written = await asyncio.to_thread(unzip, archive, run.directory, self.limits)
            finally:
                archive.unlink(missing_ok=True)
            run.spooled += sum(p.stat().st_size for p in written)
            self._check_quota()
            return _reply("progress\nРаспаковка архива завершена. / archive unpacked")
        path = safe_path(run.directory, filename)
        task = run.tasks.get(filename)
        if task is None:
            if not path.is_file():
                return _failure(f"Файл не найден / file not found: {filename}")
            work = (self.backend.import_documents if run.kind == "sale" else self.backend.import_file)(
                run, path
            )
            run.tasks[filename] = asyncio.ensure_future(work)
            await asyncio.sleep(0)
            task = run.tasks[filename]
        if not task.done():
            return _reply(f"progress\nИдёт загрузка {filename} / importing")
        return await self._finish(run, filename, task)

    async def _finish(self, run: Run, filename: str, work: Awaitable[str]) -> Response:
        run.tasks.pop(filename, None)
        run.imported.append(filename)
        try:
            summary = await work
        except ObmenError as exc:
            log.warning("1C exchange: %s failed: %s", filename, exc)
            return _failure(str(exc))
        return _reply(f"success\n{summary}")

    def _check_quota(self) -> None:
        used = sum(r.spooled for r in self.runs.values())
        if used > self.limits.spool_bytes:
            raise UploadRefused(
                f"Нет места для файлов обмена / exchange spool full ({self.limits.spool_bytes} bytes)"
            )


def _over_file_limit(limit: int) -> str:
    return f"Файл больше file_limit / file larger than file_limit={limit} bytes"


def _login_of(request: Request) -> str:
    """The login a Basic header names (what guesses are counted under), or "" when it names none."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return ""
    try:
        decoded = base64.b64decode(header[6:], validate=True)
    except (binascii.Error, ValueError):
        return ""
    return decoded.partition(b":")[0][:128].decode("utf-8", errors="replace")
