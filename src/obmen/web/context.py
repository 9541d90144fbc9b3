"""What the dashboard's routes share: the store, the clock, what the runtime lends it, the request's
language and token."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request

from obmen.config.mapping import MappingSettings
from obmen.connectors.base import RequestCounters
from obmen.store.database import Database
from obmen.store.status import Status
from obmen.web.i18n import Words, language

__all__ = ["Dashboard", "SideReader", "Site"]

#: (entity, canonical id) → {system: {"fields", "modified_at", "error"}}: each linked system read now
#: (the runtime lends the engine's connectors through it, engine/peek.py).
SideReader = Callable[[str, str], Awaitable[Mapping[str, Mapping[str, Any]]]]


@dataclass(frozen=True)
class Dashboard:
    """What the runtime tells the dashboard beyond the store (all optional: tests build it bare)."""

    read_sides: SideReader | None = None
    #: The portal's address (`bitrix24.portal`), for links to deals and contacts.
    portal_url: str | None = None
    #: The site's exchange URL (`site.exchange_url`): its origin is the site, for links to its admin.
    site_exchange_url: str | None = None
    mapping: MappingSettings | None = None
    #: The portal client's counters (`/metrics`' source), once a client is attached.
    counters: Callable[[], RequestCounters | None] | None = None
    #: Read what each system has now and keep it (obmen.app.facts); the systems read. None: this process
    #: has no integrations to read (the mapping page then only shows what `obmen check` kept).
    refresh_facts: Callable[[], Awaitable[list[str]]] | None = None

    def portal_link(self, entity: str, external_id: str) -> str | None:
        """The object's page in the portal (deals and contacts)."""
        paths = {
            "order": "crm/deal/details",
            "counterparty": "crm/contact/details",
            "lead": "crm/lead/details",
        }
        if not self.portal_url or entity not in paths:
            return None
        return f"{self.portal_url.rstrip('/')}/{paths[entity]}/{external_id}/"

    def site_link(self, entity: str, external_id: str) -> str | None:
        """The order's page in the site's admin (`/bitrix/admin/sale_order_view.php`)."""
        if not self.site_exchange_url or entity != "order":
            return None
        parts = urlsplit(self.site_exchange_url)
        return f"{parts.scheme}://{parts.netloc}/bitrix/admin/sale_order_view.php?ID={external_id}&lang=ru"


@dataclass
class Site:
    """The dashboard as its routes see it."""

    db: Database
    tenant: str
    clock: Callable[[], float]
    status_now: Callable[[], Awaitable[Status]]
    token: str | None
    options: Dashboard = field(default_factory=Dashboard)

    def words(self, request: Request) -> Words:
        """The request's language."""
        return Words(language(request))

    @staticmethod
    def root(request: Request) -> str:
        """The app's mount path (behind a reverse proxy under a prefix)."""
        return str(request.scope.get("root_path", ""))
