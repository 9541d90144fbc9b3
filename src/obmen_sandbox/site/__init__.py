"""A 1C-Bitrix site's exchange server with a small storefront, for tests and demos.

Written from docs/protocols/commerceml.md (Bitrix's own `1c_exchange.php`), never from obmen's connector code.
`SiteSandbox(login, password).app` is an ASGI app serving `/bitrix/admin/1c_exchange.php` and the
JSON control API under `/_sandbox`; `serve()` runs it for `obmen sandbox site`.

REST (docs/protocols/site-rest.md): incoming webhooks at `/rest/<user>/<code>/<method>` serving
`sale.order.list|get|update|add`, `sale.basketitem.list|update|add`, `sale.propertyvalue.list`,
`sale.payment.list|get|update|add`, `sale.shipment.list|get|update|add` (`rest_add.py`); every save of
an order raises the sale module's events toward bound outgoing webhooks and the obmen.ping module
(`events.py`). `webhook_url(base, "1/code")` is the URL an integrator (or `endpoints.json`) gives obmen;
the REST control API is in `rest_control.py`.

Control API (JSON): `POST /orders` → `{"id", "number"}` (`items: [{offer, quantity, price?, discount?,
vat_rate?, vat_included?}]`: a VAT rate in percent, on top of the price when `vat_included` is false;
`discount`: a coupon for the whole order, spread over the lines, `coupon.py`;
one `payment: {system, paid}` for the whole order,
or several `payments: [{system, sum, paid}]`, at most one without `sum`: the rest), `GET /orders`,
`GET|PATCH /orders/{id}` (status, paid — every payment —, `payments: [{id, paid}]` — those named —,
cancelled, allow_delivery, shipped, comment), `GET /products?xml_id=` or
`?offset=&limit=`, `GET /offers/{xml_id}`, `POST /users` → `{"id"}`, `POST /reset`, `POST|GET|DELETE
/faults` (kinds: status, html, delay, drop_session, fail_import_step; filters type, mode; counts step,
times), `GET /log`.

Known limits: orders are answered in the 2.05 form only (no 2.10 document schema; an order with several
payments is followed by one payment document each, `export.py`); 1C's payment documents are not applied
to single payments (the order's `Оплачен` pays every one); the per-file
ELEMENT_ACTION of Bitrix is not modelled (use `deactivate`); absolute `filename`s from 1C on Linux
are refused rather than stripped; 1C documents other than `Заказ товара` are skipped and counted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from obmen_sandbox.bodies import ControlBodyLimit
from obmen_sandbox.site.control import control_routes
from obmen_sandbox.site.events import signature
from obmen_sandbox.site.exchange import exchange_endpoint
from obmen_sandbox.site.files import Limits
from obmen_sandbox.site.rest import REST_PATH, rest_endpoint
from obmen_sandbox.site.rest_control import rest_control_routes
from obmen_sandbox.site.rest_state import Webhook
from obmen_sandbox.site.rest_state import webhook_url as _webhook_url
from obmen_sandbox.site.state import Options, SiteState

__all__ = ["EXCHANGE_PATH", "Limits", "SiteSandbox", "serve", "signature", "webhook_url"]


def webhook_url(base_url: str, webhook: str) -> str:
    """The REST base URL of the webhook `"<user id>/<code>"` on the site at `base_url` (`…/rest/1/code/`)."""
    user, _, code = webhook.partition("/")
    return _webhook_url(base_url, Webhook(int(user), code))


class _FlushEvents:
    """After every request, send the events its saves raised (a 1C import saves from a worker thread)."""

    def __init__(self, app: ASGIApp, state: SiteState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        finally:
            if scope["type"] == "http":
                self.state.events.flush()


EXCHANGE_PATH = "/bitrix/admin/1c_exchange.php"


class SiteSandbox:
    """The site: its state, options and the ASGI app."""

    def __init__(
        self,
        login: str,
        password: str,
        *,
        zip: bool = True,
        file_limit: int = 200 * 1024,
        portion: int = 100,
        import_new_orders: bool = False,
        limits: Limits | None = None,
        work_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
        webhook: str | None = None,
        handler: str | None = None,
        handler_token: str = "",
        ping_url: str | None = None,
        ping_secret: str = "",
    ) -> None:
        if webhook is not None and not re.fullmatch(r"[1-9][0-9]*/[A-Za-z0-9]+", webhook):
            raise ValueError(f"webhook must be '<user id>/<code>' (letters and digits), not {webhook!r}")
        options = Options(
            login=login,
            password=password,
            zip=zip,
            file_limit=file_limit,
            portion=portion,
            import_new_orders=import_new_orders,
            limits=limits or Limits(),
            webhook=webhook,
            handler=handler,
            handler_token=handler_token,
            ping_url=ping_url,
            ping_secret=ping_secret,
        )
        self.state = SiteState(options, work_dir, clock)
        endpoint = exchange_endpoint(self.state)
        app = Starlette(
            middleware=[Middleware(ControlBodyLimit)],
            routes=[
                Route(EXCHANGE_PATH, endpoint, methods=["GET", "POST"]),
                Route(REST_PATH, rest_endpoint(self.state), methods=["GET", "POST"]),
                Mount("/_sandbox", routes=rest_control_routes(self.state) + control_routes(self.state)),
            ],
        )
        self.app = _FlushEvents(app, self.state)


def serve(host: str, port: int, login: str, password: str, **options: object) -> None:
    """Serve a fresh site sandbox until interrupted (the CLI's `obmen sandbox site`)."""
    sandbox = SiteSandbox(login, password, **options)  # type: ignore[arg-type]
    uvicorn.run(sandbox.app, host=host, port=port, log_level="info")
