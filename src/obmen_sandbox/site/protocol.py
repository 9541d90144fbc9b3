"""The shared parts of the exchange protocol: replies, Basic auth and sessions, init, upload, import steps.

Every reply is windows-1251 with `text/html; charset=windows-1251` (docs/protocols/commerceml.md §1.9) and
starts with `success`, `progress` or `failure` (§1.5), except the capability replies and XML answers.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response

from obmen_sandbox.site.cml import CmlError
from obmen_sandbox.site.files import UnsafeInput
from obmen_sandbox.site.state import Fault, Session, SiteState, Steps

__all__ = ["COOKIE", "checkauth", "failure", "find_session", "init", "reply", "run_import", "upload"]

COOKIE = "PHPSESSID"
AUTH_FAILED = "Ошибка авторизации. Неверное имя пользователя или пароль."
NO_SESSION = (
    "Сессия обмена не найдена: сначала выполните checkauth. / No exchange session: call checkauth first."
)
BAD_SESSID = "Ошибка проверки источника запроса. Обновите модуль обмена."


def reply(*lines: str, media: str = "text/html") -> Response:
    """A text reply the way Bitrix prints it: lines joined by `\\n`, windows-1251."""
    body = "\n".join(lines).encode("cp1251", errors="replace")
    return Response(body, media_type=f"{media}; charset=windows-1251")


def failure(reason: str) -> Response:
    """`failure\\n<text>` with HTTP 200, which 1C logs and aborts on (§1.2, §1.5)."""
    return reply("failure", reason)


def _basic(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        login, _, password = base64.b64decode(token, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return login, password


def _credentials_ok(state: SiteState, creds: tuple[str, str]) -> bool:
    login_ok = hmac.compare_digest(creds[0].encode(), state.options.login.encode())
    password_ok = hmac.compare_digest(creds[1].encode(), state.options.password.encode())
    return login_ok and password_ok


def checkauth(state: SiteState, request: Request, type_: str) -> Response:
    """Basic auth → a new session: 5 lines for catalog, 4 for sale (§1.2)."""
    creds = _basic(request)
    if creds is None or not _credentials_ok(state, creds):
        return failure(AUTH_FAILED)
    session = state.open_session()
    lines = ["success", COOKIE, session.cookie, f"sessid={session.sessid}"]
    if type_ == "catalog":
        lines.append(f"timestamp={session.timestamp}")
    response = reply(*lines)
    response.set_cookie(COOKIE, session.cookie, path="/", httponly=True)
    return response


def find_session(state: SiteState, request: Request) -> Session | str:
    """The caller's session, or the failure reason."""
    creds = _basic(request)
    if creds is not None and not _credentials_ok(state, creds):
        return AUTH_FAILED
    session = state.sessions.get(request.cookies.get(COOKIE, ""))
    if session is None:
        return NO_SESSION
    sessid = request.query_params.get("sessid")
    if sessid is not None and not hmac.compare_digest(sessid.encode(), session.sessid.encode()):
        return BAD_SESSID
    return session


def init(state: SiteState, session: Session, request: Request, type_: str) -> Response:
    """Clean the work directory and announce `zip` and `file_limit` (§1.3)."""
    session.run.reset()
    session.jobs.clear()
    lines = [f"zip={'yes' if state.options.zip else 'no'}", f"file_limit={state.options.file_limit}"]
    version = request.query_params.get("version")
    if type_ == "sale" and version:
        session.version = version
        lines += [f"sessid={session.sessid}", "version=2.09"]  # 2.09 is hard-coded in Bitrix (§1.3)
    return reply(*lines)


async def upload(state: SiteState, session: Session, request: Request) -> Response:
    """Append the raw body to `filename` (§1.4)."""
    name = request.query_params.get("filename", "")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > state.options.limits.run_bytes:
            return failure("Превышен объем выгрузки / upload size limit exceeded")
    try:
        session.run.append(name, bytes(body))
    except UnsafeInput as exc:
        return failure(str(exc))
    except OSError as exc:
        return failure(f"Ошибка записи файла / cannot write the file: {exc.strerror}")
    return reply("success")


async def run_import(
    state: SiteState, session: Session, filename: str, start: Callable[[], Steps], fault: Fault | None
) -> Response:
    """Advance the import of `filename` by one step: `progress`, `success` or `failure`."""
    job = session.jobs.get(filename)
    if job is None:
        job = session.jobs[filename] = start()
    if fault is not None and fault.kind == "fail_import_step":
        session.jobs.pop(filename, None)
        return failure(f"Сбой импорта на шаге {fault.step} (песочница) / injected import failure")
    try:
        finished, text = await asyncio.to_thread(_advance, job)
    except (CmlError, UnsafeInput) as exc:
        session.jobs.pop(filename, None)
        return failure(str(exc))
    if finished:
        session.jobs.pop(filename, None)
        return reply("success", text)
    return reply("progress", text)


def _advance(job: Steps) -> tuple[bool, str]:
    # StopIteration must not cross into a Future, so the step runs here and reports (done, text).
    try:
        return False, next(job)
    except StopIteration as done:
        return True, str(done.value)
