"""The configuration extension ObmenPing in the sandbox: obmen's exchange-plan node, its HTTP service, pings.

A real 1C registers every change of the objects in the plan's content for obmen's node (auto-registration)
and forgets a registration only when obmen acknowledges the message that carried it; an event subscription
meanwhile posts a best-effort ping naming what changed (docs of the extension:
`integrations/1c-extension/ObmenPing`). The sandbox does the same over its change counter: every object
stamped after the last acknowledged message is registered, a message is numbered by the counter at the
time it is read, and `ack` forgets what that number covers.

    GET  /<publication>/hs/obmen/changes?limit=N → {"message": N, "more": bool, "changes": [item…]}
    POST /<publication>/hs/obmen/ack   {"message": N}
    ping POST <ping_url>  {"node": "obmen", "changes": [item…]}  Authorization: Bearer <token>

An item is `{"type": "Catalog_Номенклатура", "ref": guid}` for an object, or
`{"type": "InformationRegister_ЦеныНоменклатуры25", "Номенклатура_Key": guid, "Характеристика_Key": guid}`
for a register's records (prices, and `AccumulationRegister_ТоварыНаСкладах` for stock).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from obmen_sandbox.onec.infobase import Infobase
from obmen_sandbox.onec.odata.rows import as_guid, offer_key

__all__ = ["Extension", "registered"]

log = logging.getLogger(__name__)

PRICES = "InformationRegister_ЦеныНоменклатуры25"
STOCK = "AccumulationRegister_ТоварыНаСкладах"


def registered(base: Infobase, after: int) -> list[tuple[int, dict[str, Any]]]:
    """(revision, item) of every change stamped after `after`, oldest first."""
    found: list[tuple[int, dict[str, Any]]] = []
    for group in base.groups.values():
        found.append((group.rev, {"type": "Catalog_Номенклатура", "ref": as_guid(group.id)}))
    for product in base.products.values():
        found.append((product.rev, {"type": "Catalog_Номенклатура", "ref": as_guid(product.id)}))
    for offer in base.offers.values():
        owner, char = offer_key(offer.id)
        keys = {"Номенклатура_Key": owner, "Характеристика_Key": char}
        found.append((offer.prices_rev, {"type": PRICES, **keys}))
        found.append((offer.stock_rev, {"type": STOCK, **keys}))
        if "#" in offer.id and offer.rev not in (offer.prices_rev, offer.stock_rev):
            found.append((offer.rev, {"type": "Catalog_ХарактеристикиНоменклатуры", "ref": char}))
    for order in base.orders.values():
        found.append((order.rev, {"type": "Document_ЗаказКлиента", "ref": as_guid(order.onec_id)}))
    for party in base.counterparties.values():
        found.append((party.rev, {"type": "Catalog_Контрагенты", "ref": as_guid(party.id)}))
    for partner in base.partners.values():
        found.append((partner.rev, {"type": "Catalog_Партнеры", "ref": partner.id}))
    for doc in base.payment_documents.values():
        kind = (
            "Document_ПриходныйКассовыйОрдер"
            if doc.cash
            else "Document_ПоступлениеБезналичныхДенежныхСредств"
        )
        found.append((doc.rev, {"type": kind, "ref": doc.ref}))
    return sorted(((rev, item) for rev, item in found if rev > after), key=lambda pair: pair[0])


@dataclass
class Extension:
    """The node's state, the ping's target and the faults the control API sets."""

    installed: bool = True
    acknowledged: int = 0
    ping_url: str | None = None
    token: str = ""
    #: Pings to lose on purpose (the next N), as a network or a stopped hub would.
    drop_pings: int = 0
    pings: list[dict[str, Any]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def changes(self, base: Infobase, limit: int) -> dict[str, Any]:
        """One message of registered changes (at most `limit`), numbered so that `ack` can forget it."""
        items = registered(base, self.acknowledged)
        more = len(items) > limit
        items = items[:limit]
        message = items[-1][0] if more else base.revision
        return {"message": message, "more": more, "changes": [item for _, item in items]}

    def ack(self, base: Infobase, message: int) -> None:
        """Forget the registrations a message carried (never beyond what exists)."""
        self.acknowledged = max(self.acknowledged, min(message, base.revision))

    def ping(self, items: list[dict[str, Any]], transport: httpx.AsyncBaseTransport | None = None) -> None:
        """Post a ping in the background (the subscription must not hold up the user's write)."""
        if not (self.installed and self.ping_url and items):
            return
        if self.drop_pings > 0:
            self.drop_pings -= 1
            self.pings.append({"changes": items, "sent": False, "reason": "dropped (fault injected)"})
            return
        task = asyncio.ensure_future(self._send(self.ping_url, items, transport))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(
        self, url: str, items: list[dict[str, Any]], transport: httpx.AsyncBaseTransport | None
    ) -> None:
        entry: dict[str, Any] = {"changes": items, "sent": False}
        self.pings.append(entry)
        del self.pings[:-200]
        try:
            async with httpx.AsyncClient(transport=transport, timeout=5.0) as http:
                reply = await http.post(
                    url,
                    json={"node": "obmen", "changes": items},
                    headers={"Authorization": f"Bearer {self.token}"},
                )
            entry.update(sent=True, status=reply.status_code)
        except httpx.HTTPError as exc:
            # Best effort, as in 1C: the registration stays and obmen's next poll finds the change.
            entry["reason"] = f"{type(exc).__name__}: {exc}"
            log.info("sandbox 1C: ping to %s failed: %s", url, exc)

    async def drain(self) -> None:
        """Wait for the pings in flight (tests)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def state(self) -> dict[str, Any]:
        """What the control API shows."""
        return {
            "installed": self.installed,
            "acknowledged": self.acknowledged,
            "ping_url": self.ping_url,
            "drop_pings": self.drop_pings,
            "pings": len(self.pings),
        }
