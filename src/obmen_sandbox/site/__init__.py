"""A 1C-Bitrix site's exchange server with a small storefront, for tests and demos.

Written from docs/commerceml.md (Bitrix's own `1c_exchange.php`), never from obmen's connector code.
`SiteSandbox(login, password).app` is an ASGI app serving `/bitrix/admin/1c_exchange.php` and the
JSON control API under `/_sandbox`; `serve()` runs it for `obmen sandbox site`.

Control API (JSON): `POST /orders` → `{"id", "number"}`, `GET /orders`, `GET|PATCH /orders/{id}`
(status, paid, cancelled, allow_delivery, shipped, comment), `GET /products?xml_id=` or
`?offset=&limit=`, `GET /offers/{xml_id}`, `POST /reset`, `POST|GET|DELETE /faults` (kinds: status,
html, delay, drop_session, fail_import_step; filters type, mode; counts step, times), `GET /log`.

Known limits: orders are answered in the 2.05 form only (no 2.10 document schema); the per-file
ELEMENT_ACTION of Bitrix is not modelled (use `deactivate`); absolute `filename`s from 1C on Linux
are refused rather than stripped; 1C documents other than `Заказ товара` are skipped and counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from obmen_sandbox.site.control import control_routes
from obmen_sandbox.site.exchange import exchange_endpoint
from obmen_sandbox.site.files import Limits
from obmen_sandbox.site.state import Options, SiteState

__all__ = ["EXCHANGE_PATH", "Limits", "SiteSandbox", "serve"]

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
    ) -> None:
        options = Options(
            login=login,
            password=password,
            zip=zip,
            file_limit=file_limit,
            portion=portion,
            import_new_orders=import_new_orders,
            limits=limits or Limits(),
        )
        self.state = SiteState(options, work_dir, clock)
        endpoint = exchange_endpoint(self.state)
        self.app = Starlette(
            routes=[
                Route(EXCHANGE_PATH, endpoint, methods=["GET", "POST"]),
                Mount("/_sandbox", routes=control_routes(self.state)),
            ]
        )


def serve(host: str, port: int, login: str, password: str, **options: object) -> None:
    """Serve a fresh site sandbox until interrupted (the CLI's `obmen sandbox site`)."""
    sandbox = SiteSandbox(login, password, **options)  # type: ignore[arg-type]
    uvicorn.run(sandbox.app, host=host, port=port, log_level="info")
