"""Bitrix24 in a running obmen: the client and connector, the event and install routes, the install wait.

In webhook mode the connector is built at once. In application mode it is built from the stored tokens,
or, before the portal has installed the application, once the install callback has stored them
(docs/protocols/bitrix24.md §1.2, §6.1): whichever process took the install, the others find the tokens in
the state folder they share and attach the portal then.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from obmen.config.settings import Bitrix24Settings, Settings
from obmen.connectors.base import Change, Check, Integration, RequestCounters, SetupContext, Survey
from obmen.connectors.bitrix24.checks import portal_checks
from obmen.connectors.bitrix24.client.auth import OAuth, TokenFile, Tokens, Webhook
from obmen.connectors.bitrix24.client.rest import Bitrix24Client, Retry
from obmen.connectors.bitrix24.connector import Bitrix24Connector
from obmen.connectors.bitrix24.crm.orders import OrderMapping
from obmen.connectors.bitrix24.events.hooks import Bitrix24Hooks, routes
from obmen.connectors.bitrix24.events.notices import OfflineQueue
from obmen.connectors.bitrix24.install import AppInstaller
from obmen.connectors.bitrix24.portal import read_portal
from obmen.store.batching import GroupEnqueue
from obmen.store.keeper import Leases
from obmen.store.queue import NewItem

__all__ = ["CONNECTOR", "Bitrix24Integration", "portal_url", "setup"]

log = logging.getLogger(__name__)

SYSTEM = "bitrix24"
#: `auth_connector` of obmen's own calls: the portal leaves them out of obmen's offline queue (§6.5).
CONNECTOR = "obmen"


_CHECK_RETRY = Retry(attempts=2, base=0.2, cap=1.0)


def portal_url(portal: str) -> str:
    """`example.bitrix24.ru` or a full URL (a sandbox on http) → the portal's base URL."""
    return portal.rstrip("/") if "//" in portal else f"https://{portal.rstrip('/')}"


def _auth_url(s: Bitrix24Settings) -> str:
    return f"{s.auth_host.rstrip('/')}/oauth/token/"


class Bitrix24Integration(Integration):
    """The portal's integration; its connector arrives later in application mode (`attach`)."""

    def __init__(self, settings: Settings, ctx: SetupContext) -> None:
        super().__init__(SYSTEM)
        self.settings = settings
        self.ctx = ctx
        self.tokens = TokenFile(settings.state_dir / "bitrix24-tokens.json")
        # One wake per committed transaction, not per event: a burst wakes the worker once.
        self._group = GroupEnqueue(ctx.db, ctx.tenant, clock=ctx.clock, on_commit=ctx.wake)
        #: What the portal signs its events with (the application's, or the outgoing webhook's token).
        self.application_token = ""
        if settings.bitrix24.mode == "webhook" and settings.bitrix24.outgoing_token:
            self.application_token = settings.bitrix24.outgoing_token.get_secret_value()

    @property
    def bitrix24(self) -> Bitrix24Connector | None:
        """The connector, once attached."""
        return self.connector if isinstance(self.connector, Bitrix24Connector) else None

    async def attach(self, tokens: Tokens | None = None) -> None:
        """Build the client and the connector and hand the connector to the engine."""
        connector = await self._connector(tokens)
        if connector is None:
            log.info("Bitrix24: waiting for the portal to install the application")
            return
        client = connector.client
        self.closers.append(client.aclose)
        self.connector = connector
        self.counters = lambda: RequestCounters(
            client.requests, dict(client.methods), connector.echoes.dropped
        )
        self.ctx.attach(connector)

    async def _connector(
        self, tokens: Tokens | None = None, *, checking: bool = False
    ) -> Bitrix24Connector | None:
        """A client and connector on the configured credentials; None in app mode before the install."""
        s = self.settings.bitrix24
        auth: Webhook | OAuth
        if s.mode == "app":
            tokens = tokens or await self.tokens.load()
            if tokens is None:
                return None
            self.application_token = tokens.application_token
            auth = OAuth(
                tokens,
                client_id=s.client_id or "",
                client_secret=s.client_secret.get_secret_value() if s.client_secret else "",
                save=self.tokens.save,
                load=self.tokens.load,
                auth_url=_auth_url(s),
            )
        else:
            token = s.webhook_token.get_secret_value() if s.webhook_token else ""
            auth = Webhook(f"{portal_url(s.portal or '')}/rest/{s.webhook_user}/{token}/")
        client = Bitrix24Client(
            auth,
            limits=s.limits,
            rate=s.rate,
            burst=s.burst,
            auth_connector=CONNECTOR if s.mode == "app" else None,
            # `obmen check` wants a verdict soon, not six patient retries.
            retry=_CHECK_RETRY if checking else Retry(),
            timeout=10.0 if checking else 30.0,
        )
        return Bitrix24Connector(
            client,
            mapping=OrderMapping.from_settings(self.settings.mapping),
            variations=s.variations,
            offline=OfflineQueue(client, connector=CONNECTOR) if s.mode == "app" else None,
            poll_every=s.poll_every,
            fresh_for=s.fresh_for,
            catalog_properties=self.settings.mapping.catalog_properties,
            stores=self.settings.mapping.stores(),
        )

    async def check_portal(self) -> Survey:
        """`obmen check`: the portal against the configuration, on a client of its own (few retries)."""
        app = self.settings.bitrix24.mode == "app"
        if app and await self.tokens.load() is None:
            fix = (
                f"install the local application in the portal with the handler {self._handler() or '…'}"
                "/install / установите локальное приложение в портале"
            )
            detail = "the portal has not installed obmen's application yet (no stored tokens)"
            return Survey([Check(SYSTEM, "install / установка", False, detail, fix)])
        connector = await self._connector(checking=True)
        assert connector is not None
        try:
            return await portal_checks(connector, self.settings.mapping, app=app, handler=self._handler())
        finally:
            await connector.client.aclose()

    async def read_facts(self) -> dict[str, Any] | None:
        """What the portal has that the mapping names (`portal.read_portal`); None before the install."""
        connector = self.bitrix24
        if connector is None:
            return None
        return (await read_portal(connector.client, self.settings.mapping.managers)).facts

    def _handler(self) -> str | None:
        """Where the portal posts events: `<web.public_url>/hooks/bitrix24`."""
        public = (self.settings.web.public_url or "").rstrip("/")
        return f"{public}/hooks/bitrix24" if public else None

    async def await_install(self, stop: asyncio.Event, leases: Leases, every: float = 2.0) -> None:
        """Attach the portal once an install (in any process sharing the state folder) stored the tokens."""
        while self.connector is None and not stop.is_set():
            tokens = await self.tokens.load()
            if tokens is not None and self.connector is None:  # the install may have come here meanwhile
                await self.attach(tokens)
                log.info("Bitrix24: the application's tokens arrived; the CRM is attached")
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every)

    async def enqueue(self, changes: Sequence[Change]) -> int:
        """Keys of an event, enqueued without a portal call: echoes of obmen's own writes dropped.

        An invoice's key goes in as it is; a worker turns it into its order's key later, in bulk
        (engine/aliases.py), so the handler answers at once (docs/protocols/bitrix24.md §6.4).
        """
        connector = self.bitrix24
        if connector is not None:
            changes = connector.drop_echoes(changes)  # re-reading them learns nothing (events/echo.py)
        items = [
            NewItem(c.entity, system=SYSTEM, external_id=c.external_id, trigger="bitrix24:event")
            for c in changes
        ]
        if not items:
            return 0
        return await self._group.enqueue(items)  # one transaction for the concurrent events

    def hooks(self) -> Bitrix24Hooks:
        """The event and install endpoints of this portal."""
        s = self.settings.bitrix24
        install = None
        if s.mode == "app":
            installer = AppInstaller(
                portal=portal_url(s.portal or ""),
                client_id=s.client_id or "",
                client_secret=s.client_secret.get_secret_value() if s.client_secret else "",
                save=self.tokens.save,
                load=self.tokens.load,
                handler=self._handler(),
                connector=CONNECTOR,
                auth_url=_auth_url(s),
                member_id=s.member_id,
                allow_reinstall=s.allow_reinstall,
            )

            async def install(tokens: Tokens, operator: bool) -> None:
                await installer(tokens, operator=operator)
                await self.attach(await self.tokens.load())

        def wake() -> None:
            if self.bitrix24 is not None:
                self.bitrix24.wake()

        admin = self.settings.web.admin_token
        return Bitrix24Hooks(
            application_token=lambda: self.application_token,
            enqueue=self.enqueue,
            install=install,
            wake=wake,
            admin_token=admin.get_secret_value() if admin else None,
        )


async def setup(settings: Settings, ctx: SetupContext) -> Integration | None:
    """The portal's integration, or None (said in the log) when `[bitrix24]` names no portal."""
    if not settings.bitrix24.portal:
        log.info("Bitrix24: [bitrix24] portal not set, the CRM is off")
        return None
    integration = Bitrix24Integration(settings, ctx)
    await integration.attach()
    integration.routes = routes(integration.hooks())
    integration.checks = integration.check_portal
    integration.facts = integration.read_facts
    if settings.bitrix24.mode == "app" and integration.connector is None:
        integration.loops = [integration.await_install]
    return integration
