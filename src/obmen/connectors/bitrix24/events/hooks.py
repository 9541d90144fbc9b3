"""Inbound Bitrix24 calls: event notifications and the application's install callback.

A notification is checked (`auth[application_token]`, docs/protocols/bitrix24.md §6.3), turned into a key,
enqueued,
and answered at once (§6.4: slow handlers are throttled by Bitrix24 and nothing is retried). The
install callback (§1.2) hands the tokens to whoever persists them, then binds the events.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from obmen.connectors.base import BodyTooLarge, Change, read_body
from obmen.connectors.bitrix24.client.auth import Tokens
from obmen.connectors.bitrix24.events.notices import changes_of, parse_form, verify_token
from obmen.errors import AuthError, ProtocolError

__all__ = ["Bitrix24Hooks", "routes"]

log = logging.getLogger(__name__)

#: Largest form accepted: an event payload is a few hundred bytes (docs/protocols/bitrix24.md §6.3).
MAX_BODY = 64 * 1024
#: Most fields accepted in one form: an event has about ten, an install about twenty.
MAX_FIELDS = 1000
_FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Bitrix24Hooks:
    """What the hook endpoints need: the expected token and where keys and tokens go."""

    application_token: Callable[[], str]
    enqueue: Callable[[Sequence[Change]], Awaitable[int]]
    #: Called with the tokens of an `ONAPPINSTALL` and whether the call carried the operator's admin token;
    #: None when obmen runs on a webhook. It raises `AuthError` for an install not ours (`AppInstaller`).
    install: Callable[[Tokens, bool], Awaitable[None]] | None = None
    #: Rung on `ONOFFLINEEVENT` (the offline queue is not empty, docs/protocols/bitrix24.md §6.5): poll it
    # now.
    wake: Callable[[], None] | None = None
    #: `web.admin_token`: an install call bearing it is the operator's (allowed to replace an install).
    admin_token: str | None = None

    def operator(self, request: Request) -> bool:
        """The call carries `Authorization: Bearer <web.admin_token>`."""
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if not self.admin_token or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self.admin_token.encode())


async def _payload(request: Request) -> dict[str, Any]:
    # Read while counting: an unauthenticated 300 MB body costs 64 KiB, not 300 MB (§6.3).
    body = await read_body(request, MAX_BODY)
    kind = request.headers.get("content-type", _FORM).partition(";")[0].strip().lower()
    if kind != _FORM:
        form = await request.form()  # multipart: whatever else a client may send
        return parse_form([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    return parse_form(urlencoded(body))


def urlencoded(body: bytes) -> list[tuple[str, str]]:
    """The pairs of a form-encoded body (what the portal posts), at most `MAX_FIELDS` of them.

    Parsed directly rather than by the multipart parser: it is most of the handler's work otherwise.
    """
    try:
        text = body.decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"not a form-encoded body: {exc}") from exc


def routes(hooks: Bitrix24Hooks) -> list[Route]:
    """The `/hooks/bitrix24` routes."""

    async def install(request: Request) -> Response:
        if hooks.install is None:
            return JSONResponse({"error": "not_found", "detail": "obmen runs on a webhook"}, status_code=404)
        try:
            payload = await _payload(request)
            tokens = _install_tokens(payload)
        except BodyTooLarge as exc:
            return _too_large(exc)
        except ProtocolError as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        try:
            await hooks.install(tokens, hooks.operator(request))
        except AuthError as exc:
            log.warning("Bitrix24 install refused: %s", exc)
            return JSONResponse({"error": "forbidden", "detail": str(exc)}, status_code=403)
        return JSONResponse({"installed": True})

    return [
        Route("/hooks/bitrix24", _Events(hooks), methods=["POST"]),
        Route("/hooks/bitrix24/install", install, methods=["POST"]),
    ]


class _Events:
    """`POST /hooks/bitrix24` as a plain ASGI app: check, enqueue, answer.

    Thousands of these arrive a second in a burst (bench/hooks.py), and Starlette's per-request wrapping
    and response objects cost more than the check itself, so the answer is sent directly.
    """

    def __init__(self, hooks: Bitrix24Hooks) -> None:
        self.hooks = hooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, answer = await self.answer(Request(scope, receive))
        body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()  # as JSONResponse
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def answer(self, request: Request) -> tuple[int, dict[str, Any]]:
        """The status and JSON answer to one event notification."""
        try:
            payload = await _payload(request)
        except BodyTooLarge as exc:
            return 413, {"error": "too_large", "detail": str(exc)}
        except ProtocolError as exc:
            return 400, {"error": "bad_request", "detail": str(exc)}
        if not verify_token(payload, self.hooks.application_token()):
            log.warning("Bitrix24 event with a wrong application_token refused")
            return 403, {"error": "forbidden", "detail": "application_token mismatch"}
        name = str(payload.get("event") or "")
        if name.upper() == "ONOFFLINEEVENT" and self.hooks.wake is not None:
            self.hooks.wake()
        changes = changes_of(name, payload.get("data"))
        # Answered only once the keys are committed: an acknowledged event is never lost (store/batching).
        queued = await self.hooks.enqueue(changes) if changes else 0
        return 200, {"queued": queued}


def _too_large(exc: BodyTooLarge) -> Response:
    return JSONResponse({"error": "too_large", "detail": str(exc)}, status_code=413)


def _install_tokens(payload: dict[str, Any]) -> Tokens:
    auth = payload.get("auth")
    if str(payload.get("event") or "").upper() != "ONAPPINSTALL" or not isinstance(auth, dict):
        raise ProtocolError("not an ONAPPINSTALL call")
    try:
        return Tokens(
            access_token=str(auth["access_token"]),
            refresh_token=str(auth["refresh_token"]),
            client_endpoint=str(auth["client_endpoint"]),
            member_id=str(auth.get("member_id") or ""),
            application_token=str(auth["application_token"]),
        )
    except KeyError as exc:
        raise ProtocolError(f"ONAPPINSTALL without auth[{exc.args[0]}]") from exc
