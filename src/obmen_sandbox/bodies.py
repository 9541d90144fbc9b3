"""Request bodies of the sandboxes' control APIs (`/_sandbox/…`), capped while they stream in.

A control call carries a JSON document (a seed, a fault switch, an edit). The middleware reads it before
the route does, counting, and answers 413 at the chunk that passes the cap, so a huge or endless body
costs at most the cap in memory; the route then reads the same bytes as usual.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTROL_LIMIT", "ControlBodyLimit"]

#: Largest control body: a seed of a large catalog fits many times over.
CONTROL_LIMIT = 64 * 1024 * 1024


class ControlBodyLimit:
    """ASGI middleware capping the bodies of requests whose path starts with `prefix`."""

    def __init__(self, app: ASGIApp, limit: int = CONTROL_LIMIT, prefix: str = "/_sandbox") -> None:
        self.app = app
        self.limit = limit
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return whole
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        body: dict[str, Any] = {"error": f"control body larger than {self.limit} bytes"}
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
