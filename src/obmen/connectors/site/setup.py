"""The site in a running obmen, in the mode `[site] mode` names.

- `exchange`: the mirrored connector and the exchange driver that plays 1C toward the site
  (docs/protocols/commerceml.md §1.7);
- `rest`: the REST connector over the site's incoming webhook, the `/hooks/site` route its events and the
  obmen.ping module post to, and the modification-date poll (docs/protocols/site-rest.md §6); the catalog
  still goes up through the exchange when `exchange_url` and `login` are set (push only: orders are not
  pulled twice).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from obmen.config.settings import Settings, SiteSettings
from obmen.connectors.base import Change, Check, Integration, SetupContext, Survey
from obmen.connectors.commerceml.names import Vocabulary
from obmen.connectors.mirrored.facts import seen
from obmen.connectors.site.client import SiteExchange
from obmen.connectors.site.connector import SYSTEM, site_connector
from obmen.connectors.site.driver import SiteDriver, site_driver
from obmen.connectors.site.rest.checks import rest_checks
from obmen.connectors.site.rest.client import SiteRest
from obmen.connectors.site.rest.connector import SiteRestConnector
from obmen.connectors.site.rest.creates import CrmOrders
from obmen.connectors.site.rest.events import SiteHooks, routes
from obmen.errors import AuthError, ObmenError
from obmen.store import queue, state
from obmen.store.keeper import Leases
from obmen.store.mirror import MirrorStore
from obmen.store.queue import NewItem
from obmen.store.state import JournalEntry

__all__ = ["setup", "site_checks", "webhook_url"]

log = logging.getLogger(__name__)

#: Seconds an event's order waits at most behind its new buyer's key: it goes as soon as the buyer is
#: linked (`queue.release_waiters`), so this bounds only a buyer whose reconcile failed or lingers.
BUYER_FIRST = 2.0


def _secret(value: object) -> str:
    getter = getattr(value, "get_secret_value", None)
    return str(getter()) if getter is not None else ""


def webhook_url(s: SiteSettings) -> str:
    """The webhook's full base URL: `rest_url` with the secret `rest_token` appended."""
    return f"{(s.rest_url or '').rstrip('/')}/{_secret(s.rest_token)}/"


def _driver(settings: Settings, ctx: SetupContext, *, pull: bool) -> SiteDriver:
    s = settings.site
    return site_driver(
        ctx.db,
        url=s.exchange_url or "",
        login=s.login or "",
        password=_secret(s.password),
        tenant=ctx.tenant,
        clock=ctx.clock,
        on_enqueued=ctx.wake,
        pull=pull,
        vocabulary=_vocabulary(settings),
    )


def _vocabulary(settings: Settings) -> Vocabulary:
    """The site's names of the order properties: its CommerceML export names each by its name."""
    properties = settings.mapping.properties()
    return Vocabulary(properties={(p.site or code): code for code, p in properties.items()})


def _exchange_loop(driver: SiteDriver, interval: float) -> Integration:
    def applied(entry: JournalEntry) -> None:
        # A write to the site's outbox goes up at once, not at the next poll.
        if entry.target_system == SYSTEM:
            driver.wake()

    async def exchange(stop: asyncio.Event, leases: Leases) -> None:
        await driver.run(stop, interval=interval, leases=leases)

    return Integration(SYSTEM, loops=[exchange], closers=[driver.client.aclose], applied=applied)


async def setup(settings: Settings, ctx: SetupContext) -> Integration | None:
    """The site integration, or None (said in the log) when `[site]` does not say how to reach the site."""
    s = settings.site
    exchange = bool(s.exchange_url and s.login)
    if s.mode == "rest":
        return _rest(settings, ctx, exchange)
    if not exchange:
        log.info("site: [site] exchange_url/login not set, the site exchange is off")
        return None
    integration = _exchange_loop(_driver(settings, ctx, pull=True), s.poll_interval)
    mirror = MirrorStore(ctx.db, ctx.tenant, SYSTEM, clock=ctx.clock)
    integration.connector = site_connector(mirror, sorted(settings.mapping.properties()))
    integration.facts = facts = _facts(ctx)

    async def checks() -> Survey:
        return Survey(await _exchange_checks(s), await facts())

    integration.checks = checks
    return integration


def _facts(ctx: SetupContext) -> Callable[[], Awaitable[dict[str, Any]]]:
    """The site's facts: the statuses its mirrored orders have had (it lists none to obmen)."""
    mirror = MirrorStore(ctx.db, ctx.tenant, SYSTEM, clock=ctx.clock)

    async def facts() -> dict[str, Any]:
        return {"statuses": sorted(await seen(mirror, "order", "status"))}

    return facts


def _rest(settings: Settings, ctx: SetupContext, exchange: bool) -> Integration | None:
    s = settings.site
    if not (s.rest_url and s.rest_token):
        log.info("site: mode = rest but [site] rest_url/rest_token not set, the site is off")
        return None
    client = SiteRest(webhook_url(s))
    catalog = site_connector(MirrorStore(ctx.db, ctx.tenant, SYSTEM, clock=ctx.clock)) if exchange else None
    crm = (
        CrmOrders(s.crm_buyer_id, s.crm_pay_system_id, s.crm_delivery_id)
        if s.crm_buyer_id and s.crm_pay_system_id and s.crm_delivery_id
        else None
    )
    connector = SiteRestConnector(client, catalog=catalog, poll_every=s.poll_interval, crm=crm)
    if exchange:
        integration = _exchange_loop(_driver(settings, ctx, pull=False), s.poll_interval)
    else:
        log.info("site: no [site] exchange_url/login, so no catalog goes to the site (orders through REST)")
        integration = Integration(SYSTEM)
    integration.connector = connector
    integration.closers.append(client.aclose)

    async def enqueue(changes: Sequence[Change]) -> int:
        # The stand-in buyer of orders made elsewhere is nobody's counterparty (§6.5).
        stand_in = str(crm.buyer) if crm else None
        changes = [c for c in changes if not (c.entity == "counterparty" and c.external_id == stand_in)]
        buyers = [c.external_id for c in changes if c.entity == "counterparty"]
        async with ctx.db.begin() as conn:
            linked = await state.resolve_external(conn, ctx.tenant, "counterparty", SYSTEM, buyers)
            # A new buyer is reconciled first; the order waits for it, not for a round (§4).
            new = sorted(set(buyers) - set(linked))
            waits = ", ".join(f"counterparty {b} in {SYSTEM}" for b in new) or None
            items = [
                NewItem(
                    c.entity,
                    system=SYSTEM,
                    external_id=c.external_id,
                    trigger="site:event",
                    delay=BUYER_FIRST if waits and c.entity == "order" else 0.0,
                    waits_for=waits if c.entity == "order" else None,
                )
                for c in changes
            ]
            queued = await queue.enqueue(ctx.db, conn, ctx.tenant, items, now=ctx.clock())
        ctx.wake()
        return queued

    hooks = SiteHooks(
        outgoing_token=_secret(s.rest_outgoing_token),
        ping_secret=_secret(s.ping_secret),
        client=client,
        enqueue=enqueue,
    )
    integration.routes = routes(hooks)
    if not (s.rest_outgoing_token or s.ping_secret):
        log.warning(
            "site: neither rest_outgoing_token nor ping_secret is set: no event is accepted, only polls"
        )
    events = " and ".join(
        name
        for name, on in (("the outgoing webhook", s.rest_outgoing_token), ("obmen.ping", s.ping_secret))
        if on
    )

    integration.facts = facts = _facts(ctx)

    async def checks() -> Survey:
        found = await rest_checks(client, events=events or f"the poll alone (every {s.poll_interval:g} s)")
        if exchange:
            found += await _exchange_checks(s)
        return Survey(found, await facts())

    integration.checks = checks
    return integration


async def _exchange_checks(s: SiteSettings) -> list[Check]:
    client = SiteExchange(s.exchange_url or "", s.login or "", _secret(s.password), timeout=10.0)
    try:
        return await site_checks(client, s.exchange_url or "")
    finally:
        await client.aclose()


async def site_checks(client: SiteExchange, url: str) -> list[Check]:
    """`obmen check`: `checkauth` and `init` of a sale run, as 1C starts one; nothing is uploaded.

    See docs/protocols/commerceml.md §1.2 and §1.3.
    """
    try:
        session = await client.open("sale")
    except AuthError as exc:
        fix = (
            "check site.login and site.password (OBMEN_SITE__PASSWORD): the site's user must be allowed the "
            "1C exchange / проверьте логин и пароль обмена с сайтом"
        )
        return [Check(SYSTEM, "login / вход", False, str(exc), fix)]
    except ObmenError as exc:
        fix = (
            f"check site.exchange_url ({url}) and that the site answers it "
            "/ проверьте адрес обмена сайта и его доступность"
        )
        return [Check(SYSTEM, "exchange / обмен", False, f"{type(exc).__name__}: {exc}", fix)]
    return [
        Check(SYSTEM, "login / вход", True, f"checkauth and init accepted at {url}"),
        Check(
            SYSTEM,
            "exchange / обмен",
            True,
            f"version {session.version or 'not told'}, file_limit {session.file_limit} bytes, "
            f"zip {'yes' if session.zip else 'no'}",
        ),
    ]
