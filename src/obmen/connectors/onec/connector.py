"""The 1C connector: a mirrored, pull-only partner carrying what CommerceML can say (ARCHITECTURE §2.7).

Reads come from the 1C mirror that exchange uploads fill; writes go to the outbox that 1C collects with
`mode=query` (docs/commerceml.md §1.7). Only orders and their customers travel towards 1C, so only
those can be created there; the catalog is 1C's own (the default policy makes 1C its owner).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from obmen.connectors.base import Remote
from obmen.connectors.commerceml.carried import CARRIED
from obmen.connectors.mirrored import Mirrored, MirrorPort
from obmen.model.fields import decimal_text

__all__ = ["ONEC_CREATES", "ONEC_FIELDS", "SYSTEM", "OneCMirrored", "onec_connector"]

SYSTEM = "onec"

#: Canonical fields 1C's exchange carries; offers also show the price and stock derived below.
ONEC_FIELDS: Mapping[str, frozenset[str]] = {**CARRIED, "offer": CARRIED["offer"] | {"price", "quantity"}}
#: What obmen may create in 1C: orders placed elsewhere, and their customers (inside the orders).
ONEC_CREATES = frozenset({"order", "counterparty"})


class OneCMirrored(Mirrored):
    """1C's mirror, with each offer's price in the shown price type and its stock over all warehouses.

    1C sends every price type and warehouse (docs/commerceml.md §2.4); a system that shows one price and
    one quantity (Bitrix24) carries these two derived fields instead, so that it never has to hold, or
    wait for, price types and warehouses it does not have.
    """

    def __init__(self, port: MirrorPort, *, price_type: str) -> None:
        super().__init__(SYSTEM, port, fields=ONEC_FIELDS, creates=ONEC_CREATES)
        self.price_type = price_type

    async def fetch(self, entity: str, external_ids: Sequence[str]) -> Mapping[str, Remote]:
        """Objects as 1C holds them; offers also get `price` and `quantity`."""
        found = await super().fetch(entity, external_ids)
        if entity != "offer" or not found:
            return found
        kinds = {_ref(p.get("price_type")) for r in found.values() for p in r.fields.get("prices") or []}
        named = await self.port.snapshots("price_type", sorted(k for k in kinds if k))
        shown = {x for x, snap in named.items() if snap.fields.get("name") == self.price_type}
        return {x: _with_derived(remote, shown) for x, remote in found.items()}


def _ref(value: Any) -> str | None:
    return str(value["id"]) if isinstance(value, Mapping) and value.get("id") is not None else None


def _with_derived(remote: Remote, shown: set[str]) -> Remote:
    fields = dict(remote.fields)
    prices = fields.get("prices")
    if prices is not None:
        chosen = [p["value"] for p in prices if _ref(p.get("price_type")) in shown]
        fields["price"] = chosen[0] if chosen else None
    stock = fields.get("stock")
    if stock is not None:
        total = Decimal(0)
        for level in stock:
            try:
                total += Decimal(str(level.get("quantity") or 0))
            except InvalidOperation:
                continue
        fields["quantity"] = decimal_text(total)
    return Remote(remote.entity, remote.external_id, fields, remote.modified_at, remote.origin)


def onec_connector(port: MirrorPort, *, price_type: str = "Розничная") -> OneCMirrored:
    """The engine's connector for 1C over its mirror (a `MirrorStore(db, tenant, "onec")`)."""
    return OneCMirrored(port, price_type=price_type)
