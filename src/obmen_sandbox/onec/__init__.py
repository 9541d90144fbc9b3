"""A sandbox 1C:Enterprise: a small infobase that runs «Обмен с сайтом» as the client, exactly as 1C does.

`OnecSandbox(target, login, password, fixture)` holds an infobase (loaded from CommerceML files as 1C
wrote them, or a built-in demo) and exposes a control API under `/_sandbox` to edit it and to start
catalog and sale runs against `target` (docs/protocols/commerceml.md §1). It never imports obmen.

An order the site sent with several payment documents (`Основание` = its number, §1.11) keeps them:
`GET /_sandbox/orders` lists its `payments`, `PATCH /_sandbox/orders/{number}` with
`"payments": [{"number": 2, "paid": true}]` records the second (`"paid": true` still pays the order as a
whole), and 1C's documents carry one payment document each after the order. Over OData an order's
payments are incoming-payment documents (`odata/payments.py`); `POST /_sandbox/odata/payments` records
one as 1C's accountant does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from obmen_sandbox.bodies import ControlBodyLimit
from obmen_sandbox.onec.client import ExchangeError, ExchangeSession, ProtocolClient
from obmen_sandbox.onec.demo import demo_infobase
from obmen_sandbox.onec.edits import EditError, edit_order, edit_product
from obmen_sandbox.onec.exchange import run_catalog, run_sale
from obmen_sandbox.onec.infobase import Infobase, order_json, product_json, products_json
from obmen_sandbox.onec.loader import load_directory
from obmen_sandbox.onec.odata import payments
from obmen_sandbox.onec.odata.extension import Extension, registered
from obmen_sandbox.onec.odata.service import ODataService

__all__ = ["ExchangeError", "Infobase", "OnecSandbox", "serve"]

_Work = Callable[[ProtocolClient, ExchangeSession], Awaitable[dict[str, Any]]]


class OnecSandbox:
    """The sandbox 1C; `.app` is its control API, `run_catalog`/`run_sale` its exchange runs."""

    def __init__(
        self,
        target: str,
        login: str,
        password: str,
        fixture: Path | None = None,
        *,
        http: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_import_steps: int = 1000,
        sale_version: str | None = None,
        timeout: float = 60.0,
        publication: str = "trade",
        odata_login: str | None = None,
        odata_password: str | None = None,
        ping_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.target, self.login, self.password = target, login, password
        self.fixture = fixture
        self._http, self._transport, self._timeout = http, transport, timeout
        self.max_import_steps = max_import_steps
        self.sale_version = sale_version
        self.infobase = self._fresh()
        self.last_run: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        #: The 1C user obmen reads OData with (the exchange's own login and password unless told).
        self.odata_login = odata_login or login
        self.odata_password = odata_password or password
        self.extension = Extension()
        self._ping_transport = ping_transport
        self.odata = ODataService(
            lambda: self.infobase,
            publication=publication,
            login=self.odata_login,
            password=self.odata_password,
            extension=self.extension,
            changed=self._changed,
        )
        self.app = self._build_app()

    def _changed(self, before: int) -> None:
        """What was stamped after `before` is pinged, as the extension's event subscription would."""
        self.extension.ping([item for _, item in registered(self.infobase, before)], self._ping_transport)

    def odata_endpoints(self, base_url: str) -> dict[str, str]:
        """`endpoints.json`'s `onec` entries for a sandbox served at `base_url` (the OData root, its user)."""
        return {
            "odata": f"{base_url.rstrip('/')}{self.odata.path}",
            "odata_login": self.odata_login,
            "odata_password": self.odata_password,
        }

    def _fresh(self) -> Infobase:
        return load_directory(self.fixture) if self.fixture is not None else demo_infobase()

    def reset(self) -> None:
        """Reload the infobase from the fixture (or the demo) and forget every previous run."""
        self.infobase = self._fresh()
        self.last_run = None

    async def _run(self, kind: str, work: _Work) -> dict[str, Any]:
        async with self._lock:
            session = ExchangeSession(kind)
            try:
                if self._http is not None:
                    summary = await work(self._client(self._http), session)
                else:
                    async with httpx.AsyncClient(transport=self._transport, timeout=self._timeout) as http:
                        summary = await work(self._client(http), session)
                result = {"ok": True, **summary}
            except ExchangeError as exc:
                result = {"ok": False, "kind": kind, "error": {"mode": exc.mode, "reason": exc.reason}}
            result["transcript"] = [step.as_json() for step in session.transcript]
            self.last_run = result
            return result

    def _client(self, http: httpx.AsyncClient) -> ProtocolClient:
        return ProtocolClient(
            self.target, self.login, self.password, http, max_import_steps=self.max_import_steps
        )

    async def run_catalog(self, changes_only: bool = False) -> dict[str, Any]:
        """One catalog run (full, or only what changed since the last successful run)."""
        base = self.infobase
        return await self._run(
            "catalog",
            lambda client, session: run_catalog(client, session, base, changes_only, datetime.now()),
        )

    async def run_sale(self) -> dict[str, Any]:
        """One sale run: query orders, acknowledge, upload documents of orders changed in 1C."""
        base = self.infobase
        version = self.sale_version or base.version
        return await self._run(
            "sale", lambda client, session: run_sale(client, session, base, version, datetime.now())
        )

    def _build_app(self) -> Starlette:
        return Starlette(
            middleware=[Middleware(ControlBodyLimit)],
            routes=[
                Route("/_sandbox/exchange/catalog", self._catalog, methods=["POST"]),
                Route("/_sandbox/exchange/sale", self._sale, methods=["POST"]),
                Route("/_sandbox/products", self._products, methods=["GET"]),
                Route("/_sandbox/products/{key}", self._patch_product, methods=["PATCH"]),
                Route("/_sandbox/orders", self._orders, methods=["GET"]),
                Route("/_sandbox/orders/{key}", self._patch_order, methods=["PATCH"]),
                Route("/_sandbox/reset", self._reset, methods=["POST"]),
                Route("/_sandbox/state", self._state, methods=["GET"]),
                Route("/_sandbox/odata", self._odata_state, methods=["GET"]),
                Route("/_sandbox/odata", self._odata_settings, methods=["PUT"]),
                Route("/_sandbox/odata/pings", self._pings, methods=["GET"]),
                *payments.routes(lambda: self.infobase, self._changed),
                *self.odata.routes(),
            ],
        )

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            body = await request.json()
        except ValueError as exc:
            raise EditError(f"the body is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise EditError("the body must be a JSON object")
        return body

    async def _catalog(self, request: Request) -> JSONResponse:
        try:
            body = await self._body(request)
        except EditError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        changes_only = body.get("changes_only", False)
        if not isinstance(changes_only, bool):
            return JSONResponse({"error": "changes_only: true or false is expected"}, 400)
        result = await self.run_catalog(changes_only)
        return JSONResponse(result, 200 if result["ok"] else 502)

    async def _sale(self, request: Request) -> JSONResponse:
        result = await self.run_sale()
        return JSONResponse(result, 200 if result["ok"] else 502)

    async def _products(self, request: Request) -> JSONResponse:
        return JSONResponse(products_json(self.infobase))

    async def _patch_product(self, request: Request) -> JSONResponse:
        key = request.path_params["key"]
        before = self.infobase.revision
        try:
            edit_product(self.infobase, key, await self._body(request))
        except EditError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        self._changed(before)
        product = self.infobase.products.get(key.split("#", 1)[0])
        return JSONResponse(product_json(self.infobase, product) if product else {"id": key})

    async def _orders(self, request: Request) -> JSONResponse:
        return JSONResponse([order_json(order) for order in self.infobase.orders.values()])

    async def _patch_order(self, request: Request) -> JSONResponse:
        before = self.infobase.revision
        try:
            order = edit_order(
                self.infobase, request.path_params["key"], await self._body(request), datetime.now()
            )
        except EditError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        self._changed(before)
        return JSONResponse(order_json(order))

    async def _odata_state(self, request: Request) -> JSONResponse:
        """Where the OData interface is, its user, and the extension's state."""
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                **self.odata_endpoints(base),
                "requests": self.odata.requests,
                "extension": self.extension.state(),
            }
        )

    async def _odata_settings(self, request: Request) -> JSONResponse:
        """{"installed", "ping_url", "token", "drop_pings": n, "faults": [status…]}: extension, faults."""
        try:
            body = await self._body(request)
            _odata_settings(self, body)
        except EditError as exc:
            return JSONResponse({"error": str(exc)}, exc.status)
        return await self._odata_state(request)

    async def _pings(self, request: Request) -> JSONResponse:
        await self.extension.drain()
        return JSONResponse(self.extension.pings)

    async def _reset(self, request: Request) -> JSONResponse:
        self.reset()
        return JSONResponse({"ok": True, "counts": self.infobase.counts()})

    async def _state(self, request: Request) -> JSONResponse:
        base = self.infobase
        return JSONResponse({"counts": base.counts(), "version": base.version, "last_run": self.last_run})


def _odata_settings(sandbox: OnecSandbox, body: dict[str, Any]) -> None:
    unknown = set(body) - {"installed", "ping_url", "token", "drop_pings", "faults"}
    if unknown:
        raise EditError(f"unknown fields: {sorted(unknown)}")
    ext = sandbox.extension
    if "installed" in body:
        if not isinstance(body["installed"], bool):
            raise EditError("installed: true or false is expected")
        ext.installed = body["installed"]
    if "ping_url" in body:
        if body["ping_url"] is not None and not str(body["ping_url"]).startswith(("http://", "https://")):
            raise EditError("ping_url: an http(s) URL or null is expected")
        ext.ping_url = body["ping_url"]
    if "token" in body:
        if not isinstance(body["token"], str):
            raise EditError("token: a string is expected")
        ext.token = body["token"]
    if "drop_pings" in body:
        if (
            isinstance(body["drop_pings"], bool)
            or not isinstance(body["drop_pings"], int)
            or body["drop_pings"] < 0
        ):
            raise EditError("drop_pings: a count ≥ 0 is expected")
        ext.drop_pings = body["drop_pings"]
    if "faults" in body:
        faults = body["faults"]
        if not isinstance(faults, list) or not all(isinstance(f, int) and 400 <= f <= 599 for f in faults):
            raise EditError("faults: a list of HTTP statuses 400–599 is expected")
        sandbox.odata.faults = list(faults)


def serve(host: str, port: int, target: str, login: str, password: str, fixture: Path | None = None) -> None:
    """Run the sandbox's control API until interrupted (`obmen sandbox onec`)."""
    import uvicorn

    uvicorn.run(OnecSandbox(target, login, password, fixture).app, host=host, port=port, log_level="info")
