"""1C in obmen, by `onec.mode` (docs/protocols/onec.md).

- `exchange`: the mirrored connector and the endpoint 1C calls on its schedule
  (docs/protocols/commerceml.md §1);
- `odata`: the OData connector, its change feed (polled by the scheduler every
  `onec.odata_poll_interval` seconds at most) and, with `onec.hook_token`, the route 1C's pings reach.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from obmen.config.settings import Settings
from obmen.connectors.base import Integration, SetupContext, Survey
from obmen.connectors.commerceml.names import Vocabulary
from obmen.connectors.mirrored.documents import DEFAULT_STATUSES
from obmen.connectors.onec.backend import onec_endpoint
from obmen.connectors.onec.checks import onec_checks, uploaded
from obmen.connectors.onec.connector import SYSTEM, onec_connector
from obmen.connectors.onec.odata.checks import odata_checks
from obmen.connectors.onec.odata.client import ODataClient
from obmen.connectors.onec.odata.connector import ODataConnector
from obmen.connectors.onec.odata.facts import published
from obmen.connectors.onec.odata.feed import known
from obmen.connectors.onec.odata.hooks import routes as ping_routes
from obmen.connectors.onec.uploads import Limits
from obmen.errors import ObmenError
from obmen.store import queue
from obmen.store.mirror import MirrorStore
from obmen.store.queue import NewItem

__all__ = ["setup"]

log = logging.getLogger(__name__)


async def setup(settings: Settings, ctx: SetupContext) -> Integration | None:
    """The 1C integration of the configured mode, or None (said in the log) when it is not configured."""
    if settings.onec.mode == "odata":
        return odata_integration(settings, ctx)
    s = settings.onec
    if not (s.login and s.password):
        log.info("1C: [onec] login/password not set, the exchange endpoint is off")
        return None
    mirror = MirrorStore(ctx.db, ctx.tenant, SYSTEM, clock=ctx.clock)
    m = settings.mapping
    properties = m.properties()
    connector = onec_connector(
        mirror,
        price_type=m.price_type,
        warehouses=m.warehouses,
        properties=sorted(properties),
        managers=bool(m.managers),
    )
    vocabulary = Vocabulary(
        statuses=dict(m.onec_statuses),
        payments=dict(m.payment_systems),
        # 1C's name of each property: its own, else the site's, else the code.
        properties={(p.onec or p.site or code): code for code, p in properties.items()},
        managers=tuple(m.managers.values()),
    )
    endpoint = onec_endpoint(
        ctx.db,
        login=s.login,
        password=s.password.get_secret_value(),
        workdir=settings.state_dir / "exchange",
        tenant=ctx.tenant,
        # What `mode=info` offers 1C to map to: the statuses in 1C's names, and 1C's payment kinds.
        statuses={code: vocabulary.status_name(code) for code in dict.fromkeys(m.onec_statuses.values())}
        or DEFAULT_STATUSES,
        payment_systems={kind: kind for kind in m.payment_systems.values()},
        vocabulary=vocabulary,
        clock=ctx.clock,
        on_enqueued=ctx.wake,
        limits=Limits(spool_bytes=s.spool_quota),
        trusted_proxies=settings.web.trusted_proxies,
    )
    public = (settings.web.public_url or f"http://{settings.web.host}:{settings.web.port}").rstrip("/")

    async def checks() -> Survey:
        return await onec_checks(
            ctx.db,
            mirror,
            tenant=ctx.tenant,
            endpoint=f"{public}/exchange/1c",
            login=s.login or "",
            price_type=settings.mapping.price_type,
            warehouses=settings.mapping.warehouses,
            clock=ctx.clock,
        )

    async def close() -> None:
        endpoint.close()

    async def facts() -> dict[str, Any]:
        return await uploaded(mirror)

    return Integration(
        SYSTEM, connector, routes=endpoint.routes(), closers=[close], checks=checks, facts=facts
    )


def odata_integration(settings: Settings, ctx: SetupContext, **client: Any) -> Integration:
    """1C over OData (`client` is passed to `ODataClient`: a test's transport)."""
    s = settings.onec
    password = s.odata_password.get_secret_value() if s.odata_password else ""
    odata = ODataClient(s.odata_url or "", s.odata_login or "", password, **client)
    connector = ODataConnector(
        odata,
        price_type=settings.mapping.price_type,
        statuses=settings.mapping.onec_odata_statuses,
        poll_every=s.odata_poll_interval,
        extension=s.odata_extension,
        warehouses=settings.mapping.warehouses,
        payment_kinds=settings.mapping.payment_systems,
    )

    async def enqueue(items: Sequence[Mapping[str, Any]]) -> int:
        # No OData call on the request path (docs/protocols/onec.md §A2): the keys a ping gives outright
        # are queued; a product or characteristic needs a read, which the woken feed makes, since the
        # exchange plan (or, polled, `DataVersion`) holds the same change.
        changes = known(items)
        new = [
            NewItem(c.entity, system=SYSTEM, external_id=c.external_id, trigger="onec:ping") for c in changes
        ]
        connector.wake()
        if not new:
            return 0
        async with ctx.db.begin() as conn:
            queued = await queue.enqueue(ctx.db, conn, ctx.tenant, new, now=ctx.clock())
        ctx.wake()
        return queued

    routes = ping_routes(s.hook_token.get_secret_value(), enqueue) if s.hook_token else []
    if not routes:
        log.info("1C: [onec] hook_token not set, /hooks/onec is off (changes are polled)")
    if s.login:
        log.info('1C: onec.mode = "odata": the exchange endpoint /exchange/1c is off')

    async def checks() -> Survey:
        found = await odata_checks(odata, extension=s.odata_extension)
        try:
            # Kept only when the publication answered; a refused read keeps what an earlier pass read.
            return Survey(found, await published(odata) if found[0].ok else None)
        except ObmenError:
            return Survey(found)

    async def facts() -> dict[str, Any]:
        return await published(odata)

    return Integration(SYSTEM, connector, routes=routes, closers=[odata.aclose], checks=checks, facts=facts)
