"""Inbound Bitrix24 calls: event notifications and the application's install callback.

A notification is checked (`auth[application_token]`, bitrix24.md §6.3), turned into a key, enqueued,
and answered at once (§6.4: slow handlers are throttled by Bitrix24 and nothing is retried). The
install callback (§1.2) hands the tokens to whoever persists them, then binds the events.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from obmen.connectors.base import Change
from obmen.connectors.bitrix24.auth import Tokens
from obmen.connectors.bitrix24.events import changes_of, parse_form, verify_token
from obmen.errors import AuthError, ProtocolError

__all__ = ["Bitrix24Hooks", "routes"]

log = logging.getLogger(__name__)

#: Largest form accepted: an event payload is a few hundred bytes (bitrix24.md §6.3).
MAX_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class Bitrix24Hooks:
    """What the hook endpoints need: the expected token and where keys and tokens go."""

    application_token: Callable[[], str]
    enqueue: Callable[[Sequence[Change]], Awaitable[int]]
    #: Called with the tokens of an `ONAPPINSTALL`; None when obmen runs on a webhook. It raises
    #: `AuthError` for an install that is not from the configured portal (`AppInstaller`).
    install: Callable[[Tokens], Awaitable[None]] | None = None
    #: Rung on `ONOFFLINEEVENT` (the offline queue is not empty, bitrix24.md §6.5): poll it now.
    wake: Callable[[], None] | None = None


async def _payload(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ProtocolError(f"payload of {len(body)} bytes is too large")
    form = await request.form()
    return parse_form([(k, v) for k, v in form.multi_items() if isinstance(v, str)])


def routes(hooks: Bitrix24Hooks) -> list[Route]:
    """The `/hooks/bitrix24` routes."""

    async def event(request: Request) -> Response:
        try:
            payload = await _payload(request)
        except ProtocolError as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        if not verify_token(payload, hooks.application_token()):
            log.warning("Bitrix24 event with a wrong application_token refused")
            return JSONResponse(
                {"error": "forbidden", "detail": "application_token mismatch"}, status_code=403
            )
        name = str(payload.get("event") or "")
        if name.upper() == "ONOFFLINEEVENT" and hooks.wake is not None:
            hooks.wake()
        changes = changes_of(name, payload.get("data"))
        queued = await hooks.enqueue(changes) if changes else 0
        return JSONResponse({"queued": queued})

    async def install(request: Request) -> Response:
        if hooks.install is None:
            return JSONResponse({"error": "not_found", "detail": "obmen runs on a webhook"}, status_code=404)
        try:
            payload = await _payload(request)
            tokens = _install_tokens(payload)
        except ProtocolError as exc:
            return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=400)
        try:
            await hooks.install(tokens)
        except AuthError as exc:
            log.warning("Bitrix24 install refused: %s", exc)
            return JSONResponse({"error": "forbidden", "detail": str(exc)}, status_code=403)
        return JSONResponse({"installed": True})

    return [
        Route("/hooks/bitrix24", event, methods=["POST"]),
        Route("/hooks/bitrix24/install", install, methods=["POST"]),
    ]


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
